// libFuzzer target for the checkpoint loaders: bytes -> load_bytes (streaming) and
// parse_state_dict -> load_state_dict into an optimizer of the kind the bytes name (five kinds
// with fixed parameters on the CPU, AdamW over bf16 parameters); both must accept or both
// reject. An averaged-model, scheduler or training-checkpoint file goes to its own loader.
// Every rejection must be fusedopt::Error; anything else (another exception, a sanitizer
// report, a crash) is a finding. A successful load is followed by one step, which must not
// crash either. Built with -DFUSEDOPT_BUILD_FUZZERS=ON and clang (preset "sanitize");
// scripts/sanitize.sh runs it in CI from tests/fuzz/corpus (tests/fuzz/make_corpus.py writes
// the seeds).
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fusedopt/fusedopt.hpp"

namespace {
namespace fo = fusedopt;

/// Parameters of one storage type: f32 (float) or bf16 (its bits); values 0.5, gradients 0.25.
template <class Storage, fo::DType kDType>
struct StoredTensors {
  std::vector<Storage> values, grads;
  std::vector<fo::Param> params;
  StoredTensors(const std::vector<std::int64_t>& sizes, Storage value, Storage grad) {
    std::int64_t total = 0;
    for (std::int64_t n : sizes) total += n;
    values.assign(std::size_t(total), value);
    grads.assign(std::size_t(total), grad);
    std::int64_t at = 0;
    for (std::int64_t n : sizes) {
      params.push_back({{values.data() + at, n, kDType, fo::Device::cpu()},
                        {grads.data() + at, n, kDType, fo::Device::cpu()}});
      at += n;
    }
  }
};

struct Tensors : StoredTensors<float, fo::DType::f32> {
  explicit Tensors(const std::vector<std::int64_t>& sizes) : StoredTensors(sizes, 0.5f, 0.25f) {}
};
/// For bf16-state and master-weight files.
struct Bf16Tensors : StoredTensors<std::uint16_t, fo::DType::bf16> {
  explicit Bf16Tensors(const std::vector<std::int64_t>& sizes)
      : StoredTensors(sizes, 0x3F00, 0x3E80) {}
};

std::vector<fo::TensorView> views(const Tensors& f32, const Bf16Tensors& bf16) {
  std::vector<fo::TensorView> out;
  for (const fo::Param& p : f32.params) out.push_back(p.value);
  for (const fo::Param& p : bf16.params) out.push_back(p.value);
  return out;
}

struct Targets {
  // The shapes of the committed fixtures (tests/fixtures/checkpoints, also seeds): AdamW over
  // bf16 parameters takes their bf16-state and master-weight files, the averaged model theirs.
  Bf16Tensors e{{5, 70, 1}}, h{{9}};
  Tensors f{{5, 70}};
  fo::AdamW adamw{e.params, fo::AdamWOptions().amsgrad(true)};
  fo::AveragedModel averaged{views(f, h), fo::ema_decay(0.75)};

  Tensors a{{0, 3, 5}}, b{{4, 1}}, c{{2}}, d{{3, 3}};
  fo::Adam adam{std::vector<fo::Adam::Group>{{{a.params[0], a.params[1]}, std::nullopt},
                                             {{a.params[2]}, fo::AdamOptions().lr(0.5)}},
                fo::AdamOptions().amsgrad(true)};
  fo::NAdam nadam{b.params};
  fo::ASGD asgd{c.params};
  fo::SGD sgd{d.params, fo::SGDOptions().momentum(0.9)};

  // A training checkpoint's parts: the shapes of tests/fixtures/checkpoints/training_adamw.
  Tensors t{{5, 70, 1}};
  fo::AdamW training_opt{t.params, fo::AdamWOptions().amsgrad(true)};
  fo::StepLR training_sched{training_opt, 2, 0.5};
  fo::AveragedModel training_ema{t.params, fo::ema_decay(0.75)};
  fo::GradScaler training_scaler{fo::Device::cpu()};
  fo::TrainingState training() {
    return {&training_opt, {&training_sched}, {&training_ema}, &training_scaler};
  }

  fo::Optimizer& by_name(const std::string& name) {
    if (name == "NAdam") return nadam;
    if (name == "ASGD") return asgd;
    if (name == "SGD") return sgd;
    if (name == "AdamW") return adamw;
    return adam;
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Targets targets;
  // A training checkpoint, a scheduler's and an averaged model's file go to their loaders
  // (which read files only); a training checkpoint holds the others, so it is tested first.
  const auto contains = [&](const std::string& tag) {
    return std::search(data, data + size, tag.begin(), tag.end()) != data + size;
  };
  const auto from_file = [&](const auto& load) {
    static const std::string path =
        (std::filesystem::temp_directory_path() / ("fuzz_load_" + std::to_string(getpid()))).string();
    if (FILE* file = std::fopen(path.c_str(), "wb")) {
      const bool written = std::fwrite(data, 1, size, file) == size;
      std::fclose(file);
      if (written) {
        try {
          load(path);
        } catch (const fo::Error&) {
        }
      }
    }
    return 0;
  };
  if (contains("fusedopt.training"))
    return from_file([&](const std::string& path) {
      fo::load_training_checkpoint(targets.training(), path);
      targets.training_opt.step();
      targets.training_sched.step();
      targets.training_ema.update();
    });
  if (contains("fusedopt.scheduler"))
    return from_file([&](const std::string& path) {
      targets.training_sched.load(path);
      targets.training_sched.step();
    });
  if (contains("fusedopt.averaged_model"))
    return from_file([&](const std::string& path) {
      targets.averaged.load(path);
      targets.averaged.update();
    });
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
