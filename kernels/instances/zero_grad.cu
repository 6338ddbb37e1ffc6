// Explicit instantiation: zero_grad for every storage dtype, and the master-weights copy.
#include "kernels/engine/multi_tensor.cuh"

namespace fusedopt::kernels {
template void launch_zero_grad_range<float>(const PlanView&, std::int64_t, std::int64_t, CUstream_st*);
template void launch_zero_grad_range<Half>(const PlanView&, std::int64_t, std::int64_t, CUstream_st*);
template void launch_zero_grad_range<BFloat16>(const PlanView&, std::int64_t, std::int64_t, CUstream_st*);
template void launch_master_from_model<Half>(const PlanView&, std::int64_t, std::int64_t, CUstream_st*);
template void launch_master_from_model<BFloat16>(const PlanView&, std::int64_t, std::int64_t, CUstream_st*);
}  // namespace fusedopt::kernels
