//! Trains on cub200 with the seed systems' published hyperparameters (see
//! `dml::train::presets`); every flag of `--help` overrides them.
//!
//! `cargo run --release --example cub200 -- --data-dir /path/to/cub200`

fn main() {
    dml::train::run::main_for(dml::train::DatasetKind::Cub200);
}
