#include <cmath>

#include "host/engine/configs.hpp"
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
void require_unit_interval(const std::string& where, const char* name, double value) {
  require(value >= 0.0 && value <= 1.0, where, name, "in [0, 1]", value);
}
void require_betas(const std::string& where, const Betas& betas) {
  require(betas.first >= 0.0 && betas.first < 1.0, where, "betas.first (beta1)", "in [0, 1)",
          betas.first);
  require(betas.second >= 0.0 && betas.second < 1.0, where, "betas.second (beta2)", "in [0, 1)",
          betas.second);
}
}  // namespace detail

}  // namespace fusedopt
