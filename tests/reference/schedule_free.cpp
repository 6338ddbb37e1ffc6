#include "schedule_free.hpp"

#include <algorithm>
#include <cmath>

namespace fusedopt::reference {

// step(): sched = (k + 1) / warmup_steps while k < warmup_steps, else 1; lr = lr * sched;
// lr_max = max(lr, lr_max); weight = (k + 1)^r * lr_max^weight_lr_power;
// weight_sum += weight; ckp1 = weight / weight_sum (0 when weight_sum is 0); k += 1.
ScheduleFreeStepScalars schedule_free_advance(const ScheduleFreeConfig& c,
                                              ScheduleFreeSchedule& s) {
  const double sched = s.k < c.warmup_steps ? (s.k + 1) / c.warmup_steps : 1.0;
  ScheduleFreeStepScalars out;
  out.bias_correction2 = 1 - std::pow(c.beta2, s.k + 1);
  out.lr = c.lr * sched;
  s.scheduled_lr = out.lr;
  s.lr_max = std::max(out.lr, s.lr_max);
  const double weight = std::pow(s.k + 1, c.r) * std::pow(s.lr_max, c.weight_lr_power);
  s.weight_sum += weight;
  out.ckp1 = s.weight_sum == 0 ? 0.0 : weight / s.weight_sum;
  s.k += 1;
  return out;
}

// Per element, y the parameter:
//   v = beta2 v + (1 - beta2) g^2;  denom = sqrt(v / bias_correction2) + eps
//   u = g / denom + weight_decay * y
//   y = (1 - ckp1) y + ckp1 z + lr (beta1 (1 - ckp1) - 1) u;  z = z - lr u
void schedule_free_step(const ScheduleFreeConfig& c, const ScheduleFreeStepScalars& t, Vec& param,
                        const Vec& grad, ScheduleFreeState& s) {
  const std::size_t n = param.size();
  if (!s.has_state) {
    s.has_state = true;
    s.z = param;
    s.exp_avg_sq.assign(n, 0.0);
  }
  for (std::size_t i = 0; i < n; ++i) {
    double& y = param[i];
    double& z = s.z[i];
    double& v = s.exp_avg_sq[i];
    v = c.beta2 * v + (1 - c.beta2) * grad[i] * grad[i];
    const double denom = std::sqrt(v / t.bias_correction2) + c.eps;
    double u = grad[i] / denom;
    if (c.weight_decay != 0) u += c.weight_decay * y;
    y = (1 - t.ckp1) * y + t.ckp1 * z;
    y += t.lr * (c.beta1 * (1 - t.ckp1) - 1) * u;
    z -= t.lr * u;
  }
}

// train(): y = lerp(x, z, 1 - beta1); eval(): x = lerp(y, z, 1 - 1/beta1).
void schedule_free_switch(const ScheduleFreeConfig& c, bool to_train, Vec& param,
                          const ScheduleFreeState& s) {
  if (!s.has_state) return;
  const double w = to_train ? 1 - c.beta1 : 1 - 1 / c.beta1;
  for (std::size_t i = 0; i < param.size(); ++i) param[i] += w * (s.z[i] - param[i]);
}

}  // namespace fusedopt::reference
