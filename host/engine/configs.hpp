#pragma once
// Validation helpers shared by the options structs.
//
// Each optimizer's .cpp also defines, in namespace fusedopt, the overload
//   detail::GroupConfig make_group_config(const XOptions&);
// (options -> hyper-parameter slots, mode flags, state count) before including
// optimizer_with_options.hpp, which finds it by argument-dependent lookup.
#include "host/engine/engine.hpp"
#include "fusedopt/options.hpp"

namespace fusedopt::detail {
/// Throws Error "<where>: <name> must be <rule>, got <value>" unless `ok`.
void require(bool ok, const std::string& where, const char* name, const char* rule, double value);
/// Finite and >= 0.
void require_non_negative(const std::string& where, const char* name, double value);
/// In [0, 1].
void require_unit_interval(const std::string& where, const char* name, double value);
/// Both in [0, 1), as torch checks betas.
void require_betas(const std::string& where, const Betas& betas);

/// Validates the options every Adam-family optimizer has: lr, betas, eps, weight_decay.
template <class Options>
void validate_adam_family(const Options& o, const std::string& where) {
  require_non_negative(where, "lr", o.lr());
  require_betas(where, o.betas());
  require_non_negative(where, "eps", o.eps());
  require_non_negative(where, "weight_decay", o.weight_decay());
}

/// Fills the slots every Adam-family functor has (kLr, kBeta1, kBeta2, kEps, kWeightDecay).
template <class Op, class Options>
void set_adam_family_slots(GroupConfig& config, const Options& o) {
  config.hyper[Op::kLr] = o.lr();
  config.hyper[Op::kBeta1] = o.betas().first;
  config.hyper[Op::kBeta2] = o.betas().second;
  config.hyper[Op::kEps] = o.eps();
  config.hyper[Op::kWeightDecay] = o.weight_decay();
}
}  // namespace fusedopt::detail
