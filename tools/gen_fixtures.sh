#!/usr/bin/env bash
# Regenerates every reference fixture under tests/fixtures/ with PML and PyTorch.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bash "$here/tools/setup_python.sh" >/dev/null
cd "$here/tools/fixtures"
for script in gen_*.py; do
  echo "== $script"
  PYTHONPATH="$here/.pydeps:$here/tools/fixtures" /usr/bin/python3 "$script"
done
