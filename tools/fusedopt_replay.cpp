// fusedopt_replay: resumes a run from a checkpoint on the CPU, for tests that compare with
// torch (tests/torch_interop.py) and for inspecting checkpoints.
//
//   fusedopt_replay CHECKPOINT DATA FROM TO OUT_CHECKPOINT OUT_PARAMS
//
// CHECKPOINT is a fusedopt optimizer file: its optimizer name and param_groups (with every
// option) build the optimizer, then its state is loaded (it may have none). DATA is a
// safetensors file with "param.<id>" (F32, the values at step FROM) and "grad.<s>.<id>" (F32)
// for every step s in [FROM, TO). The tool runs those steps, saves the optimizer to
// OUT_CHECKPOINT and the parameters to OUT_PARAMS as "param.<id>".
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "fusedopt/fusedopt.hpp"
#include "host/io/safetensors.hpp"

namespace fo = fusedopt;

namespace {

using Factory = std::function<std::unique_ptr<fo::Optimizer>(const fo::StateDict&,
                                                             const std::vector<fo::Param>&)>;

/// The optimizer a checkpoint describes: every group with its own (complete) options.
template <class Options>
std::unique_ptr<fo::Optimizer> make(const fo::StateDict& state,
                                    const std::vector<fo::Param>& params) {
  using Opt = fo::FusedOptimizer<Options>;
  std::vector<typename Opt::Group> groups;
  for (std::size_t g = 0; g < state.param_groups.size(); ++g) {
    typename Opt::Group group;
    for (std::int64_t id : state.param_groups[g].params)
      group.params.push_back(params.at(std::size_t(id)));
    group.options = fo::detail::options_from_map<Options>(
        state.param_groups[g].options, "param_groups[" + std::to_string(g) + "]");
    groups.push_back(std::move(group));
  }
  auto opt = std::make_unique<Opt>(std::move(groups));
  opt->load_state_dict(state);
  return opt;
}

template <class Class, class Options>
void add_factory(std::map<std::string, Factory>& table) {
  if constexpr (std::is_same_v<Class, fo::FusedOptimizer<Options>>)
    table.emplace(Options::kOptimizer, make<Options>);
}

/// Every optimizer of cmake/optimizers.cmake whose checkpoint holds only its options: the
/// FusedOptimizer classes (AdamWScheduleFree also saves its schedule).
const std::map<std::string, Factory>& factories() {
  static const std::map<std::string, Factory> table = [] {
    std::map<std::string, Factory> t;
#define FUSEDOPT_REPLAY_ENTRY(Class, Options) add_factory<fo::Class, fo::Options>(t);
    FUSEDOPT_FOR_EACH_OPTIMIZER(FUSEDOPT_REPLAY_ENTRY)
#undef FUSEDOPT_REPLAY_ENTRY
    return t;
  }();
  return table;
}

std::vector<float> floats(const fo::detail::SafeTensor& t, const std::string& name) {
  if (t.dtype != "F32") throw fo::Error(name + " must be F32, got " + t.dtype);
  std::vector<float> out(t.bytes.size() / sizeof(float));
  if (!out.empty()) std::memcpy(out.data(), t.bytes.data(), t.bytes.size());
  return out;
}

int run(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: %s CHECKPOINT DATA FROM TO OUT_CHECKPOINT OUT_PARAMS\n", argv[0]);
    return 2;
  }
  const fo::StateDict state = fo::read_state_dict(argv[1]);
  const std::vector<unsigned char> bytes = fo::detail::read_file(argv[2]);
  const fo::detail::SafeTensors data = fo::detail::decode_safetensors(bytes.data(), bytes.size());
  const int from = std::stoi(argv[3]), to = std::stoi(argv[4]);

  std::size_t num_params = 0;
  for (const fo::GroupState& g : state.param_groups) num_params += g.params.size();
  std::vector<std::vector<float>> values(num_params), grads(num_params);
  std::vector<fo::Param> params;
  for (std::size_t i = 0; i < num_params; ++i) {
    const std::string name = "param." + std::to_string(i);
    values[i] = floats(data.tensors.at(name), name);
    grads[i].assign(values[i].size(), 0.0f);
    const auto n = std::int64_t(values[i].size());
    params.push_back({{values[i].data(), n, fo::DType::f32, fo::Device::cpu()},
                      {grads[i].data(), n, fo::DType::f32, fo::Device::cpu()}});
  }
  const auto factory = factories().find(state.optimizer);
  if (factory == factories().end()) throw fo::Error("unknown optimizer " + state.optimizer);
  std::unique_ptr<fo::Optimizer> opt = factory->second(state, params);

  for (int s = from; s < to; ++s) {
    for (std::size_t i = 0; i < num_params; ++i) {
      const std::string name = "grad." + std::to_string(s) + "." + std::to_string(i);
      const std::vector<float> g = floats(data.tensors.at(name), name);
      if (g.size() != grads[i].size()) throw fo::Error(name + " has the wrong size");
      std::copy(g.begin(), g.end(), grads[i].begin());  // in place: params point here
    }
    opt->step();
  }
  opt->save(argv[5]);
  fo::detail::SafeTensors out;
  for (std::size_t i = 0; i < num_params; ++i) {
    fo::detail::SafeTensor t{"F32",
                             {std::int64_t(values[i].size())},
                             std::vector<unsigned char>(values[i].size() * sizeof(float))};
    if (!values[i].empty()) std::memcpy(t.bytes.data(), values[i].data(), t.bytes.size());
    out.tensors["param." + std::to_string(i)] = std::move(t);
  }
  fo::detail::write_file_atomically(argv[6], fo::detail::encode_safetensors(out));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fusedopt_replay: %s\n", e.what());
    return 1;
  }
}
