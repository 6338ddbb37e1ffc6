#pragma once
// More plain double-precision reference optimizers (RMSprop, Adagrad, Adamax, NAdam, RAdam,
// Adadelta, Rprop, ASGD, Lion) and parameter averaging (torch.optim.swa_utils.AveragedModel).
// Written from the torch.optim documentation algorithm boxes and, where box and code differ,
// from torch's single-tensor code path (`_single_tensor_*` in torch/optim/*.py, PyTorch 2.x main
// branch as of the 2.7/2.8 releases); each function's comment says where they differ.
// Shares no code with kernels/ or host/.
//
// Common conventions (all follow torch's code):
//  * every `*_step` negates the gradient first when `maximize` is set, and only then adds
//    L2 weight decay (g <- g + wd * param);
//  * state vectors are empty until the first step, then sized like `param`; a buffer that torch
//    only creates for some settings (RMSprop's grad_avg / momentum_buffer) stays empty otherwise;
//  * `step` is incremented at the start of each step, so formulas see t = 1 on the first step.
#include <cstdint>

#include "reference.hpp"

namespace fusedopt::reference {

struct RMSpropConfig {
  double lr = 1e-2, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0;
  bool centered = false, maximize = false;
};
struct RMSpropState {
  std::int64_t step = 0;
  Vec square_avg;       // always allocated on the first step
  Vec grad_avg;         // allocated only when centered (torch: state only exists then)
  Vec momentum_buffer;  // allocated only when momentum > 0
};
void rmsprop_step(const RMSpropConfig& config, Vec& param, const Vec& grad, RMSpropState& state);

struct AdagradConfig {
  double lr = 1e-2, lr_decay = 0, weight_decay = 0, initial_accumulator_value = 0, eps = 1e-10;
  bool maximize = false;
};
struct AdagradState {
  std::int64_t step = 0;
  Vec sum;  // sum starts at initial_accumulator_value
};
void adagrad_step(const AdagradConfig& config, Vec& param, const Vec& grad, AdagradState& state);

struct AdamaxConfig {
  double lr = 2e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool maximize = false;
};
struct AdamaxState {
  std::int64_t step = 0;
  Vec exp_avg, exp_inf;
};
void adamax_step(const AdamaxConfig& config, Vec& param, const Vec& grad, AdamaxState& state);

struct NAdamConfig {
  double lr = 2e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0,
         momentum_decay = 4e-3;
  bool decoupled_weight_decay = false, maximize = false;
};
struct NAdamState {
  std::int64_t step = 0;
  double mu_product = 1.0;
  Vec exp_avg, exp_avg_sq;
};
void nadam_step(const NAdamConfig& config, Vec& param, const Vec& grad, NAdamState& state);

struct RAdamConfig {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool decoupled_weight_decay = false, maximize = false;
};
struct RAdamState {
  std::int64_t step = 0;
  Vec exp_avg, exp_avg_sq;
};
void radam_step(const RAdamConfig& config, Vec& param, const Vec& grad, RAdamState& state);

struct AdadeltaConfig {
  double lr = 1.0, rho = 0.9, eps = 1e-6, weight_decay = 0;
  bool maximize = false;
};
struct AdadeltaState {
  std::int64_t step = 0;
  Vec square_avg, acc_delta;
};
void adadelta_step(const AdadeltaConfig& config, Vec& param, const Vec& grad,
                   AdadeltaState& state);

struct RpropConfig {
  double lr = 1e-2, eta_minus = 0.5, eta_plus = 1.2, step_size_min = 1e-6, step_size_max = 50;
  bool maximize = false;
};
struct RpropState {
  std::int64_t step = 0;
  Vec prev, step_size;  // prev starts at 0, step_size at lr
};
void rprop_step(const RpropConfig& config, Vec& param, const Vec& grad, RpropState& state);

struct ASGDConfig {
  double lr = 1e-2, lambd = 1e-4, alpha = 0.75, t0 = 1e6, weight_decay = 0;
  bool maximize = false;
};
struct ASGDState {
  std::int64_t step = 0;
  double eta = 0, mu = 1;
  Vec ax;
};  // eta starts at lr on the first step, as torch
void asgd_step(const ASGDConfig& config, Vec& param, const Vec& grad, ASGDState& state);

// Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"); no torch.optim class.
// c = beta1*m + (1-beta1)*g; p = p*(1 - lr*wd) - lr*sign(c); m = beta2*m + (1-beta2)*g; g negated first if maximize; sign(0) = 0.
struct LionConfig {
  double lr = 1e-4, beta1 = 0.9, beta2 = 0.99, weight_decay = 0;
  bool maximize = false;
};
struct LionState {
  std::int64_t step = 0;
  Vec exp_avg;
};
void lion_step(const LionConfig& config, Vec& param, const Vec& grad, LionState& state);

// torch.optim.swa_utils.AveragedModel: the first update copies the parameters; later updates use
// EMA (averaged = lerp(averaged, param, 1 - decay), i.e. get_ema_multi_avg_fn) or SWA (running
// mean: averaged += (param - averaged) / (n_averaged + 1)); n_averaged counts updates.
struct AveragingConfig {
  bool ema = true;
  double decay = 0.999;
};
struct AveragingState {
  std::int64_t n_averaged = 0;
  Vec averaged;
};
void averaging_update(const AveragingConfig& config, const Vec& param, AveragingState& state);

}  // namespace fusedopt::reference
