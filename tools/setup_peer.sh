#!/usr/bin/env bash
# Installs the benchmark peer into .venv-peer/: the newest PyTorch wheel PyPI has for this
# machine (pinned to what "newest" was when the figures in docs/benchmarks.md were measured; set
# DML_PEER_TORCH=latest for whatever PyPI has now, or another version) and
# pytorch-metric-learning 2.9.0. PyPI's Linux wheels are CUDA builds that run on the CPU; with
# their nvidia-* dependencies the install is about 5.6 GB and takes 3-4 minutes.
#
#   bash tools/setup_peer.sh            # then: .venv-peer/bin/python tools/bench_pml_losses.py
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
version=${DML_PEER_TORCH:-2.15.0}
venv="$here/.venv-peer"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
spec="torch==$version"
[ "$version" = latest ] && spec="torch"
if ! "$venv/bin/python" -c "
import sys, torch, pytorch_metric_learning as p
want = '$version'
sys.exit(0 if p.__version__ == '2.9.0' and (want == 'latest' or torch.__version__.split('+')[0] == want) else 1)
" >/dev/null 2>&1; then
  echo "== installing $spec and pytorch-metric-learning==2.9.0 into $venv" >&2
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "$spec" \
    pytorch-metric-learning==2.9.0 >&2
fi
"$venv/bin/python" -c "import torch; print('peer ready: PyTorch', torch.__version__)" >&2
echo "$venv/bin/python"
