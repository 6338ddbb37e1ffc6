#include "host/engine/emulated_device.hpp"

#include <algorithm>
#include <atomic>
#include <numeric>
#include <random>

#include "fusedopt/error.hpp"

namespace fusedopt::detail {

namespace {
std::atomic<bool> g_enabled{false};
std::atomic<std::uint64_t> g_seed{0};
std::atomic<std::uint64_t> g_draws{0};
}  // namespace

void set_emulated_device(bool enabled, std::uint64_t seed) {
  if (enabled && !FUSEDOPT_EMULATED_DEVICE)
    throw_error("the emulated device was left out of this build of fusedopt: configure with "
                "-DFUSEDOPT_EMULATED_DEVICE=ON (NOTE(build-what-you-use))");
  g_seed = seed;
  g_draws = 0;
  g_enabled = enabled;
}

bool emulated_device() { return g_enabled.load(std::memory_order_relaxed); }

std::vector<std::int64_t> emulated_order(std::int64_t count) {
  std::vector<std::int64_t> order(std::size_t(std::max<std::int64_t>(count, 0)));
  std::iota(order.begin(), order.end(), std::int64_t(0));
  std::mt19937_64 rng(g_seed.load() ^ (0x9E3779B97F4A7C15ull * (g_draws.fetch_add(1) + 1)));
  std::shuffle(order.begin(), order.end(), rng);
  return order;
}

}  // namespace fusedopt::detail
