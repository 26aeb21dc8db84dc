#!/usr/bin/env bash
# The test command (README.md; .ci/run calls it after fmt, clippy and rustdoc). Generates the backbone
# parity checkpoints first (~150 MB, too big to commit; needs Debian's python3-torch and
# python3-torchvision, installed here if missing), installs Debian's qemu-user if missing (for
# tests/cpu_dispatch.rs), then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
fixtures=tests/fixtures/generated/backbones
if [ ! -f "$fixtures/small_cnn_io.json" ] || [ tools/gen_backbone_checkpoints.py -nt "$fixtures/small_cnn_io.json" ]; then
  if ! /usr/bin/python3 -c "import torch, torchvision" >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq python3-torch python3-torchvision >/dev/null
  fi
  echo "== generating backbone parity checkpoints (tools/gen_backbone_checkpoints.py)"
  /usr/bin/python3 tools/gen_backbone_checkpoints.py "$fixtures"
fi
# tests/cpu_dispatch.rs runs a test binary under QEMU's user-mode emulator as an AVX2-only CPU.
if [ "$(uname -m)" = x86_64 ] && ! command -v qemu-x86_64 >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq qemu-user >/dev/null
fi
cargo test --workspace --locked "$@"
