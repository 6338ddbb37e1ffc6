#pragma once
// Options -> the engine's per-group config (hyper-parameter slots, mode flags, state count).
// One overload per optimizer, next to its launch code.
#include "engine.hpp"
#include "fusedopt/options.hpp"

namespace fusedopt::detail {
GroupConfig make_config(const SGDOptions& options);
GroupConfig make_config(const AdamOptions& options);
GroupConfig make_config(const AdamWOptions& options);

/// Throws Error "<where>: <name> must be <rule>, got <value>" unless `ok`.
void require(bool ok, const std::string& where, const char* name, const char* rule, double value);
/// Finite and >= 0.
void require_non_negative(const std::string& where, const char* name, double value);
}  // namespace fusedopt::detail
