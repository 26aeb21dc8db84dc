#!/usr/bin/env bash
# The GPU check: dml on an NVIDIA GPU (libtorch CUDA and wgpu/Vulkan) next to PyTorch on the same
# GPU, in one run. The GPU machine has PyTorch 2.11 (CUDA 13) but no Rust and no network, so the
# binaries are built here and carried there:
#
#   bash tools/device_check.sh --bundle      # here (CPU, Rust): builds and packs .device/ and .gl/
#   bash tools/device_check.sh               # there: runs everything, prints the tables, < 10 min
#   bash tools/device_check.sh --rehearse    # here: the same run on tch:cpu and lavapipe, small
#
# What runs there, each step under its own time limit, all of them inside DML_CHECK_BUDGET
# seconds (default 540 there: the GPU machine runs one command for at most 10 minutes; a step
# that would start with too little time left is reported as skipped and fails the check):
#   0. tools/check_tf32_override.py: NVIDIA_TF32_OVERRIDE=0 keeps cuBLAS and cuDNN off TF32;
#   1. every loss parity suite (PML / PyTorch fixtures, values and gradients) and the checkpoint
#      agreement test on tch:cuda:0, then on wgpu (tests/device_parity.rs);
#   2. the backbone parity test (crates/dml-backbones/tests/parity_pytorch.rs: ResNet50,
#      BN-Inception and the small CNN against PyTorch / torchvision) on tch:cuda:0, then on wgpu:
#      the checkpoints (~150 MB, too big to carry) are generated there first by
#      tools/gen_backbone_checkpoints.py with that machine's PyTorch and torchvision, float32
#      outputs on its GPU with TF32 off; dml's libtorch runs with NVIDIA_TF32_OVERRIDE=0;
#   3. data-parallel training with 1, 2 and 3 replicas on tch:cuda:0 equals one device;
#   4. examples/device_bench.rs on tch:cuda:0 and on wgpu, and tools/device_bench_torch.py on cuda:
#      loss forward+backward rows, a ResNet50 training step at batch 128 and 256, SOP-sized exact
#      kNN; printed side by side with PyTorch as ratios (PyTorch ms / dml ms: above 1, dml faster);
#      on wgpu the loss rows run the fused CubeCL kernels, and once more composed (DML_FUSED=0).
# Outputs land in ${OUT:-.device/out}: summary.md (the step results and the table) and
# device_check.tar.gz (every log and the four JSON reports; the GPU machine's tool returns at
# most 8 files).
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
  # pytorch-metric-learning (PML), packed below for the GPU machine, and used by the rehearsal.
  "$VIRTUAL_ENV/bin/python" -c "import pytorch_metric_learning" 2>/dev/null \
    || "$VIRTUAL_ENV/bin/python" -m pip install -q --disable-pip-version-check \
         "pytorch-metric-learning==2.9.0" >&2
  echo "== building (release, --features \"$features\"): tests/device_parity.rs (with crates/dml-backbones/tests/parity_pytorch.rs and crates/dml-train/tests/data_parallel.rs), examples/device_bench.rs"
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
  rm -rf "$bundle" && mkdir -p "$bundle/bin"
  cp "$parity" "$bundle/bin/device_parity"
  cp "${CARGO_TARGET_DIR:-target}/release/examples/device_bench" "$bundle/bin/device_bench"
  strip "$bundle/bin/"*
  # The binaries as one compressed file (the carried tree is limited to 64 MiB). A dictionary
  # larger than both binaries lets xz store the code they share once: 17 MB instead of about 24.
  tar -C "$bundle" -cf - bin | xz -T1 --lzma2=preset=9,dict=256MiB > "$bundle/bin.tar.xz"
  rm -rf "$bundle/bin"
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
  # What travels to the GPU machine: the tracked and untracked-not-ignored files, and the two
  # carried folders; the device tool refuses more than 64 MiB.
  size() { xargs -0 stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}'; }
  tree=$(git ls-files -z --cached --others --exclude-standard | size)
  carried=$(find "$bundle" .gl -type f -print0 | size)
  awk -v t="$tree" -v c="$carried" 'BEGIN {
    printf "== travels: %.1f MiB of repository files + %.1f MiB carried (.device, .gl) = %.1f MiB of 64\n",
      t / 1048576, c / 1048576, (t + c) / 1048576; exit (t + c > 64 * 1048576) }' \
    || { echo "== over the 64 MiB the GPU machine takes: shrink the bundle" >&2; exit 1; }
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
  budget=${DML_CHECK_BUDGET:-100000}
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
  budget=${DML_CHECK_BUDGET:-540}
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
fi
status=0
results=()
step() { # name, time limit, command...
  local name=$1 lim=$2; shift 2
  local t0=$SECONDS left=$(( budget - SECONDS - 20 )) log="$out/${name//:/_}.log"
  echo "== $name"
  if [ $left -lt 30 ]; then
    echo "   ($name: SKIPPED, ${left} s left of the ${budget} s budget)"
    results+=("| $name | skipped: out of time | - |"); status=1; return
  fi
  [ "$lim" -gt $left ] && lim=$left
  timeout "$lim" "$@" > "$log" 2>&1
  local rc=$?
  tail -n 4 "$log"
  # A failure's first messages (the whole log is in the archive).
  [ $rc -eq 0 ] || grep -m 8 -E "panicked|FAILED|Error|error:" "$log" | cut -c1-300
  echo "   ($name: exit $rc, $(( SECONDS - t0 )) s)"
  results+=("| $name | exit $rc$([ $rc -eq 124 ] && echo ' (time limit)') | $(( SECONDS - t0 )) s |")
  [ $rc -eq 0 ] || status=1
}

# libtorch's cuDNN convolutions run in TF32 by default on this GPU (matrix products do not): the
# parity steps turn TF32 off inside cuBLAS and cuDNN (the backbone test refuses tch:cuda without),
# and tools/check_tf32_override.py first measures that the variable does so.
nvidia_fp32=(env NVIDIA_TF32_OVERRIDE=0)
step tf32-override "$limit" "$python" tools/check_tf32_override.py --device "$torch_device"
step "parity-$tch" "$limit" "${nvidia_fp32[@]}" DML_TEST_DEVICE=$tch "$bin/device_parity" \
  --include-ignored --skip backbone_parity:: --skip data_parallel::
step "parity-$wgpu" "$limit" env DML_TEST_DEVICE=$wgpu "$bin/device_parity" --include-ignored \
  --skip backbone_parity:: --skip data_parallel::
# The backbone parity test: this machine's PyTorch writes the checkpoints and PyTorch's outputs
# (float64 on the CPU; float32 on the GPU there, on the CPU in the rehearsal), then dml loads
# them on each backend. wgpu (WGSL) has no float64: the float64 exactness test runs on libtorch.
backbones=$work/backbones
if "$python" -c "import torchvision" 2>/dev/null; then
  step backbone-fixtures "$limit" "$python" tools/gen_backbone_checkpoints.py "$backbones" \
    --f32-device "$torch_device"
  step "backbones-$tch" "$limit" "${nvidia_fp32[@]}" DML_TEST_DEVICE=$tch \
    DML_BACKBONE_FIXTURES="$backbones" "$bin/device_parity" backbone_parity:: --nocapture
  step "backbones-$wgpu" "$limit" env DML_TEST_DEVICE=$wgpu DML_BACKBONE_FIXTURES="$backbones" \
    "$bin/device_parity" backbone_parity:: --skip in_float64 --nocapture
  rm -rf "$backbones"
else
  echo "== backbone parity: FAILED, $python has no torchvision to generate the checkpoints"
  results+=("| backbone parity | no torchvision | - |"); status=1
fi
# Data-parallel training (crates/dml-train/tests/data_parallel.rs): 1, 2 and 3 replicas on the
# device (one GPU: the largest device list it allows is itself, repeated) train the same
# parameters; the test prints the differences.
step "data-parallel-$tch" "$limit" env DML_TEST_DEVICE=$tch "$bin/device_parity" data_parallel:: \
  --nocapture
step "bench-dml-$tch" "$limit" "$bin/device_bench" --device "$tch" $quick --json "$out/dml-tch.json"
step "bench-dml-$wgpu" "$limit" "$bin/device_bench" --device "$wgpu" $quick --only losses,knn \
  --json "$out/dml-wgpu.json"
# The same loss rows on wgpu with the fused CubeCL kernels switched off (the composed
# implementations), for the kernels' own gain on the same device.
step "bench-dml-$wgpu-composed" "$limit" env DML_FUSED=0 "$bin/device_bench" --device "$wgpu" \
  $quick --only losses --json "$out/dml-wgpu-composed.json"
step "bench-pytorch-$torch_device" "$limit" "$python" tools/device_bench_torch.py --device "$torch_device" \
  $quick --json "$out/pytorch.json"

{
echo "# tools/device_check.sh${1:+ $1}, $(date -u '+%F %H:%M UTC'): dml on $tch and $wgpu, PyTorch on $torch_device"
[ -f "$out/gpu.txt" ] && echo "GPU: $(cat "$out/gpu.txt")"
echo
echo "| step | result | time |"
echo "| --- | --- | --- |"
printf '%s\n' "${results[@]}"
"$python" - "$out" <<'EOF'
import json, os, sys
out = sys.argv[1]
def load(name):
    p = os.path.join(out, name)
    return json.load(open(p)) if os.path.exists(p) else {"rows": []}
tch, wgpu, pt = load("dml-tch.json"), load("dml-wgpu.json"), load("pytorch.json")
composed = load("dml-wgpu-composed.json")
rows = lambda r: {x["row"]: x for x in r["rows"]}
t, w, p, wc = rows(tch), rows(wgpu), rows(pt), rows(composed)
print(f"\ndml {tch.get('device', '?')} / {wgpu.get('device', '?')} vs {pt.get('peer', 'PyTorch')}")
print("wgpu: the fused CubeCL kernels; wgpu composed: the same rows with DML_FUSED=0")
print("| row | dml libtorch ms | dml wgpu ms | dml wgpu composed ms | PyTorch ms "
      "| PyTorch / libtorch | PyTorch / wgpu | composed / fused |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
fmt = lambda v: "-" if v is None else f"{v:.3f}" if v < 10 else f"{v:.1f}"
ratio = lambda num, den: "-" if num is None or den is None else f"{num / den:.2f}"
for name in dict.fromkeys(list(p) + list(t) + list(w)):
    a, b, bc, c = (d.get(name, {}).get("ms") for d in (t, w, wc, p))
    print(f"| {name} | {fmt(a)} | {fmt(b)} | {fmt(bc)} | {fmt(c)} "
          f"| {ratio(c, a)} | {ratio(c, b)} | {ratio(bc, b)} |")
EOF
} | tee "$out/summary.md"
# Every log and report in one archive beside summary.md (the GPU machine's tool returns at most
# 8 files from $OUT).
(cd "$out" && shopt -s nullglob && files=(*.log *.json gpu.tx[t]) && [ ${#files[@]} -gt 0 ] \
  && tar -czf "$work/device_check.tar.gz" "${files[@]}" && rm -f "${files[@]}" \
  && mv "$work/device_check.tar.gz" .)
rm -rf "$work"
echo "== device check finished: $([ $status -eq 0 ] && echo 'every step passed' || echo 'some step FAILED, see the logs') in $out (summary.md, device_check.tar.gz)"
exit $status
