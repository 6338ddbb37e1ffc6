// Explicit instantiation: the gradient utilities' per-dtype kernels (norm chunks, clip by norm,
// clip by value, non-finite check and unscale), f16 storage.
#include "kernels/grad/kernels.cuh"

namespace fusedopt::kernels::amp {
FUSEDOPT_INSTANTIATE_GRAD_UTILS(Half);
}  // namespace fusedopt::kernels::amp
