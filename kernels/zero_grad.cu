// Explicit instantiation: zero_grad for every storage dtype.
#include "multi_tensor.cuh"

namespace fusedopt::kernels {
template void launch_zero_grad<float>(const PlanView&, const Segment&, CUstream_st*);
template void launch_zero_grad<Half>(const PlanView&, const Segment&, CUstream_st*);
template void launch_zero_grad<BFloat16>(const PlanView&, const Segment&, CUstream_st*);
}  // namespace fusedopt::kernels
