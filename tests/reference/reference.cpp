#include "reference.hpp"

#include <algorithm>
#include <cmath>

namespace fusedopt::reference {

// torch.optim.SGD. The documentation box applies `maximize` to the final update; torch's code
// (_single_tensor_sgd) negates the gradient first and adds weight decay afterwards. We follow
// the code, which is what users' runs do.
void sgd_step(const SGDConfig& c, Vec& param, const Vec& grad, SGDState& state) {
  const std::size_t n = param.size();
  const bool first = state.momentum_buffer.empty();
  if (c.momentum != 0 && first) state.momentum_buffer.assign(n, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    double d_p = c.maximize ? -grad[i] : grad[i];
    if (c.weight_decay != 0) d_p = d_p + c.weight_decay * param[i];
    if (c.momentum != 0) {
      double& buf = state.momentum_buffer[i];
      if (first) {
        buf = d_p;
      } else {
        buf = c.momentum * buf + (1 - c.dampening) * d_p;
      }
      d_p = c.nesterov ? d_p + c.momentum * buf : buf;
    }
    param[i] = param[i] - c.lr * d_p;
  }
  state.step += 1;
}

// torch.optim.Adam / AdamW, documentation algorithm:
//   g <- -g if maximize;  Adam: g <- g + wd * theta;  AdamW: theta <- theta - lr * wd * theta
//   m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
//   m_hat = m / (1 - b1^t);  amsgrad: v_max <- max(v_max, v), v_hat = v_max / (1 - b2^t)
//   else v_hat = v / (1 - b2^t);  theta <- theta - lr m_hat / (sqrt(v_hat) + eps)
void adam_step(const AdamConfig& c, Vec& param, const Vec& grad, AdamState& s) {
  const std::size_t n = param.size();
  if (s.step == 0) {
    s.exp_avg.assign(n, 0.0);
    s.exp_avg_sq.assign(n, 0.0);
    if (c.amsgrad) s.max_exp_avg_sq.assign(n, 0.0);
  }
  s.step += 1;
  const double t = double(s.step);
  const double bc1 = 1 - std::pow(c.beta1, t);
  const double bc2 = 1 - std::pow(c.beta2, t);
  for (std::size_t i = 0; i < n; ++i) {
    double g = c.maximize ? -grad[i] : grad[i];
    double theta = param[i];
    if (c.decoupled_weight_decay) {
      theta = theta - c.lr * c.weight_decay * theta;
    } else if (c.weight_decay != 0) {
      g = g + c.weight_decay * theta;
    }
    double& m = s.exp_avg[i];
    double& v = s.exp_avg_sq[i];
    m = c.beta1 * m + (1 - c.beta1) * g;
    v = c.beta2 * v + (1 - c.beta2) * g * g;
    const double m_hat = m / bc1;
    double v_hat;
    if (c.amsgrad) {
      double& vmax = s.max_exp_avg_sq[i];
      vmax = std::max(vmax, v);
      v_hat = vmax / bc2;
    } else {
      v_hat = v / bc2;
    }
    param[i] = theta - c.lr * m_hat / (std::sqrt(v_hat) + c.eps);
  }
}

}  // namespace fusedopt::reference
