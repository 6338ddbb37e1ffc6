#pragma once
// fusedopt::Error: the one exception type of the public API.
//
// Contract: every public call validates its input and throws Error with a message that names
// the argument and the bad value. A call that throws leaves the optimizer exactly as it was.
#include <cstddef>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace fusedopt {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
/// `text` for an error message: quoted, control bytes escaped, cut to `limit` bytes with the
/// full length stated, so that strings from a file never flood a message.
std::string printable(std::string_view text, std::size_t limit = 80);

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
