#!/usr/bin/env bash
# Installs what the fixture generators and the PML benchmark script need: Debian's PyTorch
# (CPU) and PyPI's pytorch-metric-learning 2.9.0 without dependencies, into .pydeps/.
# CI does not need this: the fixtures it checks are committed.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
if ! /usr/bin/python3 -c "import torch, scipy, sklearn, tqdm" 2>/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    python3-torch python3-scipy python3-sklearn python3-tqdm python3-pip
fi
if [ ! -d "$here/.pydeps/pytorch_metric_learning" ]; then
  /usr/bin/python3 -m pip install -q --no-deps --target "$here/.pydeps" pytorch-metric-learning==2.9.0 \
    || pip install -q --no-deps --target "$here/.pydeps" pytorch-metric-learning==2.9.0
fi
echo "python deps ready: PYTHONPATH=$here/.pydeps /usr/bin/python3"
