//! Trains on cars196 with the seed systems' published hyperparameters (see
//! `dml::train::presets`); every flag of `--help` overrides them.
//!
//! `cargo run --release --example cars196 -- --data-dir /path/to/cars196`

fn main() {
    dml::train::run::main_for(dml::train::DatasetKind::Cars196);
}
