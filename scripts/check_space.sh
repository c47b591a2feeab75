#!/usr/bin/env bash
# Runs the Dockerfile's install and start steps in a fresh virtual environment (no Docker engine needed)
# and checks the health endpoint the Space's HEALTHCHECK uses. Where PyTorch's CPU index cannot be reached
# (this project's build machines see PyPI only), torch comes from PyPI instead.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(mktemp -d)/venv
python3.11 -m venv "$venv"
if ! "$venv/bin/pip" install -q --index-url https://download.pytorch.org/whl/cpu "torch>=2.6" "torchvision>=0.21" 2>/dev/null; then
  echo "PyTorch CPU index unreachable: installing torch from PyPI"
fi
"$venv/bin/pip" install -q -r requirements.txt
port=${PORT:-8571}
"$venv/bin/streamlit" run app.py --server.port "$port" --server.address 0.0.0.0 --server.headless true &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  if "$venv/bin/python" -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://localhost:$port/_stcore/health').read() != b'ok')" 2>/dev/null; then
    echo "health check OK on port $port"
    exit 0
  fi
  sleep 1
done
echo "health check failed" >&2
exit 1
