#pragma once
// fusedopt::Error: the one exception type of the public API.
//
// Contract: every public call validates its input and throws Error with a message that names
// the argument and the bad value. A call that throws leaves the optimizer exactly as it was.
#include <sstream>
#include <stdexcept>
#include <string>

namespace fusedopt {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
// Builds a message from any streamable pieces: throw_error("lr must be >= 0, got ", lr).
template <class... Parts>
[[noreturn]] void throw_error(const Parts&... parts) {
  std::ostringstream os;
  os.precision(17);
  (os << ... << parts);
  throw Error(os.str());
}
}  // namespace detail

}  // namespace fusedopt
