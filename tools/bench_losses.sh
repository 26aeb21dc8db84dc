#!/usr/bin/env bash
# Runs the loss benchmark on both sides on this machine, REPEATS times back to back, and prints
# the markdown table of docs/benchmarks.md: criterion (benches/losses.rs, flex CPU device) next
# to PML on PyTorch's CPU build (tools/bench_pml_losses.py), same rows, same thread count. Each
# side's figure is the median over the repeats of its per-run median, with the range of the
# repeats; the matrix-product-bound rows (ProxyAnchor, the plain products) also get GFLOP/s and
# the fraction of the same side's best plain matrix-product rate.
#
#   bash tools/bench_losses.sh                 # THREADS=2, REPEATS=3, peer: the newest PyTorch
#                                              # (2.15.0) + PML 2.9.0, from tools/setup_peer.sh
#   PEER=libtorch bash tools/bench_losses.sh   # peer: tools/setup_libtorch.sh's PyTorch 2.11
#                                              # (PML 2.9.0 added to that environment)
#   PEER=debian bash tools/bench_losses.sh     # peer: Debian's PyTorch 1.13 (tools/setup_python.sh)
#   FILTER=proxy_anchor_c11318 bash tools/bench_losses.sh   # criterion filter (PML runs every row)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
threads=${THREADS:-2}
repeats=${REPEATS:-3}
target=${CARGO_TARGET_DIR:-$here/target}
work=$(mktemp -d)
case "${PEER:-latest}" in
  debian)
    bash tools/setup_python.sh >/dev/null
    python=(env PYTHONPATH="$here/.pydeps" /usr/bin/python3) ;;
  libtorch)
    eval "$(bash tools/setup_libtorch.sh --env)"
    "$VIRTUAL_ENV/bin/python" -c "import pytorch_metric_learning" 2>/dev/null \
      || "$VIRTUAL_ENV/bin/python" -m pip install -q --no-deps pytorch-metric-learning==2.9.0
    python=("$VIRTUAL_ENV/bin/python") ;;
  *)
    python=("$(bash tools/setup_peer.sh)") ;;
esac
cargo bench --locked --bench losses --no-run >/dev/null 2>&1
for r in $(seq "$repeats"); do
  echo "== repeat $r of $repeats: dml" >&2
  touch "$work/stamp-$r"
  RAYON_NUM_THREADS=$threads cargo bench --locked --bench losses -- --noplot ${FILTER:+"$FILTER"} \
    >"$work/dml-$r.txt"
  # Keep this run's medians (criterion overwrites its estimates each run).
  (cd "$target/criterion/losses" && find . -path '*/new/estimates.json' -newer "$work/stamp-$r" \
    | while read -r f; do
        key=$(dirname "$(dirname "$f")" | sed 's|^\./||')
        echo "$key $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["median"]["point_estimate"] / 1e6)' "$f")"
      done) >"$work/dml-$r.tsv"
  echo "== repeat $r of $repeats: PML" >&2
  "${python[@]}" tools/bench_pml_losses.py --threads "$threads" --json "$work/pml-$r.json" >/dev/null
done
python3 - "$work" "$repeats" <<'PY'
import json, os, statistics, sys
work, repeats = sys.argv[1], int(sys.argv[2])
D = 512
dml, pml, peer = {}, {}, ""
for r in range(1, repeats + 1):
    for line in open(os.path.join(work, f"dml-{r}.tsv")):
        key, ms = line.split()
        name, n = key.split("/")
        dml.setdefault(f"{name}/n{n}", []).append(float(ms))
    p = json.load(open(os.path.join(work, f"pml-{r}.json")))
    peer = f"PyTorch {p['torch']}"
    for key, ms in p["median_ms"].items():
        pml.setdefault(key, []).append(ms)

def flops(key):
    name, n = key.split("/n")
    n = int(n)
    if name.startswith("proxy_anchor_c"):
        return 6 * n * D * int(name[len("proxy_anchor_c"):])
    if name.startswith("matmul_c"):
        return 2 * n * D * int(name[len("matmul_c"):])
    return None

def rate(key, ms):
    f = flops(key)
    return None if f is None else f / (ms / 1e3) / 1e9

med = lambda xs: statistics.median(xs)
peak = {}
for side, table in (("dml", dml), ("pml", pml)):
    rates = [rate(k, med(v)) for k, v in table.items() if k.startswith("matmul_")]
    peak[side] = max(rates) if rates else None
print(f"peer: PML 2.9.0 on {peer}; {repeats} repeats; matrix-product rate (best plain product): "
      f"dml {peak['dml'] or 0:.0f} GFLOP/s, {peer} {peak['pml'] or 0:.0f} GFLOP/s\n")
print("| case | N | dml ms (range) | PML ms (range) | PML / dml | dml GFLOP/s (of its matmul rate) | PML GFLOP/s (of its matmul rate) |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for key in pml:
    if key not in dml:
        continue
    name, n = key.split("/n")
    a, b = dml[key], pml[key]
    cell = lambda xs: f"{med(xs):.2f} ({min(xs):.2f}-{max(xs):.2f})"
    def g(side, xs):
        r = rate(key, med(xs))
        if r is None:
            return "-"
        return f"{r:.0f} ({100 * r / peak[side]:.0f} %)" if peak[side] else f"{r:.0f}"
    print(f"| {name} | {n} | {cell(a)} | {cell(b)} | {med(b) / med(a):.2f} | {g('dml', a)} | {g('pml', b)} |")
PY
rm -rf "$work"
