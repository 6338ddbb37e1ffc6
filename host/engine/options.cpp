#include <cmath>

#include "host/engine/configs.hpp"
#include "fusedopt/error.hpp"
#include "fusedopt/options.hpp"

namespace fusedopt::detail {

void require(bool ok, const std::string& where, const char* name, const char* rule, double value) {
  if (!ok) throw_error(where, ": ", name, " must be ", rule, ", got ", value);
}

std::optional<std::string> broken_rule(Rule rule, double value, double first,
                                       const char* first_name) {
  const bool finite = std::isfinite(value);
  switch (rule) {
    case Rule::any: return std::nullopt;
    case Rule::finite:
      if (finite) return std::nullopt;
      return "finite";
    case Rule::non_negative:
      if (finite && value >= 0.0) return std::nullopt;
      return "finite and >= 0";
    case Rule::unit_interval:
      if (value >= 0.0 && value <= 1.0) return std::nullopt;
      return "in [0, 1]";
    case Rule::beta:
      if (value >= 0.0 && value < 1.0) return std::nullopt;
      return "in [0, 1)";
    case Rule::open_unit:
      if (value > 0.0 && value < 1.0) return std::nullopt;
      return "in (0, 1)";
    case Rule::above_one:
      if (finite && value > 1.0) return std::nullopt;
      return "finite and > 1";
    case Rule::at_least_first:
      if (finite && value >= first) return std::nullopt;
      return std::string(">= ") + first_name + " and finite";
  }
  return "a known rule";  // not reached: every Rule is handled above
}

void require_non_negative(const std::string& where, const char* name, double value) {
  if (auto rule = broken_rule(Rule::non_negative, value))
    throw_broken_rule(where, name, *rule, value);
}

void require_unit_interval(const std::string& where, const char* name, double value) {
  if (auto rule = broken_rule(Rule::unit_interval, value))
    throw_broken_rule(where, name, *rule, value);
}

void throw_broken_rule(const std::string& where, const std::string& name, const std::string& rule,
                       double value) {
  throw_error(where, ": ", name, " must be ", rule, ", got ", value);
}

}  // namespace fusedopt::detail
