#!/usr/bin/env bash
# Static kernel report (registers, spills, local and shared memory, block size and occupancy,
# 128-bit global loads/stores) of every step, pass, finish and zero_grad kernel, for sm_90 by
# default, into bench/results/kernel-report-sm<arch>.md. Needs only the CUDA toolkit (nvcc;
# cuobjdump and nvdisasm from the toolkit or from pip), no GPU.
#
#   bash scripts/kernel_report.sh [arch]      e.g. 90 (H100/H200), 80 (A100)
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-90}
# cuobjdump and nvdisasm: the toolkit's, or pip's where the toolkit lacks them.
for t in cuobjdump nvdisasm; do
  if ! command -v "$t" >/dev/null && [[ ! -x /usr/local/cuda/bin/$t ]] &&
    ! python3 -c "import glob, sys; sys.exit(not any(glob.glob(p + '/nvidia/*/bin/$t') for p in sys.path))"; then
    python3 -m pip install -q "nvidia-cuda-$t"
  fi
done
python3 scripts/kernel_report.py --arch "$arch" --out "bench/results/kernel-report-sm$arch.md" --check
