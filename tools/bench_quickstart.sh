#!/usr/bin/env bash
# The quickstart recipe side by side, in one run, alternating: dml on `flex` (the default CPU
# backend), dml on `tch:cpu` (libtorch 2.11), and the same recipe in PyTorch 2.11 + PML 2.9
# (tools/quickstart_pytorch.py), each RUNS times (default 2), every side on the same 2 threads.
# Prints training images per second (per epoch) and the trained Recall@1 / MAP@R of every run.
#
#   bash tools/bench_quickstart.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-2}
eval "$(bash tools/setup_libtorch.sh)"
"$VIRTUAL_ENV/bin/python" -c "import pytorch_metric_learning" 2>/dev/null \
  || "$VIRTUAL_ENV/bin/python" -m pip install -q --disable-pip-version-check pytorch-metric-learning==2.9.0
cargo build --locked --release --features "tch wgpu" --example quickstart
bin=target/bench/quickstart-accel
mkdir -p target/bench && cp target/release/examples/quickstart "$bin"
out=$(mktemp -d)
export OMP_NUM_THREADS=2 RAYON_NUM_THREADS=2

summary() { # side, run, metrics.json or the PyTorch JSON line
  "$VIRTUAL_ENV/bin/python" - "$@" <<'EOF'
import json, sys
side, run, path = sys.argv[1:4]
text = open(path).read()
if side == "pytorch":
    r = json.loads(text.strip().splitlines()[-1])
    rates, r1, mapr, secs = r["images_per_s"], r["trained"]["recall@1"], r["trained"]["map@r"], r["seconds"]
else:
    h = json.load(open(path))
    rates = [e["images_per_second"] for e in h["epochs"]]
    last = h["evaluations"][-1]
    r1 = dict((k, v) for k, v in last["recall_at"])[1]
    mapr, secs = last["map_at_r"], float("nan")
print(f"| {side} | {run} | {' / '.join(f'{x:.0f}' for x in rates)} | {100*r1:.2f} | {100*mapr:.2f} |")
EOF
}

echo "| side | run | images/s (epoch 1 / 2) | Recall@1 % | MAP@R % |" > "$out/table"
echo "| --- | --- | --- | --- | --- |" >> "$out/table"
for run in $(seq 1 "$runs"); do
  for device in cpu tch:cpu; do
    "$bin" --device "$device" --output-dir "$out/$device-$run" > "$out/$device-$run.log"
    summary "dml $device" "$run" "$out/$device-$run/metrics.json" >> "$out/table"
  done
  "$VIRTUAL_ENV/bin/python" tools/quickstart_pytorch.py --threads 2 --seed "$run" > "$out/pytorch-$run.log"
  summary pytorch "$run" "$out/pytorch-$run.log" >> "$out/table"
  tail -n +3 "$out/table" | tail -3
done
echo
echo "Peer: $("$VIRTUAL_ENV/bin/python" -c 'import torch, pytorch_metric_learning as p; print(f"PyTorch {torch.__version__}, pytorch-metric-learning {p.__version__}")')"
cat "$out/table"
