#!/usr/bin/env bash
# Runs the loss benchmark on both sides on this machine and prints the markdown table of
# docs/benchmarks.md: criterion (benches/losses.rs, flex CPU device) next to PML on PyTorch CPU
# (tools/bench_pml_losses.py), same rows, same thread count.
#
#   bash tools/bench_losses.sh            # THREADS=2 by default
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
threads=${THREADS:-2}
target=${CARGO_TARGET_DIR:-$here/target}
bash tools/setup_python.sh >/dev/null
RAYON_NUM_THREADS=$threads cargo bench --bench losses -- --noplot >/tmp/dml-bench-losses.txt
PYTHONPATH="$here/.pydeps" /usr/bin/python3 tools/bench_pml_losses.py --threads "$threads" \
  --json /tmp/dml-bench-pml.json >/dev/null
/usr/bin/python3 - "$target/criterion" /tmp/dml-bench-pml.json <<'PY'
import json, os, sys
crit, pml = sys.argv[1], json.load(open(sys.argv[2]))["median_ms"]
print("| case | N | dml (ms) | PML (ms) | PML / dml |")
print("| --- | --- | --- | --- | --- |")
for key, pml_ms in pml.items():
    name, n = key.split("/n")
    est = os.path.join(crit, "losses", name, n, "new", "estimates.json")
    ours = json.load(open(est))["median"]["point_estimate"] / 1e6
    print(f"| {name} | {n} | {ours:.2f} | {pml_ms:.2f} | {pml_ms / ours:.2f} |")
PY
