#!/usr/bin/env bash
# The GPU check: dml on an NVIDIA GPU (libtorch CUDA and wgpu/Vulkan) next to PyTorch on the same
# GPU, in one run. The GPU machine has PyTorch 2.11 (CUDA 13) but no Rust and no network, so the
# binaries are built here and carried there:
#
#   bash tools/device_check.sh --bundle      # here (CPU, Rust): builds and packs .device/ and .gl/
#   bash tools/device_check.sh               # there: runs everything, prints the tables, < 10 min
#   bash tools/device_check.sh --rehearse    # here: the same run on tch:cpu and lavapipe, small
#
# What runs there, each step under its own time limit:
#   1. every loss parity suite (PML / PyTorch fixtures, values and gradients) and the checkpoint
#      agreement test on tch:cuda:0, then on wgpu (tests/device_parity.rs);
#   2. data-parallel training with 1, 2 and 3 replicas on tch:cuda:0 equals one device;
#   3. examples/device_bench.rs on tch:cuda:0 and on wgpu, and tools/device_bench_torch.py on cuda:
#      loss forward+backward rows, a ResNet50 training step at batch 128 and 256, SOP-sized exact
#      kNN; printed side by side with PyTorch as ratios (PyTorch ms / dml ms: above 1, dml faster).
# Outputs land in ${OUT:-.device/out}: the logs and the three JSON reports.
set -uo pipefail
cd "$(dirname "$0")/.."
mode=run
case "${1:-}" in
  --bundle) mode=bundle ;;
  --rehearse) mode=rehearse ;;
  "") ;;
  *) echo "usage: $0 [--bundle|--rehearse]" >&2; exit 2 ;;
esac
bundle=.device
features="tch wgpu"

if [ "$mode" = bundle ]; then
  set -e
  eval "$(bash tools/setup_libtorch.sh)"
  echo "== building (release, --features \"$features\"): tests/device_parity.rs, examples/device_bench.rs, crates/dml-train/tests/data_parallel.rs"
  cargo build --locked --release --features "$features" --example device_bench
  test_binary() { # the path of test binary $1 built with cargo flags "${@:2}"
    cargo test --locked --release --features "$features" "${@:2}" --test "$1" --no-run \
        --message-format=json 2>/dev/null \
      | "$VIRTUAL_ENV/bin/python" -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == sys.argv[1] and m.get("executable"):
        print(m["executable"])' "$1"
  }
  parity=$(test_binary device_parity)
  data_parallel=$(test_binary data_parallel -p dml-train)
  rm -rf "$bundle" && mkdir -p "$bundle/bin"
  cp "$parity" "$bundle/bin/device_parity"
  cp "$data_parallel" "$bundle/bin/data_parallel"
  cp target/release/examples/device_bench "$bundle/bin/device_bench"
  strip "$bundle/bin/"*
  # The binaries as one compressed file (the carried tree is limited to 64 MiB).
  tar -C "$bundle" -cJf "$bundle/bin.tar.xz" bin && rm -rf "$bundle/bin"
  # pytorch-metric-learning (pure Python) for the PyTorch side; the GPU machine lacks it.
  site=$("$VIRTUAL_ENV/bin/python" -c 'import pytorch_metric_learning, os; print(os.path.dirname(os.path.dirname(pytorch_metric_learning.__file__)))')
  mkdir -p "$bundle/python" && cp -r "$site/pytorch_metric_learning" "$bundle/python/"
  find "$bundle/python" -name __pycache__ -prune -exec rm -rf {} +
  # The Vulkan loader that a wgpu binary needs beside the NVIDIA driver (Debian's libvulkan1).
  if [ ! -d .gl ]; then
    o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
    mkdir -p .gl /tmp/amd64/partial
    # shellcheck disable=SC2086
    apt-get $o update -qq && (cd .gl && apt-get $o download libvulkan1 >/dev/null)
  fi
  du -sh "$bundle" .gl
  echo "== bundle ready: carry .device and .gl, and run \`bash tools/device_check.sh\` there"
  exit 0
fi

out=${OUT:-$bundle/out}
mkdir -p "$out"
work=$(mktemp -d)
tar -C "$work" -xJf "$bundle/bin.tar.xz" || { echo "no $bundle/bin.tar.xz: run --bundle first" >&2; exit 2; }
bin=$work/bin
export PYTHONPATH="$PWD/$bundle/python${PYTHONPATH:+:$PYTHONPATH}"
export CUBECL_AUTOTUNE_LEVEL=${CUBECL_AUTOTUNE_LEVEL:-minimal}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
if [ "$mode" = rehearse ]; then
  eval "$(bash tools/setup_libtorch.sh --env)"
  python=$VIRTUAL_ENV/bin/python
  # The GPU machine's PyTorch has torchvision; the local one gets the matching release.
  "$python" -c "import torchvision" 2>/dev/null \
    || "$python" -m pip install -q --disable-pip-version-check "torchvision==0.26.0" >&2
  tch=tch:cpu; wgpu=wgpu; torch_device=cpu; quick=--quick; limit=900
else
  python=python3
  # The Vulkan loader, when the machine has none (tools/device_check.sh --bundle packed it).
  if ! ldconfig -p | grep -q libvulkan; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
  fi
  [ -e /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ] \
    && export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
  # libtorch and the CUDA libraries of this machine's PyTorch (the binaries were linked against
  # PyPI's torch 2.11.0+cu130).
  site=$(python3 -c 'import torch, os; print(os.path.dirname(os.path.dirname(torch.__file__)))')
  libs="$site/torch/lib"
  for d in "$site"/nvidia/*/lib "$site"/nvidia/cu13/lib; do [ -d "$d" ] && libs="$libs:$d"; done
  export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  tch=tch:cuda:0; wgpu=wgpu; torch_device=cuda; quick=; limit=170
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
fi
status=0
step() { # name, time limit, command...
  local name=$1 lim=$2; shift 2
  local t0=$SECONDS
  echo "== $name"
  timeout "$lim" "$@" > "$out/$name.log" 2>&1
  local rc=$?
  tail -n 4 "$out/$name.log"
  echo "   ($name: exit $rc, $(( SECONDS - t0 )) s)"
  [ $rc -eq 0 ] || status=1
}

step "parity-$tch" "$limit" env DML_TEST_DEVICE=$tch "$bin/device_parity" --include-ignored
# The rehearsal on lavapipe runs the agreement test and one suite: the CPU-emulated Vulkan takes
# minutes per suite.
wgpu_tests=()
[ "$mode" = rehearse ] && wgpu_tests=(backend_agreement parity_proxy::)
step "parity-$wgpu" "$limit" env DML_TEST_DEVICE=$wgpu "$bin/device_parity" --include-ignored "${wgpu_tests[@]}"
# Data-parallel training (crates/dml-train/tests/data_parallel.rs): 1, 2 and 3 replicas on the
# device (one GPU: the largest device list it allows is itself, repeated) train the same
# parameters; the test prints the differences.
step "data-parallel-$tch" "$limit" env DML_TEST_DEVICE=$tch "$bin/data_parallel" --nocapture
step "bench-dml-$tch" "$limit" "$bin/device_bench" --device "$tch" $quick --json "$out/dml-tch.json"
step "bench-dml-$wgpu" "$limit" "$bin/device_bench" --device "$wgpu" $quick --only losses,knn \
  --json "$out/dml-wgpu.json"
step "bench-pytorch-$torch_device" "$limit" "$python" tools/device_bench_torch.py --device "$torch_device" \
  $quick --json "$out/pytorch.json"

"$python" - "$out" <<'EOF'
import json, os, sys
out = sys.argv[1]
def load(name):
    p = os.path.join(out, name)
    return json.load(open(p)) if os.path.exists(p) else {"rows": []}
tch, wgpu, pt = load("dml-tch.json"), load("dml-wgpu.json"), load("pytorch.json")
rows = lambda r: {x["row"]: x for x in r["rows"]}
t, w, p = rows(tch), rows(wgpu), rows(pt)
print(f"\ndml {tch.get('device', '?')} / {wgpu.get('device', '?')} vs {pt.get('peer', 'PyTorch')}")
print("| row | dml libtorch ms | dml wgpu ms | PyTorch ms | PyTorch / libtorch | PyTorch / wgpu |")
print("| --- | --- | --- | --- | --- | --- |")
fmt = lambda v: "-" if v is None else f"{v:.3f}" if v < 10 else f"{v:.1f}"
for name in dict.fromkeys(list(p) + list(t) + list(w)):
    a, b, c = (d.get(name, {}).get("ms") for d in (t, w, p))
    ra = "-" if a is None or c is None else f"{c / a:.2f}"
    rb = "-" if b is None or c is None else f"{c / b:.2f}"
    print(f"| {name} | {fmt(a)} | {fmt(b)} | {fmt(c)} | {ra} | {rb} |")
EOF
rm -rf "$work"
echo "== device check finished: $([ $status -eq 0 ] && echo 'every step passed' || echo 'some step FAILED, see the logs') in $out"
exit $status
