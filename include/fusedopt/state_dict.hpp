#pragma once
// torch.optim's state_dict() in memory, and its file form (safetensors with JSON metadata).
//
// NOTE(checkpoint): a StateDict has torch's structure: "param_groups" (each group's options
// under torch's names, initial_lr when a scheduler set it, and the indices of its parameters)
// and "state" (per parameter that has taken a step: "step" and the state tensors under torch's
// names). A file written by save() is a safetensors file: every state tensor as
// "state.<index>.<name>" (fp32, 1-D; step as a 0-d fp32 tensor; NAdam's mu_product and ASGD's
// eta as 0-d fp64), and in the header's "__metadata__" the format tag, the optimizer's name and
// the param_groups as a JSON string. tools/torch_state_dict.py converts to and from torch.save.
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fusedopt/options.hpp"
#include "fusedopt/tensor.hpp"

namespace fusedopt {

/// How a param group stores what its step computes in fp32 (NOTE(master-weights),
/// NOTE(stochastic-rounding)); not a torch option (torch's nearest analogues are apex
/// FusedAdam's master_weights and torchao's bf16_stochastic_round).
struct Precision {
  /// An fp32 master copy of each f16/bf16 parameter of the group: the step reads and updates
  /// the master and writes the parameter rounded to nearest from it. f32 parameters have none.
  bool master_weights = false;
  /// bf16 parameters without a master copy are stored stochastically rounded, from a Philox
  /// stream keyed by `seed`, the parameter, the element and the step count.
  bool stochastic_rounding = false;
  std::uint64_t seed = 0;
  /// The optimizer state of the group's bf16 parameters: f32, or bf16 (computed in fp32 and
  /// rounded on store, stochastically under stochastic_rounding). f32 and f16 parameters keep
  /// fp32 state.
  DType state_dtype = DType::f32;
  bool operator==(const Precision& o) const {
    return master_weights == o.master_weights && stochastic_rounding == o.stochastic_rounding &&
           seed == o.seed && state_dtype == o.state_dtype;
  }
  bool operator!=(const Precision& o) const { return !(*this == o); }
};

/// torch's state_dict()["param_groups"][i].
struct GroupState {
  HyperMap options;                  // every option of the optimizer, by torch name
  std::optional<double> initial_lr;  // set by LR schedulers
  /// "master_weights", "stochastic_rounding", "rounding_seed", "state_dtype" in the file;
  /// absent (a torch state): loading keeps the optimizer's own.
  std::optional<Precision> precision;
  std::vector<std::int64_t> params;  // the group's parameter ids (0, 1, ... in order)
};

/// torch's state_dict()["state"][id]: a parameter's optimizer state.
struct ParamState {
  double step = 0;  // an integer (kept as fp32 on the device, as torch does)
  std::map<std::string, std::vector<float>> tensors;  // "exp_avg", ...: numel elements each
  /// Scalar state: NAdam's "mu_product", ASGD's "eta". (ASGD's "mu" is a function of step and
  /// t0, recomputed every step, and not stored.)
  std::map<std::string, double> scalars;
};

/// NOTE(step-settings): what the optimizer as a whole sets that changes what a step computes,
/// beyond torch's state_dict: saved so that a resumed run steps as the saved one did. In the
/// file, the metadata's "settings" (a JSON object of these keys; error_if_nonfinite may be
/// absent: false). A state
/// without it (a torch state, or a file written before fusedopt saved it) leaves the
/// optimizer's own settings as they are. Loss scaling lives in the GradScaler, whose state
/// saves beside (TrainingCheckpoint in training_checkpoint.hpp).
struct StepSettings {
  Impl impl = Impl::Fused;                  // set_impl
  std::optional<double> max_norm;           // set_grad_clipping; nullopt: off
  double norm_type = 2.0;                   // "inf" in the file for INFINITY
  bool error_if_nonfinite = false;          // set_grad_clipping's third argument
  std::vector<std::int64_t> disabled;       // set_param_enabled(false): parameter ids, ascending
  bool operator==(const StepSettings& o) const {
    return impl == o.impl && max_norm == o.max_norm && norm_type == o.norm_type &&
           error_if_nonfinite == o.error_if_nonfinite && disabled == o.disabled;
  }
  bool operator!=(const StepSettings& o) const { return !(*this == o); }
};

/// torch.optim.Optimizer.state_dict(), plus the optimizer's name and its step settings.
struct StateDict {
  std::string optimizer;  // torch's class name: "AdamW"
  std::vector<GroupState> param_groups;
  std::map<std::int64_t, ParamState> state;  // parameters that have taken a step
  std::optional<StepSettings> settings;      // NOTE(step-settings); nullopt: keep the optimizer's
};

/// Writes `state` to `path` as a safetensors file (NOTE(checkpoint)), atomically: into a
/// temporary file beside it, flushed, then renamed over `path`. On error `path` is untouched.
void write_state_dict(const StateDict& state, const std::string& path);
/// Reads a file written by write_state_dict (or tools/torch_state_dict.py). Every length,
/// offset, dtype and shape is checked; a damaged file throws Error.
StateDict read_state_dict(const std::string& path);
/// As read_state_dict, from the file's bytes in memory.
StateDict parse_state_dict(const void* data, std::size_t size);

/// AveragedModel's state: n_averaged and the averaged copies, each in its parameter's dtype
/// (raw little-endian bytes).
struct AveragedState {
  std::int64_t n_averaged = 0;
  std::vector<DType> dtypes;
  std::vector<std::vector<unsigned char>> averaged;
};

}  // namespace fusedopt
