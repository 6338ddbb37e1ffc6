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

}  // namespace fusedopt
