//! Every loss parity suite and the backend agreement test in one test binary, for
//! tools/device_check.sh: a binary carried to a GPU machine has to be small, and one binary
//! links the backends once instead of once per suite. Built only with the `tch` and `wgpu`
//! features (Cargo.toml's `required-features`); the suites are the same files as the
//! `parity_*` tests, run on the device that `DML_TEST_DEVICE` names.

#![allow(dead_code)] // each suite brings its own copy of tests/common

#[path = "backend_agreement.rs"]
mod backend_agreement;
#[path = "parity_classifier.rs"]
mod parity_classifier;
#[path = "parity_extra.rs"]
mod parity_extra;
#[path = "parity_extra2.rs"]
mod parity_extra2;
#[path = "parity_miners.rs"]
mod parity_miners;
#[path = "parity_online.rs"]
mod parity_online;
#[path = "parity_pair_triplet.rs"]
mod parity_pair_triplet;
#[path = "parity_pairmat.rs"]
mod parity_pairmat;
#[path = "parity_proxy.rs"]
mod parity_proxy;
#[path = "parity_reducers.rs"]
mod parity_reducers;
#[path = "parity_seed.rs"]
mod parity_seed;
