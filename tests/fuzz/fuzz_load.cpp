// libFuzzer target for the checkpoint loaders: bytes -> load_bytes (streaming) and
// parse_state_dict -> load_state_dict into an optimizer of the kind the bytes name (four kinds
// with fixed parameters on the CPU); both must accept or both reject.
// Every rejection must be fusedopt::Error; anything else (another exception, a sanitizer
// report, a crash) is a finding. A successful load is followed by one step, which must not
// crash either. Built with -DFUSEDOPT_BUILD_FUZZERS=ON and clang (preset "sanitize");
// scripts/sanitize.sh runs it in CI from tests/fuzz/corpus (tests/fuzz/make_corpus.py writes
// the seeds).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fusedopt/fusedopt.hpp"

namespace {
namespace fo = fusedopt;

struct Tensors {
  std::vector<float> values, grads;
  std::vector<fo::Param> params;
  explicit Tensors(const std::vector<std::int64_t>& sizes) {
    std::int64_t total = 0;
    for (std::int64_t n : sizes) total += n;
    values.assign(std::size_t(total), 0.5f);
    grads.assign(std::size_t(total), 0.25f);
    std::int64_t at = 0;
    for (std::int64_t n : sizes) {
      params.push_back({{values.data() + at, n, fo::DType::f32, fo::Device::cpu()},
                        {grads.data() + at, n, fo::DType::f32, fo::Device::cpu()}});
      at += n;
    }
  }
};

struct Targets {
  Tensors a{{0, 3, 5}}, b{{4, 1}}, c{{2}}, d{{3, 3}};
  fo::Adam adam{std::vector<fo::Adam::Group>{{{a.params[0], a.params[1]}, std::nullopt},
                                             {{a.params[2]}, fo::AdamOptions().lr(0.5)}},
                fo::AdamOptions().amsgrad(true)};
  fo::NAdam nadam{b.params};
  fo::ASGD asgd{c.params};
  fo::SGD sgd{d.params, fo::SGDOptions().momentum(0.9)};

  fo::Optimizer& by_name(const std::string& name) {
    if (name == "NAdam") return nadam;
    if (name == "ASGD") return asgd;
    if (name == "SGD") return sgd;
    return adam;
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Targets targets;
  // The streaming loader (load_bytes) first: it must reject exactly what the whole-StateDict
  // path rejects, so both run on the same optimizer and their verdicts are compared.
  fo::StateDict state;
  bool parsed = true;
  try {
    state = fo::parse_state_dict(data, size);
  } catch (const fo::Error&) {
    parsed = false;
  }
  fo::Optimizer& opt = targets.by_name(parsed ? state.optimizer : std::string("Adam"));
  bool streamed = true;
  try {
    opt.load_bytes(data, size);
  } catch (const fo::Error&) {
    streamed = false;
  }
  bool loaded = false;
  if (parsed) {
    try {
      opt.load_state_dict(state);
      loaded = true;
    } catch (const fo::Error&) {
    }
  }
  if (streamed != loaded) __builtin_trap();  // the two loaders disagree
  if (loaded) opt.step();
  return 0;
}
