//! Trains on sop with the seed systems' published hyperparameters (see
//! `dml::train::presets`); every flag of `--help` overrides them.
//!
//! `cargo run --release --example sop -- --data-dir /path/to/sop`

fn main() {
    dml::train::run::main_for(dml::train::DatasetKind::Sop);
}
