#!/usr/bin/env bash
# Regenerates every reference fixture under tests/fixtures/ with PML and PyTorch.
# Every tools/fixtures/gen_*.py runs in turn, among them gen_online.py (a float64 PyTorch
# transcription of the online-metric-learning seed's losses.py; writes losses/online.json).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bash "$here/tools/setup_python.sh" >/dev/null
cd "$here/tools/fixtures"
for script in gen_*.py; do
  echo "== $script"
  PYTHONPATH="$here/.pydeps:$here/tools/fixtures" /usr/bin/python3 "$script"
done
echo "== gen_lr_traces.py"
/usr/bin/python3 "$here/tools/gen_lr_traces.py"
