//! Every loss parity suite (tests/parity_*.rs but the CPU-only parity_eval, and
//! tests/fused_kernels.rs, whose large fixtures run the composed path off the CPU), the backend
//! agreement test, the backbone parity test
//! (crates/dml-backbones/tests/parity_pytorch.rs, as `backbone_parity`) and the data-parallel
//! training test (crates/dml-train/tests/data_parallel.rs, as `data_parallel`) in one test
//! binary, for tools/device_check.sh: what is carried to a GPU machine has to be small (the
//! repository and the binaries together under 64 MiB), and one binary links the backends once
//! instead of once per suite. Built only with the `tch` and `wgpu` features (Cargo.toml's
//! `required-features`); the suites are the same files as the separate tests, run on the
//! device that `DML_TEST_DEVICE` names.

#![allow(dead_code)] // each suite brings its own copy of tests/common

#[path = "../crates/dml-backbones/tests/parity_pytorch.rs"]
mod backbone_parity;
#[path = "backend_agreement.rs"]
mod backend_agreement;
#[path = "../crates/dml-train/tests/data_parallel.rs"]
mod data_parallel;
#[path = "fused_kernels.rs"]
mod fused_kernels;
#[path = "parity_classifier.rs"]
mod parity_classifier;
#[path = "parity_compose.rs"]
mod parity_compose;
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
