#!/usr/bin/env bash
# Installs a PyTorch wheel from PyPI into a local virtual environment (.venv-torch/) and prints
# the environment a `--features tch` build and its binaries need (libtorch through burn-tch).
#
#   bash tools/setup_libtorch.sh            # installs torch 2.11.0 (the version that builds)
#   eval "$(bash tools/setup_libtorch.sh --env)"   # then: cargo build --features tch ...
#
# Why 2.11.0: burn-tch 0.22.1 -> torch-sys 0.22 generates its C++ wrapper for PyTorch 2.9; 2.9.x,
# 2.10 and 2.11 build with LIBTORCH_BYPASS_VERSION_CHECK=1, 2.15 does not (its headers need C++20
# and drop functions the wrapper calls). 2.11 is also what the GPU machine has, so a binary built
# here runs there against its own libtorch. See docs/backends.md for the measured versions.
# PyPI's Linux wheels are CUDA builds that also run on the CPU; with their nvidia-* dependencies
# the install is about 5.7 GB and takes 3-4 minutes.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
version=${DML_TORCH_VERSION:-2.11.0}
venv="$here/.venv-torch"
env_only=false
[ "${1:-}" = "--env" ] && env_only=true

if ! $env_only; then
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
  fi
  if ! "$venv/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$version')" \
      >/dev/null 2>&1; then
    echo "== installing torch==$version from PyPI into $venv (about 5.7 GB)" >&2
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "torch==$version" >&2
  fi
fi

torch_dir=$("$venv/bin/python" -c "import torch, os; print(os.path.dirname(torch.__file__))")
# The wheel's libtorch and the CUDA runtime libraries of its nvidia-* packages, in front of any
# system copy (Debian's python3-torch puts an older libtorch_cpu.so in /lib/x86_64-linux-gnu).
libs="$torch_dir/lib"
for d in "$venv"/lib/python3*/site-packages/nvidia/*/lib; do
  [ -d "$d" ] && libs="$libs:$d"
done
cat <<EOF
export LIBTORCH_USE_PYTORCH=1
export LIBTORCH_BYPASS_VERSION_CHECK=1
export VIRTUAL_ENV="$venv"
export PATH="$venv/bin:\$PATH"
export LD_LIBRARY_PATH="$libs\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
EOF
