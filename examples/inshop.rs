//! Trains on inshop with the seed systems' published hyperparameters (see
//! `dml::train::presets`); every flag of `--help` overrides them.
//!
//! `cargo run --release --example inshop -- --data-dir /path/to/inshop`

fn main() {
    dml::train::run::main_for(dml::train::DatasetKind::Inshop);
}
