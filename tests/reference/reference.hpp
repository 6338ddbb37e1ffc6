#pragma once
// Plain double-precision reference optimizers, written from the algorithm boxes of the
// torch.optim documentation (and, where the box and torch's code differ, from torch's
// single-tensor code path, said in a comment). Shares no code with kernels/.
#include <cstdint>
#include <vector>

namespace fusedopt::reference {

using Vec = std::vector<double>;

struct SGDConfig {
  double lr = 1e-3, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false, maximize = false;
};
struct SGDState {
  std::int64_t step = 0;
  Vec momentum_buffer;  // empty until the first step with momentum != 0 (torch: None)
};
void sgd_step(const SGDConfig& config, Vec& param, const Vec& grad, SGDState& state);

struct AdamConfig {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool amsgrad = false, maximize = false;
  bool decoupled_weight_decay = false;  // true: AdamW
};
struct AdamState {
  std::int64_t step = 0;
  Vec exp_avg, exp_avg_sq, max_exp_avg_sq;  // zero-initialised on the first step
};
void adam_step(const AdamConfig& config, Vec& param, const Vec& grad, AdamState& state);

}  // namespace fusedopt::reference
