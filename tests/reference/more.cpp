#include "more.hpp"

#include <algorithm>
#include <cmath>

// Source followed throughout: the torch.optim algorithm boxes in PyTorch's documentation and the
// `_single_tensor_*` functions of the PyTorch 2.x main branch (the 2.7/2.8-era code: `_to_scalar`,
// `list[Tensor]` annotations), non-capturable path. torch updates its exponential averages with
// `lerp_(g, 1 - beta)`; we write the algebraically identical beta * m + (1 - beta) * g of the
// documentation boxes (and of reference.cpp's Adam). In double precision the two forms differ
// only in the last bits.

namespace fusedopt::reference {
namespace {

double signum(double x) { return double((x > 0) - (x < 0)); }

// maximize, then L2 weight decay, as every torch `_single_tensor_*` does.
double effective_grad(double g, double p, double weight_decay, bool maximize) {
  double d = maximize ? -g : g;
  if (weight_decay != 0) d = d + weight_decay * p;
  return d;
}

}  // namespace

// torch.optim.RMSprop:
//   g <- -g if maximize;  g <- g + wd * theta
//   v <- alpha v + (1 - alpha) g^2
//   centered: g_ave <- alpha g_ave + (1 - alpha) g;  avg = sqrt(v - g_ave^2) + eps
//   else:     avg = sqrt(v) + eps                       (eps added after the square root)
//   momentum > 0: b <- mu b + g / avg;  theta <- theta - lr b
//   else:         theta <- theta - lr g / avg
// The box I read lists no `maximize`; the code negates the gradient first (before weight
// decay). torch only creates grad_avg when centered and momentum_buffer when momentum > 0; so do
// we. v - g_ave^2 is mathematically >= 0; like torch we do not clamp it.
void rmsprop_step(const RMSpropConfig& c, Vec& param, const Vec& grad, RMSpropState& s) {
  const std::size_t n = param.size();
  if (s.step == 0) {
    s.square_avg.assign(n, 0.0);
    if (c.centered) s.grad_avg.assign(n, 0.0);
    if (c.momentum > 0) s.momentum_buffer.assign(n, 0.0);
  }
  s.step += 1;
  for (std::size_t i = 0; i < n; ++i) {
    const double g = effective_grad(grad[i], param[i], c.weight_decay, c.maximize);
    double& v = s.square_avg[i];
    v = c.alpha * v + (1 - c.alpha) * g * g;
    double avg;
    if (c.centered) {
      double& ga = s.grad_avg[i];
      ga = c.alpha * ga + (1 - c.alpha) * g;
      avg = std::sqrt(v - ga * ga) + c.eps;
    } else {
      avg = std::sqrt(v) + c.eps;
    }
    if (c.momentum > 0) {
      double& buf = s.momentum_buffer[i];
      buf = c.momentum * buf + g / avg;
      param[i] = param[i] - c.lr * buf;
    } else {
      param[i] = param[i] - c.lr * g / avg;
    }
  }
}

// torch.optim.Adagrad:
//   t <- t + 1;  g <- -g if maximize;  g <- g + wd * theta
//   clr = lr / (1 + (t - 1) lr_decay)
//   sum <- sum + g^2;  theta <- theta - clr g / (sqrt(sum) + eps)
// The box initialises state_sum to 0 and lists no `maximize`; the code initialises it to
// initial_accumulator_value (in the constructor) and negates the gradient first. We follow the
// code (sum filled with initial_accumulator_value on the first step).
void adagrad_step(const AdagradConfig& c, Vec& param, const Vec& grad, AdagradState& s) {
  const std::size_t n = param.size();
  if (s.step == 0) s.sum.assign(n, c.initial_accumulator_value);
  s.step += 1;
  const double clr = c.lr / (1 + double(s.step - 1) * c.lr_decay);
  for (std::size_t i = 0; i < n; ++i) {
    const double g = effective_grad(grad[i], param[i], c.weight_decay, c.maximize);
    double& sum = s.sum[i];
    sum = sum + g * g;
    param[i] = param[i] - clr * g / (std::sqrt(sum) + c.eps);
  }
}

// torch.optim.Adamax:
//   t <- t + 1;  g <- -g if maximize;  g <- g + wd * theta
//   m <- b1 m + (1 - b1) g;  u <- max(b2 u, |g| + eps)
//   theta <- theta - (lr / (1 - b1^t)) m / u
// Box and code agree (eps sits inside the max, not in a denominator), except that the box lists
// no `maximize`; the code negates the gradient first.
void adamax_step(const AdamaxConfig& c, Vec& param, const Vec& grad, AdamaxState& s) {
  const std::size_t n = param.size();
  if (s.step == 0) {
    s.exp_avg.assign(n, 0.0);
    s.exp_inf.assign(n, 0.0);
  }
  s.step += 1;
  const double clr = c.lr / (1 - std::pow(c.beta1, double(s.step)));
  for (std::size_t i = 0; i < n; ++i) {
    const double g = effective_grad(grad[i], param[i], c.weight_decay, c.maximize);
    double& m = s.exp_avg[i];
    double& u = s.exp_inf[i];
    m = c.beta1 * m + (1 - c.beta1) * g;
    u = std::max(c.beta2 * u, std::abs(g) + c.eps);
    param[i] = param[i] - clr * m / u;
  }
}

// torch.optim.NAdam (psi = momentum_decay):
//   t <- t + 1;  g <- -g if maximize
//   wd != 0: decoupled: theta <- theta (1 - lr wd);  else g <- g + wd * theta
//   mu_t = b1 (1 - 0.5 * 0.96^(t psi));  mu_{t+1} = b1 (1 - 0.5 * 0.96^((t+1) psi))
//   P <- P mu_t  (mu_product, starts at 1)
//   m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
//   denom = sqrt(v / (1 - b2^t)) + eps
//   theta <- theta - lr (1 - mu_t) / (1 - P) * g / denom
//                  - lr mu_{t+1} / (1 - P mu_{t+1}) * m / denom
// Box and code agree. torch keeps mu_product in a 0-d tensor of the default scalar dtype
// (float32 unless the default dtype is float64), so torch's P carries float32 rounding; we keep
// it in double.
void nadam_step(const NAdamConfig& c, Vec& param, const Vec& grad, NAdamState& s) {
  const std::size_t n = param.size();
  if (s.step == 0) {
    s.exp_avg.assign(n, 0.0);
    s.exp_avg_sq.assign(n, 0.0);
    s.mu_product = 1.0;
  }
  s.step += 1;
  const double t = double(s.step);
  const double bc2 = 1 - std::pow(c.beta2, t);
  const double mu = c.beta1 * (1.0 - 0.5 * std::pow(0.96, t * c.momentum_decay));
  const double mu_next = c.beta1 * (1.0 - 0.5 * std::pow(0.96, (t + 1) * c.momentum_decay));
  s.mu_product *= mu;
  const double mu_product_next = s.mu_product * mu_next;
  const double grad_coef = c.lr * (1.0 - mu) / (1.0 - s.mu_product);
  const double avg_coef = c.lr * mu_next / (1.0 - mu_product_next);
  for (std::size_t i = 0; i < n; ++i) {
    double g = c.maximize ? -grad[i] : grad[i];
    double theta = param[i];
    if (c.weight_decay != 0) {
      if (c.decoupled_weight_decay) {
        theta = theta * (1 - c.lr * c.weight_decay);
      } else {
        g = g + c.weight_decay * theta;
      }
    }
    double& m = s.exp_avg[i];
    double& v = s.exp_avg_sq[i];
    m = c.beta1 * m + (1 - c.beta1) * g;
    v = c.beta2 * v + (1 - c.beta2) * g * g;
    const double denom = std::sqrt(v / bc2) + c.eps;
    theta = theta - grad_coef * g / denom;
    theta = theta - avg_coef * m / denom;
    param[i] = theta;
  }
}

// torch.optim.RAdam:
//   t <- t + 1;  g <- -g if maximize
//   wd != 0: decoupled: theta <- theta (1 - lr wd);  else g <- g + wd * theta
//   m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;  m_hat = m / (1 - b1^t)
//   rho_inf = 2 / (1 - b2) - 1;  rho_t = rho_inf - 2 t b2^t / (1 - b2^t)
//   rho_t > 5: r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
//              l = sqrt(1 - b2^t) / (sqrt(v) + eps)      (eps on sqrt(v), not on sqrt(v_hat))
//              theta <- theta - lr m_hat r l
//   else:      theta <- theta - lr m_hat                 (no second-moment scaling at all)
// Box and code agree.
void radam_step(const RAdamConfig& c, Vec& param, const Vec& grad, RAdamState& s) {
  const std::size_t n = param.size();
  if (s.step == 0) {
    s.exp_avg.assign(n, 0.0);
    s.exp_avg_sq.assign(n, 0.0);
  }
  s.step += 1;
  const double t = double(s.step);
  const double bc1 = 1 - std::pow(c.beta1, t);
  const double bc2 = 1 - std::pow(c.beta2, t);
  const double rho_inf = 2 / (1 - c.beta2) - 1;
  const double rho_t = rho_inf - 2 * t * std::pow(c.beta2, t) / bc2;
  const bool rectify = rho_t > 5.0;
  const double rect =
      rectify ? std::sqrt((rho_t - 4) * (rho_t - 2) * rho_inf /
                          ((rho_inf - 4) * (rho_inf - 2) * rho_t))
              : 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    double g = c.maximize ? -grad[i] : grad[i];
    double theta = param[i];
    if (c.weight_decay != 0) {
      if (c.decoupled_weight_decay) {
        theta = theta * (1 - c.lr * c.weight_decay);
      } else {
        g = g + c.weight_decay * theta;
      }
    }
    double& m = s.exp_avg[i];
    double& v = s.exp_avg_sq[i];
    m = c.beta1 * m + (1 - c.beta1) * g;
    v = c.beta2 * v + (1 - c.beta2) * g * g;
    const double m_hat = m / bc1;
    if (rectify) {
      const double adaptive = std::sqrt(bc2) / (std::sqrt(v) + c.eps);
      theta = theta - m_hat * c.lr * adaptive * rect;
    } else {
      theta = theta - m_hat * c.lr;
    }
    param[i] = theta;
  }
}

// torch.optim.Adadelta:
//   g <- -g if maximize;  g <- g + wd * theta
//   v <- rho v + (1 - rho) g^2
//   delta = sqrt(u + eps) / sqrt(v + eps) * g      (u = acc_delta before this step)
//   u <- rho u + (1 - rho) delta^2
//   theta <- theta - lr delta
// Box and code agree, except that the box lists no `maximize`; the code negates the gradient
// first.
void adadelta_step(const AdadeltaConfig& c, Vec& param, const Vec& grad, AdadeltaState& s) {
  const std::size_t n = param.size();
  if (s.step == 0) {
    s.square_avg.assign(n, 0.0);
    s.acc_delta.assign(n, 0.0);
  }
  s.step += 1;
  for (std::size_t i = 0; i < n; ++i) {
    const double g = effective_grad(grad[i], param[i], c.weight_decay, c.maximize);
    double& v = s.square_avg[i];
    double& u = s.acc_delta[i];
    v = c.rho * v + (1 - c.rho) * g * g;
    const double std_ = std::sqrt(v + c.eps);
    const double delta = std::sqrt(u + c.eps) / std_ * g;
    u = c.rho * u + (1 - c.rho) * delta * delta;
    param[i] = param[i] - c.lr * delta;
  }
}

// torch.optim.Rprop (prev starts at 0, step_size at lr):
//   g <- -g if maximize;  s = sign(g * prev)
//   factor = eta_plus if s > 0, eta_minus if s < 0, 1 if s == 0
//   step_size <- clamp(step_size * factor, step_size_min, step_size_max)
//   g <- 0 where s < 0
//   theta <- theta - sign(g) step_size;  prev <- g
// Differences from the box: the box has no `maximize`, clamps only one side in each branch
// (min(., max) when growing, max(., min) when shrinking) and leaves the step size untouched when
// s == 0; the code clamps every element to [step_size_min, step_size_max] on every step
// (so a lr outside that range is clamped on the first step). We follow the code. torch zeroes
// the gradient where factor == eta_minus, which is the same as s < 0 because torch requires
// 0 < eta_minus < 1 < eta_plus. Rprop has no weight decay.
void rprop_step(const RpropConfig& c, Vec& param, const Vec& grad, RpropState& s) {
  const std::size_t n = param.size();
  if (s.step == 0) {
    s.prev.assign(n, 0.0);
    s.step_size.assign(n, c.lr);
  }
  s.step += 1;
  for (std::size_t i = 0; i < n; ++i) {
    double g = c.maximize ? -grad[i] : grad[i];
    const double direction = signum(g * s.prev[i]);
    double factor = 1.0;
    if (direction > 0) {
      factor = c.eta_plus;
    } else if (direction < 0) {
      factor = c.eta_minus;
    }
    double& step_size = s.step_size[i];
    step_size = std::min(std::max(step_size * factor, c.step_size_min), c.step_size_max);
    if (direction < 0) g = 0.0;
    param[i] = param[i] - signum(g) * step_size;
    s.prev[i] = g;
  }
}

// torch.optim.ASGD, current implementation (PyTorch 2.x main, eta / mu / step kept as 0-d
// tensors in the optimizer state; non-capturable path):
//   first step: eta <- lr, mu <- 1, ax <- 0
//   t <- t + 1;  g <- -g if maximize;  g <- g + wd * theta       (maximize first, then wd)
//   theta <- theta (1 - lambd eta);  theta <- theta - eta g        (eta of the previous step)
//   ax <- ax + mu (theta - ax) if mu != 1, else ax <- theta
//   eta <- lr / (1 + lambd lr t)^alpha;  mu <- 1 / max(1, t - t0)
// The documentation has no algorithm box for ASGD, only the paper reference. torch's capturable
// path writes the parameter update as addcmul(grad, eta, value=-1), i.e. the same theta - eta g.
// History: the single-tensor formulas above are the same in 1.13 (no `maximize` yet) and all 2.x
// releases; what changed is the bookkeeping (eta / mu / step moved into tensors, a capturable
// path) and the foreach path, which for a while (2.1/2.2-era) computed the non-capturable eta as
// lr / (1 + lambd lr t^alpha) and has since been fixed to the formula above. We follow the
// current single-tensor code. torch stores eta and mu in the default scalar dtype (float32
// unless the default dtype is float64), so torch's eta carries float32 rounding (eta = lr is
// float32(lr) on the first step); we keep them in double.
void asgd_step(const ASGDConfig& c, Vec& param, const Vec& grad, ASGDState& s) {
  const std::size_t n = param.size();
  if (s.step == 0) {
    s.eta = c.lr;
    s.mu = 1.0;
    s.ax.assign(n, 0.0);
  }
  s.step += 1;
  const double t = double(s.step);
  for (std::size_t i = 0; i < n; ++i) {
    const double g = effective_grad(grad[i], param[i], c.weight_decay, c.maximize);
    double theta = param[i] * (1 - c.lambd * s.eta);
    theta = theta - s.eta * g;
    param[i] = theta;
    double& ax = s.ax[i];
    if (s.mu != 1) {
      ax = ax + s.mu * (theta - ax);
    } else {
      ax = theta;
    }
  }
  s.eta = c.lr / std::pow(1 + c.lambd * c.lr * t, c.alpha);
  s.mu = 1 / std::max(1.0, t - c.t0);
}

// Lion (Chen et al. 2023), no torch.optim class; the paper's Program 1 with decoupled weight
// decay:
//   g <- -g if maximize
//   c = b1 m + (1 - b1) g
//   theta <- theta (1 - lr wd) - lr sign(c)      (sign(0) = 0)
//   m <- b2 m + (1 - b2) g
void lion_step(const LionConfig& c, Vec& param, const Vec& grad, LionState& s) {
  const std::size_t n = param.size();
  if (s.step == 0) s.exp_avg.assign(n, 0.0);
  s.step += 1;
  for (std::size_t i = 0; i < n; ++i) {
    const double g = c.maximize ? -grad[i] : grad[i];
    double& m = s.exp_avg[i];
    const double update = c.beta1 * m + (1 - c.beta1) * g;
    param[i] = param[i] * (1 - c.lr * c.weight_decay) - c.lr * signum(update);
    m = c.beta2 * m + (1 - c.beta2) * g;
  }
}

// torch.optim.swa_utils.AveragedModel.update_parameters:
//   n_averaged == 0: averaged <- param (copy; no averaging function is called)
//   EMA (get_ema_multi_avg_fn(decay)): averaged <- lerp(averaged, param, 1 - decay)
//                                               = decay averaged + (1 - decay) param
//   SWA (default when no avg_fn is given: get_swa_multi_avg_fn / get_swa_avg_fn):
//        averaged <- averaged + (param - averaged) / (n_averaged + 1)
//   n_averaged <- n_averaged + 1 (after the update, so SWA sees the count of earlier updates)
// torch applies the SWA weight through foreach lerp on CUDA and the avg_fn form on CPU; both are
// the running mean.
void averaging_update(const AveragingConfig& c, const Vec& param, AveragingState& s) {
  if (s.n_averaged == 0) {
    s.averaged = param;
  } else {
    const std::size_t n = param.size();
    const double swa_weight = 1.0 / double(s.n_averaged + 1);
    for (std::size_t i = 0; i < n; ++i) {
      double& a = s.averaged[i];
      if (c.ema) {
        a = a + (1 - c.decay) * (param[i] - a);
      } else {
        a = a + (param[i] - a) * swa_weight;
      }
    }
  }
  s.n_averaged += 1;
}

}  // namespace fusedopt::reference
