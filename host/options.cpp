#include <cmath>

#include "configs.hpp"
#include "fusedopt/error.hpp"
#include "fusedopt/options.hpp"

namespace fusedopt {

namespace detail {
void require(bool ok, const std::string& where, const char* name, const char* rule, double value) {
  if (!ok) throw_error(where, ": ", name, " must be ", rule, ", got ", value);
}
void require_non_negative(const std::string& where, const char* name, double value) {
  require(std::isfinite(value) && value >= 0.0, where, name, "finite and >= 0", value);
}
}  // namespace detail

using detail::require;
using detail::require_non_negative;

// ---- SGD -------------------------------------------------------------------------------------

void SGDOptions::inherit(const SGDOptions& d) {
  lr_.inherit(d.lr_);
  momentum_.inherit(d.momentum_);
  dampening_.inherit(d.dampening_);
  weight_decay_.inherit(d.weight_decay_);
  nesterov_.inherit(d.nesterov_);
  maximize_.inherit(d.maximize_);
}

void SGDOptions::validate(const std::string& where) const {
  require_non_negative(where, "lr", lr());
  require_non_negative(where, "momentum", momentum());
  require(std::isfinite(dampening()), where, "dampening", "finite", dampening());
  require_non_negative(where, "weight_decay", weight_decay());
  if (nesterov()) {
    require(momentum() > 0.0, where, "momentum", "> 0 when nesterov is true", momentum());
    require(dampening() == 0.0, where, "dampening", "0 when nesterov is true", dampening());
  }
}

std::optional<double> SGDOptions::get(std::string_view name) const {
  if (name == "lr") return lr();
  if (name == "momentum") return momentum();
  if (name == "dampening") return dampening();
  if (name == "weight_decay") return weight_decay();
  return std::nullopt;
}

bool SGDOptions::set(std::string_view name, double value) {
  if (name == "lr") return lr(value), true;
  if (name == "momentum") return momentum(value), true;
  if (name == "dampening") return dampening(value), true;
  if (name == "weight_decay") return weight_decay(value), true;
  return false;
}

// ---- Adam / AdamW ----------------------------------------------------------------------------

template <class Self>
void AdamFamilyOptions<Self>::inherit(const Self& d) {
  lr_.inherit(d.lr_);
  betas_.inherit(d.betas_);
  eps_.inherit(d.eps_);
  weight_decay_.inherit(d.weight_decay_);
  amsgrad_.inherit(d.amsgrad_);
  maximize_.inherit(d.maximize_);
}

template <class Self>
void AdamFamilyOptions<Self>::validate(const std::string& where) const {
  require_non_negative(where, "lr", lr());
  const auto [beta1, beta2] = betas();
  require(beta1 >= 0.0 && beta1 < 1.0, where, "betas.first (beta1)", "in [0, 1)", beta1);
  require(beta2 >= 0.0 && beta2 < 1.0, where, "betas.second (beta2)", "in [0, 1)", beta2);
  require_non_negative(where, "eps", eps());
  require_non_negative(where, "weight_decay", weight_decay());
}

template <class Self>
std::optional<double> AdamFamilyOptions<Self>::get(std::string_view name) const {
  if (name == "lr") return lr();
  if (name == "beta1") return betas().first;
  if (name == "beta2") return betas().second;
  if (name == "eps") return eps();
  if (name == "weight_decay") return weight_decay();
  return std::nullopt;
}

template <class Self>
bool AdamFamilyOptions<Self>::set(std::string_view name, double value) {
  if (name == "lr") return lr(value), true;
  if (name == "beta1") return betas({value, betas().second}), true;
  if (name == "beta2") return betas({betas().first, value}), true;
  if (name == "eps") return eps(value), true;
  if (name == "weight_decay") return weight_decay(value), true;
  return false;
}

template class AdamFamilyOptions<AdamOptions>;
template class AdamFamilyOptions<AdamWOptions>;

}  // namespace fusedopt
