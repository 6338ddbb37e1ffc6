#pragma once
// The optimizer's machinery, independent of the algorithm: parameter validation, optimizer
// state, the launch plan and the device scalars.
//
// NOTE(device-scalars): each group's hyper-parameters (kernels::GroupScalars) and each
// parameter's step count live in one small buffer on the parameters' device. The kernels read
// them by pointer; setting a hyper-parameter is a stream-ordered copy into that buffer, so the
// next step sees it without a plan rebuild or a synchronisation.
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "fusedopt/optimizer.hpp"
#include "kernels/engine/plan.h"
#include "host/engine/memory.hpp"

namespace fusedopt::detail {

/// What an algorithm tells the engine about one group.
struct GroupConfig {
  std::array<double, kernels::kMaxHyper> hyper{};
  std::uint32_t flags = 0;  // the functor's Flag bits
  bool maximize = false;    // NOTE(maximize): the engine negates the gradient as it loads it
  int num_states = 0;  // float state tensors per parameter
  std::array<float, kernels::kMaxStates> state_init{};  // initial value of each state tensor
  std::array<const char*, kernels::kMaxStates> state_names{};  // torch's state keys
  const char* param_state_name = nullptr;  // torch's key of StepScalars::param_state, if used
};

/// Everything an Engine keeps per parameter, on the host: what state_dict() reads and
/// load_state_dict() writes back.
struct EngineState {
  std::vector<float> steps;                      // per parameter, in parameter order
  std::vector<double> param_states;              // per parameter
  std::vector<std::vector<float>> group_states;  // each group's state buffer (see StateLayout)
};

/// Where a group's state tensors live in its buffer, in bytes: state k of parameter i starts at
/// k * stride + slots[i] and holds dtypes[i] elements (NOTE(state-dtype)); every slot is a
/// multiple of 32 bytes, so that each state tensor is vector-aligned.
struct StateLayout {
  std::int64_t stride = 0;
  std::vector<std::int64_t> slots;
  std::vector<DType> dtypes;
};
/// The layout of `params`' state under `precision`: bf16 state for bf16 parameters when
/// precision.state_dtype is bf16, fp32 otherwise.
StateLayout make_state_layout(const std::vector<Param>& params, const Precision& precision);
/// Writes state tensor `state` of parameter `index` into a state buffer of `layout` (memory of
/// `device`), from floats rounded to the parameter's state dtype (stream-ordered).
void write_state_to(void* buffer, const StateLayout& layout, std::size_t index, int state,
                    const std::vector<float>& values, Device device, Stream stream);

/// "[exp_avg, exp_avg_sq]": the state tensors a config gives each parameter.
std::string state_names_of(const GroupConfig& config);
/// Throws Error unless `next` keeps the state tensors of `now` (options may change a group's
/// hyper-parameters but not which state it has).
void check_same_state_layout(std::size_t group, const GroupConfig& now, const GroupConfig& next);

/// Most elements a view, and all of an optimizer's parameters together, may have: keeps every
/// size, offset and chunk count far from overflow (4 TiB of fp32).
constexpr std::int64_t kMaxElements = std::int64_t(1) << 40;

/// Throws Error naming `name` unless `view` is a valid view (numel >= 0, known dtype, existing
/// device, non-null and element-aligned data when numel > 0, memory of that device).
void check_view(const TensorView& view, const std::string& name);

/// One tensor of a segment, host side: Impl::Loop launches per tensor, and the byte model.
struct TensorInfo {
  std::int64_t chunk_begin;  // its chunks in the plan: [chunk_begin, chunk_end)
  std::int64_t chunk_end;
  std::int64_t numel;
  std::int32_t group;
  int num_states;
  std::int32_t param;  // StepScalars index
};

/// Everything one dtype segment's step needs.
struct SegmentLaunch {
  kernels::PlanView plan;
  kernels::StepScalars scalars;
  kernels::Segment segment;
  DType dtype;          // the parameters' (and gradients') dtype
  bool master_weights;  // NOTE(master-weights): list 0 is every tensor's fp32 master
  bool bf16_state;      // NOTE(state-dtype): the state lists are bf16
  bool stochastic;      // NOTE(stochastic-rounding): some group of the segment rounds so
  bool maximize;        // NOTE(maximize): some group of the segment maximizes
  Device device;
  Stream stream;
  Impl impl;
  std::vector<TensorInfo> tensors;                // plan order
  const kernels::GroupScalars* host_groups;       // host copy of every group's scalars
  /// NOTE(amp), NOTE(maximize): whether the fused step runs the kernel that applies GradFactors
  /// (kUnscale). The kernel is chosen at launch (a captured step keeps its choice).
  bool applies_grad_factors() const { return kernels::may_scale_grads(scalars) || maximize; }
};

class Engine {
 public:
  /// Validates `params` as groups first_index.. and commits them; on error nothing changes.
  void add_groups(const std::vector<std::vector<Param>>& params,
                  const std::vector<GroupConfig>& configs);
  /// A new config for an existing group; `config.num_states` must match.
  void update_group(std::size_t group, const GroupConfig& config);
  /// NOTE(rebind): every group's parameters as they are to be (each of the same size and dtype
  /// as now, at any address), validated as add_groups validates; returns which groups changed.
  std::vector<bool> check_rebind(const std::vector<std::vector<Param>>& params) const;
  /// Commits what check_rebind accepted: the changed entries of the address table are
  /// rewritten in place. State, masters, options and the plan stay.
  void rebind(const std::vector<std::vector<Param>>& params, const std::vector<bool>& changed);

  /// One SegmentLaunch per storage dtype present; built with the plan, so the step path does
  /// no host allocation.
  const std::vector<SegmentLaunch>& segments() const { return launches_; }
  void zero_grad() const;
  /// NOTE(amp) in kernels/engine/plan.h: fp32 scalars on the device, or nullptr.
  void set_amp(const float* grad_scale, const float* found_inf);
  /// NOTE(clip): the device scalar holding the gradients' global norm that every later step
  /// clips them by (to max_norm), or nullptr.
  void set_grad_clip(const float* norm, float max_norm);
  const float* grad_scale() const { return scalars_.view.grad_scale; }
  const float* found_inf() const { return scalars_.view.found_inf; }

  std::size_t num_groups() const { return groups_.size(); }
  std::size_t num_params() const { return num_params_; }
  const std::vector<Param>& params(std::size_t group) const { return groups_[group].params; }
  Device device() const { return device_; }
  Stream stream() const { return stream_; }
  void set_stream(Stream stream);
  /// Switches implementation; Loop and Foreach need `num_temps` fp32 temporaries per element,
  /// allocated here (strong guarantee).
  void set_impl(Impl impl, int num_temps);
  Impl impl() const { return impl_; }
  /// Step count of a parameter (synchronizes).
  float step_count(std::size_t group, std::size_t index) const;
  /// Scalar state (StepScalars::param_state) of a parameter (synchronizes).
  double param_state(std::size_t group, std::size_t index) const;
  /// Copy of state tensor `state` of a parameter, widened to float (synchronizes).
  std::vector<float> read_state(std::size_t group, std::size_t index, int state) const;
  /// Writes state tensor `state` of a parameter from floats, rounded to its dtype
  /// (stream-ordered).
  void write_state(std::size_t group, std::size_t index, int state, const std::vector<float>& values);
  const GroupConfig& config(std::size_t group) const { return groups_[group].config; }
  const StateLayout& state_layout(std::size_t group) const { return groups_[group].layout; }
  /// What a fresh engine over these groups holds: step counts and scalar state 0, every state
  /// tensor at its initial value (host memory only). These three need fp32 state (the
  /// averaging engine's).
  EngineState initial_state() const;
  /// A host copy of every step count, scalar state and state tensor (synchronizes).
  EngineState read_all() const;
  /// Writes `state` back (stream-ordered). Its sizes must be those read_all() returns.
  void write_all(const EngineState& state);
  /// NOTE(frozen): whether a parameter takes the next steps (a stream-ordered byte write).
  void set_enabled(std::size_t group, std::size_t index, bool enabled);
  /// The per-parameter enabled bytes on device(), in parameter order (all groups).
  std::uint8_t* enabled_mask() const;
  std::vector<std::uint8_t> read_enabled() const;  // synchronizes
  /// Every parameter's enabled byte, in parameter order (a loaded checkpoint's mask).
  void write_enabled(const std::vector<std::uint8_t>& enabled);
  std::size_t first_param(std::size_t group) const { return groups_[group].first_param; }
  /// Address (on device()) of state tensor `k` of parameter `index` of `group`: numel elements
  /// of state_dtype(group, index).
  void* state_data(std::size_t group, std::size_t index, int k) const;
  DType state_dtype(std::size_t group, std::size_t index) const {
    return groups_[group].layout.dtypes[index];
  }
  /// Every parameter's step count and scalar state, in parameter order (synchronizes).
  std::vector<float> read_steps() const;
  std::vector<double> read_param_states() const;
  /// Replaces them (stream-ordered); sizes must be num_params().
  void write_steps(const std::vector<float>& steps);
  void write_param_states(const std::vector<double>& states);

  /// NOTE(master-weights), NOTE(stochastic-rounding): a group's precision. Turning master
  /// weights on allocates each f16/bf16 parameter's master and sets it from the parameter;
  /// turning them off frees them. Strong guarantee; not during a capture.
  void set_precision(std::size_t group, const Precision& precision);
  const Precision& precision(std::size_t group) const { return groups_[group].precision; }
  /// The fp32 master of a parameter (numel floats on device()), or nullptr when it has none.
  float* master_data(std::size_t group, std::size_t index) const;
  /// Sets the master of parameter `index` of `group` (every master parameter of every group
  /// when group is npos, of the whole group when index is npos) from the parameter's current
  /// value (stream-ordered).
  void master_from_params(std::size_t group = std::size_t(-1),
                          std::size_t index = std::size_t(-1)) const;
  /// The per-parameter tensors a checkpoint holds: the config's state tensors, then
  /// "master_param" when the parameter has a master.
  int num_tensors(std::size_t group, std::size_t index) const;
  const char* tensor_name(std::size_t group, int k) const;
  void* tensor_data(std::size_t group, std::size_t index, int k) const;
  DType tensor_dtype(std::size_t group, std::size_t index, int k) const;

 private:
  struct Group {
    std::vector<Param> params;
    GroupConfig config;
    Buffer state;               // num_states tensors per parameter, as `layout` says
    StateLayout layout;
    std::size_t first_param = 0;  // index of params[0] in the step-count array
    Precision precision;
    Buffer master;                       // NOTE(master-weights): fp32, aligned as state
    std::vector<std::int64_t> master_slots;  // per parameter: offset in `master`, or -1
  };
  struct Plan {
    Buffer buffer;  // TensorEntry[], then ChunkEntry[]
    std::vector<kernels::TensorEntry> host_tensors;  // what buffer's TensorEntry[] holds
    std::vector<std::int32_t> entry_of_param;        // per parameter: its TensorEntry
    Buffer temps;   // Impl::Loop / Foreach: num_temps fp32 temporaries per element
    kernels::PlanView view{};
    std::vector<kernels::Segment> segments;
    std::vector<DType> segment_dtypes;
    std::vector<bool> segment_master;
    std::vector<bool> segment_bf16_state;
    std::vector<std::vector<TensorInfo>> segment_tensors;
  };
  struct Scalars {
    Buffer buffer;  // GroupScalars[], then float steps[], then uint32 counters[]
    kernels::StepScalars view{};
  };

  Plan build_plan(const std::vector<const Group*>& groups, Device device, Impl impl,
                  int num_temps) const;
  /// Validates `groups` (every group's parameters) as one optimizer's: the views of each
  /// parameter (g, i) for which is_new(g, i) (valid, its gradient's size, dtype and device its
  /// value's, one device), and across all, no two values overlapping and no gradient
  /// overlapping a value. Returns the device.
  Device check_params(const std::vector<const std::vector<Param>*>& groups,
                      const std::function<bool(std::size_t, std::size_t)>& is_new) const;
  /// The launches of `plan`, pointing to (and marked from) `host_groups`.
  std::vector<SegmentLaunch> make_launches(
      const Plan& plan, const Scalars& scalars, Device device, Impl impl,
      const std::vector<kernels::GroupScalars>& host_groups) const;
  /// SegmentLaunch::stochastic and ::maximize of every launch, from its host_groups' modes.
  static void mark_modes(std::vector<SegmentLaunch>& launches);
  Scalars build_scalars(const std::vector<const Group*>& groups, std::size_t num_params,
                        Device device) const;
  kernels::GroupScalars group_scalars(const GroupConfig& config, const Precision& precision) const;
  /// The master buffer and slots `group` needs under `precision` (empty when none).
  static void allocate_master(Group& group, bool master, Device device, Stream stream);

  std::vector<Group> groups_;
  std::vector<kernels::GroupScalars> host_groups_;  // what scalars_ holds, for the host
  Impl impl_ = Impl::Fused;
  int num_temps_ = 0;
  std::size_t num_params_ = 0;
  Device device_ = Device::cpu();
  Stream stream_ = nullptr;
  Plan plan_;
  Scalars scalars_;
  std::vector<SegmentLaunch> launches_;
};

}  // namespace fusedopt::detail
