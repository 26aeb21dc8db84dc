#!/usr/bin/env bash
# One command for a fresh Debian machine with a Rust toolchain (1.95+): installs Fashion-MNIST
# (Debian's dataset-fashion-mnist, idx files in /usr/share/datasets/fashion-mnist) if missing,
# then builds and runs the quickstart (extra arguments are passed to it, e.g. --epochs 1).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] \
   && [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update
  $SUDO apt-get install -y dataset-fashion-mnist
fi
cargo run --release --locked --example quickstart -- "$@"
