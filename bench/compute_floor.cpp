// The CPU executor's fused step with its data in cache: what the loop costs in instructions
// alone, beside what the memory system allows (fusedopt_bench's same-traffic ceiling). Prints a
// Markdown table of ns per element per core for SGD momentum and AdamW in f32, bf16 (fp32
// state) and bf16 with bf16 state, and the same for a loop that does only AdamW's square root
// and two divisions: the floor any IEEE-exact AdamW loop has on this core.
//
//   build/cpu/bench/compute_floor [steps]
//
// Each step updates one tensor of one 64K-element chunk per thread (the CPU executor gives each
// thread one chunk), small enough to stay in each core's L2; the time is the best of 5 runs of
// `steps` steps (default 2000), without a cache flush. A row whose ns per element per core is
// above the memory-bound time of its bytes (bytes / (ceiling GB/s / cores)) cannot reach the
// ceiling however the memory system behaves: the loop is instruction-bound.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "fusedopt/fusedopt.hpp"
#include "kernels/engine/config.h"
#include "kernels/engine/cpu_isa.h"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace fo = fusedopt;

namespace {

double seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

/// Best time of 5 runs of `steps` calls, per call.
double best_time(const std::function<void()>& call, int steps) {
  for (int i = 0; i < 50; ++i) call();
  double best = 1e30;
  for (int run = 0; run < 5; ++run) {
    const double start = seconds();
    for (int i = 0; i < steps; ++i) call();
    best = std::min(best, (seconds() - start) / steps);
  }
  return best;
}

enum class Mode { f32, bf16, bf16_state };

const char* name(Mode m) {
  return m == Mode::f32 ? "f32" : m == Mode::bf16 ? "bf16, fp32 state" : "bf16 + bf16 state";
}

/// Bytes per element of the fused step: parameter and gradient, and `states` state tensors.
int bytes_per_element(Mode m, int states) {
  const int value = m == Mode::f32 ? 4 : 2;
  const int state = m == Mode::bf16_state ? 2 : 4;
  return 2 * value + value + 2 * states * state;  // p read + written, g read, states read + written
}

struct Row {
  std::string optimizer;
  Mode mode;
  int states;
  double ns_per_element_per_core;
};

template <class Optimizer, class Options>
Row time_optimizer(const std::string& label, const Options& options, Mode mode, int states,
                   int steps) {
  const std::int64_t n = std::int64_t(threads()) * fusedopt::kernels::kChunkSize;
  std::vector<float> wf(std::size_t(n), 0.5f), gf(std::size_t(n), 0.01f);
  std::vector<std::uint16_t> wb(std::size_t(n), 0x3f00), gb(std::size_t(n), 0x3c23);
  const bool narrow = mode != Mode::f32;
  const fo::TensorView w = narrow ? fo::TensorView{wb.data(), n, fo::DType::bf16, fo::Device::cpu()}
                                  : fo::TensorView{wf.data(), n, fo::DType::f32, fo::Device::cpu()};
  const fo::TensorView g = narrow ? fo::TensorView{gb.data(), n, fo::DType::bf16, fo::Device::cpu()}
                                  : fo::TensorView{gf.data(), n, fo::DType::f32, fo::Device::cpu()};
  Optimizer opt({{w, g}}, options);
  if (mode == Mode::bf16_state) {
    fo::Precision precision;
    precision.state_dtype = fo::DType::bf16;
    opt.set_precision(precision);
  }
  const double t = best_time([&] { opt.step(); }, steps);
  return {label, mode, states, t * 1e9 * threads() / double(n)};
}

/// AdamW's square root and two divisions per element, nothing else, over 4096 elements in L1.
struct DividerLoop {
  static FUSEDOPT_CPU_LOOP void run(float* __restrict p, const float* __restrict m,
                                    const float* __restrict v, int n) {
    for (int i = 0; i < n; ++i) p[i] = p[i] - 1e-9f * m[i] / (std::sqrt(v[i]) / 0.9f + 1e-8f);
  }
};

double divider_floor(int steps) {
  constexpr int kN = 4096;
  std::vector<float> p(kN, 1.0f), m(kN, 0.1f), v(kN);
  for (int i = 0; i < kN; ++i) v[std::size_t(i)] = 0.01f + float(i) * 1e-6f;
  float* pp = p.data();
  const float* mp = m.data();
  const float* vp = v.data();
  const double t = best_time(
      [&] { fusedopt::kernels::run_cpu_loop<DividerLoop>(pp, mp, vp, kN); }, steps * 4);
  return t * 1e9 / kN;
}

}  // namespace

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::max(1, std::atoi(argv[1])) : 2000;
  std::vector<Row> rows;
  for (Mode mode : {Mode::f32, Mode::bf16, Mode::bf16_state}) {
    rows.push_back(time_optimizer<fo::SGD>("SGD momentum", fo::SGDOptions().lr(1e-2).momentum(0.9),
                                           mode, 1, steps));
    rows.push_back(time_optimizer<fo::AdamW>("AdamW", fo::AdamWOptions(), mode, 2, steps));
  }
  std::printf("CPU executor, loops at the %s level, %d threads, one 64K-element chunk per "
              "thread in cache\n\n",
              fusedopt::kernels::to_string(fusedopt::kernels::active_cpu_isa()), threads());
  std::printf("| fused step | mode | bytes / element | ns / element / core |\n");
  std::printf("| --- | --- | ---: | ---: |\n");
  for (const Row& r : rows)
    std::printf("| %s | %s | %d | %.3f |\n", r.optimizer.c_str(), name(r.mode),
                bytes_per_element(r.mode, r.states), r.ns_per_element_per_core);
  std::printf("| sqrt + 2 div only (one core, L1) | f32 | - | %.3f |\n", divider_floor(steps));
  return 0;
}
