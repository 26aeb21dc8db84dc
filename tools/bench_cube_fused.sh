#!/usr/bin/env bash
# The fused CubeCL loss kernels against the composed implementations on the same wgpu device,
# back to back: examples/device_bench.rs's loss rows, REPEATS times each way (fused, then
# DML_FUSED=0), printed as one table with every run's time, the medians and their ratio.
#
#   bash tools/bench_cube_fused.sh [--device wgpu] [--medium|--quick]   (REPEATS=3 by default)
#
# On a machine without a GPU `wgpu` is Mesa's lavapipe (software Vulkan on the CPU): its numbers
# say how much work the kernels save, not how fast a GPU runs them. tools/device_check.sh has the
# same comparison on a GPU, next to PyTorch.
set -euo pipefail
cd "$(dirname "$0")/.."
device=wgpu
size=--medium
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device=$2; shift 2 ;;
    --medium|--quick) size=$1; shift ;;
    *) echo "usage: $0 [--device NAME] [--medium|--quick]" >&2; exit 2 ;;
  esac
done
repeats=${REPEATS:-3}
export CUBECL_AUTOTUNE_LEVEL=${CUBECL_AUTOTUNE_LEVEL:-minimal}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}

cargo build --release --locked --features wgpu --example device_bench >&2
bin="${CARGO_TARGET_DIR:-target}/release/examples/device_bench"
out=$(mktemp -d)
for rep in $(seq "$repeats"); do
  echo "== run $rep of $repeats: fused, then composed" >&2
  "$bin" --device "$device" $size --only losses --json "$out/fused-$rep.json" 2>/dev/null
  DML_FUSED=0 "$bin" --device "$device" $size --only losses --json "$out/composed-$rep.json" \
    2>/dev/null
done
python3 - "$out" "$repeats" "$device" <<'EOF'
import json, statistics, sys
out, repeats, device = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def runs(kind):
    return [{r["row"]: r["ms"] for r in json.load(open(f"{out}/{kind}-{i}.json"))["rows"]}
            for i in range(1, repeats + 1)]
fused, composed = runs("fused"), runs("composed")
print(f"fused CubeCL kernels vs composed on {device}, {repeats} runs each, back to back "
      "(ms, median of each run's samples)")
print("| row | fused ms (runs) | composed ms (runs) | composed / fused (medians) |")
print("| --- | --- | --- | --- |")
for row in fused[0]:
    f = [r[row] for r in fused]
    c = [r[row] for r in composed]
    show = lambda v: " / ".join(f"{x:.1f}" for x in v)
    ratio = statistics.median(c) / statistics.median(f)
    print(f"| {row} | {show(f)} | {show(c)} | {ratio:.2f} |")
EOF
rm -rf "$out"
