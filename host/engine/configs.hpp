#pragma once
// What each optimizer's host file uses to turn its options into a GroupConfig.
//
// Each optimizer's .cpp defines, in namespace fusedopt, the overload
//   detail::GroupConfig make_group_config(const XOptions&);
// (options -> hyper-parameter slots, mode flags, state count) before including
// optimizer_with_options.hpp, which finds it by argument-dependent lookup.
#include <string_view>
#include <tuple>
#include <type_traits>

#include "host/engine/engine.hpp"
#include "fusedopt/options.hpp"

namespace fusedopt::detail {
/// Throws Error "<where>: <name> must be <rule>, got <value>" unless `ok` (for the rules between
/// options, NOTE(option-rules)).
void require(bool ok, const std::string& where, const char* name, const char* rule, double value);
/// Finite and >= 0; in [0, 1]: Rule::non_negative and Rule::unit_interval for numbers that are
/// not options (a checkpoint's schedule, an averaging decay).
void require_non_negative(const std::string& where, const char* name, double value);
void require_unit_interval(const std::string& where, const char* name, double value);

/// NOTE(slots): a functor's hyper-parameter slots (its `Slot` enum) are its options' numbers in
/// the order the options struct declares them, a pair as its two halves; flags take none. The
/// `_hp` trajectory cases (every number non-default and distinct) fail when the orders differ.
/// Also sets config.maximize from the option `maximize`, the engine's (NOTE(maximize)).
template <class Options>
void set_slots(GroupConfig& config, const Options& options) {
  std::size_t slot = 0;
  for_each_field<Options>([&](auto field) {
    const auto& value = (options.*(field.member)).get();
    using T = std::decay_t<decltype(value)>;
    if constexpr (std::is_same_v<T, double>) {
      config.hyper.at(slot++) = value;
    } else if constexpr (std::is_same_v<T, Pair>) {
      config.hyper.at(slot++) = value.first;
      config.hyper.at(slot++) = value.second;
    } else if constexpr (std::is_same_v<T, bool>) {
      if (std::string_view(field.name) == "maximize") config.maximize = value;
    }
  });
}
}  // namespace fusedopt::detail
