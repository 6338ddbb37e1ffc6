#pragma once
// Validation helpers shared by the options structs.
//
// Each optimizer's .cpp also defines, in namespace fusedopt, the overload
//   detail::GroupConfig make_group_config(const XOptions&);
// (options -> hyper-parameter slots, mode flags, state count) before including
// optimizer_with_options.hpp, which finds it by argument-dependent lookup.
#include "engine.hpp"
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
}  // namespace fusedopt::detail
