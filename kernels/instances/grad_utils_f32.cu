// Explicit instantiation: the gradient utilities' per-dtype kernels (norm chunks, clip by norm,
// clip by value, non-finite check and unscale), f32 storage.
#include "kernels/grad/kernels.cuh"

namespace fusedopt::kernels::amp {
FUSEDOPT_INSTANTIATE_GRAD_UTILS(float);
}  // namespace fusedopt::kernels::amp
