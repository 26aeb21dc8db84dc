#!/usr/bin/env bash
# Data-loading throughput, dml-data against torchvision on the same JPEGs, same worker count:
# JPEG decode + RandomResizedCrop(224) + flip + normalize, batches of 32.
# Usage: bash tools/bench_data.sh [WORKERS]   (default 2). Run on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
workers="${1:-2}"
dir="${DML_BENCH_JPEGS:-${TMPDIR:-/tmp}/dml-bench-jpegs}"
cargo run --release --locked -p dml-data --example bench_loader -- \
    --dir "$dir" --make 512 --workers "$workers"
if ! /usr/bin/python3 -c 'import torchvision' 2>/dev/null; then
    sudo apt-get install -y --no-install-recommends python3-torch python3-torchvision
fi
/usr/bin/python3 tools/bench_torchvision_loader.py --dir "$dir" --workers "$workers"
