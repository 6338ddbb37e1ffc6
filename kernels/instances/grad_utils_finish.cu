// The gradient utilities' dtype-independent kernels: the norm's finish launch per norm kind,
// torch's _amp_update_scale_ and GradScaler.update().
#include "kernels/grad/kernels.cuh"

namespace fusedopt::kernels::amp {

__global__ void update_scale_kernel(float* scale, std::int32_t* growth_tracker,
                                    const float* found_inf, double growth_factor,
                                    double backoff_factor, std::int32_t growth_interval) {
  update_scale(scale, growth_tracker, *found_inf, growth_factor, backoff_factor, growth_interval);
}

__global__ void scaler_update_kernel(ScalerState* state, ScalerUpdateArgs args) {
  scaler_update(state, args);
}

template void launch_norm_finish<NormKind::l1>(const GradPlan&, const NormArgs&, CUstream_st*);
template void launch_norm_finish<NormKind::l2>(const GradPlan&, const NormArgs&, CUstream_st*);
template void launch_norm_finish<NormKind::inf>(const GradPlan&, const NormArgs&, CUstream_st*);
template void launch_norm_finish<NormKind::p>(const GradPlan&, const NormArgs&, CUstream_st*);

void launch_update_scale(float* scale, std::int32_t* growth_tracker, const float* found_inf,
                         double growth_factor, double backoff_factor, std::int32_t growth_interval,
                         CUstream_st* stream) {
  update_scale_kernel<<<1, 1, 0, stream>>>(scale, growth_tracker, found_inf, growth_factor,
                                           backoff_factor, growth_interval);
  FUSEDOPT_CUDA_CHECK_LAUNCH();
}

void launch_scaler_update(ScalerState* state, const ScalerUpdateArgs& args, CUstream_st* stream) {
  scaler_update_kernel<<<1, 1, 0, stream>>>(state, args);
  FUSEDOPT_CUDA_CHECK_LAUNCH();
}

}  // namespace fusedopt::kernels::amp
