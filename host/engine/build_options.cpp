// NOTE(build-what-you-use): the error for a step this build left out, naming the configure
// option that would include it.
#include <cstdint>

#include "fusedopt/error.hpp"
#include "fusedopt/tensor.hpp"
#include "host/engine/executor.hpp"

namespace fusedopt::detail {

namespace {
constexpr std::uint32_t kF32 = storage_bit<float>(), kF16 = storage_bit<kernels::Half>(),
                        kBF16 = storage_bit<kernels::BFloat16>(),
                        kF16Master = storage_bit<kernels::Master<kernels::Half>>(),
                        kBF16Master = storage_bit<kernels::Master<kernels::BFloat16>>();
}  // namespace

void check_built(std::uint32_t built, const SegmentLaunch& s, const char* optimizer,
                 const char* list_name, bool unfused) {
  if (built == 0)
    throw_error(optimizer, " was left out of this build of fusedopt: configure with "
                "-DFUSEDOPT_OPTIMIZERS including ", list_name, " (or all)");
  if (s.impl != Impl::Fused && !unfused)
    throw_error(optimizer, ": Impl::", s.impl == Impl::Loop ? "Loop" : "Foreach",
                " (an unfused implementation) was left out of this build of fusedopt: "
                "configure with -DFUSEDOPT_UNFUSED=ON");
  std::uint32_t bit = 0;
  dispatch_segment(s, [&](auto tag) { bit = storage_bit<typename decltype(tag)::type>(); });
  if (built & bit) return;
  const std::uint32_t plain = s.dtype == DType::f16 ? kF16 : s.dtype == DType::bf16 ? kBF16 : kF32;
  const std::uint32_t master = s.dtype == DType::f16 ? kF16Master : kBF16Master;
  const char* what = to_string(s.dtype);
  if (!(built & plain))
    throw_error(optimizer, ": ", what, " parameters were left out of this build of fusedopt: "
                "configure with -DFUSEDOPT_DTYPES including ", what);
  if (s.master_weights && !(built & master))
    throw_error(optimizer, ": fp32 master weights (Precision::master_weights) for ", what,
                " parameters were left out of this build of fusedopt: configure with "
                "-DFUSEDOPT_MASTER_WEIGHTS=ON");
  if (s.bf16_state)  // its dtype and master weights are built: the bf16 state is not
    throw_error(optimizer, ": bf16 state (Precision::state_dtype) was left out of this build "
                "of fusedopt: configure with -DFUSEDOPT_BF16_STATE=ON");
  throw_error(optimizer, ": internal: storage bit ", bit, " of ", list_name, " is not built");
}

}  // namespace fusedopt::detail
