#!/usr/bin/env bash
# The accelerator backends, built and checked on a CPU machine (.ci/run calls this after the
# default test suite):
#   - `tch` (libtorch through burn-tch, PyTorch 2.11 from PyPI, tools/setup_libtorch.sh) and
#     `wgpu` (Vulkan; Mesa's lavapipe software driver stands in for a GPU) built together;
#   - on `tch:cpu` and on `wgpu` (lavapipe): every loss parity suite (the PML / PyTorch fixtures,
#     values and gradients, with tests/fused_kernels.rs; libtorch runs the composed
#     implementations, wgpu the fused CubeCL kernels where they apply), the checkpoint-embedding
#     agreement test, and a quickstart smoke run on Fashion-MNIST;
#   - on both: data-parallel training on 2 and 3 devices of the backend equals one device
#     (crates/dml-train/tests/data_parallel.rs), and a mixed-precision smoke run (bf16 on
#     libtorch, f16 on wgpu, where bf16 is refused).
# `--no-wgpu-parity` leaves out the loss parity suites on lavapipe (the slowest step; see
# docs/backends.md for its time).
set -euo pipefail
cd "$(dirname "$0")/.."
wgpu_parity=true
[ "${1:-}" = "--no-wgpu-parity" ] && wgpu_parity=false

SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
need_apt=()
ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 || need_apt+=(mesa-vulkan-drivers libvulkan1)
[ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] \
  || [ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte ] || need_apt+=(dataset-fashion-mnist)
if [ ${#need_apt[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

eval "$(bash tools/setup_libtorch.sh)"
# Mesa's lavapipe is the only Vulkan driver on a CPU machine; cubecl's autotuning on it would
# take minutes per kernel shape.
export CUBECL_AUTOTUNE_LEVEL=minimal
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}

features="tch wgpu"
# Every loss parity suite (tests/parity_*.rs; parity_eval checks the CPU retrieval metrics only).
parity=()
for f in tests/parity_*.rs; do
  name=$(basename "$f" .rs)
  [ "$name" = parity_eval ] || parity+=(--test "$name")
done
parity+=(--test fused_kernels)
timed() { local t0=$SECONDS; "$@"; echo "   ($(( SECONDS - t0 )) s)"; }
# The quickstart binary the build below writes (CARGO_TARGET_DIR honoured).
quickstart="${CARGO_TARGET_DIR:-target}/debug/examples/quickstart"

# The dev profile (dependencies at opt-level 1, near release speed) shares one build between the
# test binaries and the quickstart.
echo "== build: --features \"$features\" (parity tests, agreement test, quickstart)"
timed cargo test --locked --features "$features" "${parity[@]}" --test backend_agreement --no-run
timed cargo build --locked --features "$features" --example quickstart
timed cargo test --locked -p dml-train --features "$features" --test data_parallel --no-run

echo "== loss parity on tch:cpu"
DML_TEST_DEVICE=tch:cpu timed cargo test --locked --features "$features" "${parity[@]}"

for device in tch:cpu wgpu; do
  echo "== a CPU checkpoint embedded on $device"
  DML_TEST_DEVICE=$device timed cargo test --locked --features "$features" --test backend_agreement \
    -- --ignored --nocapture
  echo "== data-parallel training on 1, 2 and 3 $device devices"
  DML_TEST_DEVICE=$device timed cargo test --locked -p dml-train --features "$features" \
    --test data_parallel -- --nocapture
  echo "== quickstart smoke run on $device"
  out=$(mktemp -d)
  timed "$quickstart" --device "$device" --epochs 1 --max-steps-per-epoch 4 \
    --max-eval-images 400 --output-dir "$out/run"
  # Mixed precision: bfloat16 on libtorch; float16 on wgpu, whose shading language has no
  # bfloat16 (a bf16 run there is refused with a message naming run.precision and the device).
  precision=bf16; [ "$device" = wgpu ] && precision=f16
  echo "== quickstart smoke run on $device in $precision"
  timed "$quickstart" --device "$device" --precision "$precision" --epochs 1 \
    --max-steps-per-epoch 3 --max-eval-images 200 --output-dir "$out/mixed"
  if [ "$device" = wgpu ]; then
    msg=$("$quickstart" --device wgpu --precision bf16 --epochs 1 \
            --output-dir "$out/refused" 2>&1 || true)
    echo "$msg" | grep -q 'run.precision' || { echo "bf16 on wgpu was not refused: $msg"; exit 1; }
  fi
  rm -rf "$out"
done

if $wgpu_parity; then
  echo "== loss parity on wgpu (lavapipe)"
  DML_TEST_DEVICE=wgpu timed cargo test --locked --features "$features" --no-fail-fast "${parity[@]}"
fi
echo "== backends: all checks passed"
