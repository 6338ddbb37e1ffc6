#!/usr/bin/env bash
# A virtual environment with a CPU-usable PyTorch, for tests/torch_interop.py and the golden
# scripts in tests/golden/:  scripts/torch_venv.sh DIR  (prints DIR/bin/python when done).
#
# The torch wheel on the package index is built for CUDA; on a machine without a GPU it imports
# once the few CUDA runtime libraries its import loads are there, so it is installed with
# --no-deps plus those wheels and its pure-Python dependencies (about 2 GB, a minute here).
# Versions are pinned to what torch 2.15.0 asks for. Idempotent: an existing DIR whose python
# imports torch is reused. Exit 77 when pip's index cannot be reached (the caller skips; under
# CI=true that is an error too); any other failure is an error.
set -euo pipefail
dir=${1:?usage: torch_venv.sh DIR}
if [ -x "$dir/bin/python" ] && "$dir/bin/python" -c "import torch" >/dev/null 2>&1; then
  echo "$dir/bin/python"
  exit 0
fi
# pip's own configuration (index-url, find-links, certificates) decides where torch comes from;
# `pip index versions` asks that index. Under CI=true an unreachable index is an error.
if ! timeout 60 python3 -m pip index versions torch >/dev/null 2>&1; then
  echo "torch_venv.sh: pip's configured package index cannot be reached (pip index versions torch)" >&2
  if [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; then exit 1; fi
  exit 77
fi
rm -rf "$dir"
python3 -m venv "$dir"
"$dir/bin/pip" install --quiet --disable-pip-version-check --no-deps \
  torch==2.15.0 \
  nvidia-cufile nvidia-cusparselt-cu13==0.8.1 nvidia-nvshmem-cu13==3.7.2 nvidia-nccl-cu13==2.30.7 \
  numpy sympy mpmath networkx jinja2 markupsafe fsspec filelock typing_extensions >&2
"$dir/bin/python" -c "import torch" >&2
echo "$dir/bin/python"
