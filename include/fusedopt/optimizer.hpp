#pragma once
// The optimizer base: param groups, state, the launch plan and the step.
//
// A step is one fused launch per storage dtype present (one for a uniformly typed model)
// covering every tensor of every group; see NOTE(plan) in host/engine/engine.hpp.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fusedopt/error.hpp"
#include "fusedopt/options.hpp"
#include "fusedopt/state_dict.hpp"
#include "fusedopt/tensor.hpp"

struct CUstream_st;

namespace fusedopt {

class GradList;

/// A CUDA stream (cudaStream_t); nullptr is the legacy default stream. Ignored on the CPU.
using Stream = CUstream_st*;

namespace detail {
class ByteSink;
class ByteSource;
struct CheckpointAccess;
class Engine;
struct GroupConfig;
struct SegmentLaunch;
}  // namespace detail

/// A param group: parameters plus, optionally, options that override the optimizer's
/// defaults (see NOTE(option-inheritance) in options.hpp).
template <class Options>
struct ParamGroup {
  std::vector<Param> params;
  std::optional<Options> options;
};

/// Base of every optimizer. Not copyable; movable only by pointer.
class Optimizer {
 public:
  virtual ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// Detail: expires when the optimizer is destroyed, so that objects referring to it (LR
  /// schedulers) can throw instead of using a dangling pointer.
  std::weak_ptr<const void> lifetime() const { return lifetime_; }

  /// Updates every parameter of every group from its gradient: one fused launch (CUDA) or
  /// one parallel pass (CPU). Asynchronous on CUDA: ordered on stream().
  void step();
  /// Writes zeros to every gradient in one multi-tensor launch.
  void zero_grad();

  /// torch's optimizer name: "SGD", "Adam", "AdamW".
  virtual const char* name() const = 0;
  std::size_t num_param_groups() const;
  /// The parameters of group `group`, in the order they were given.
  const std::vector<Param>& params(std::size_t group) const;
  std::size_t num_params() const;

  /// NOTE(rebind): re-points parameter `index` of `group` at new memory. The optimizer keeps
  /// the addresses it was given and reads them at every step() and zero_grad(); an engine that
  /// frees or reallocates a gradient (LibTorch's zero_grad() frees them by default, the next
  /// backward allocates new ones) or loads weights into new storage (torch::load) must rebind
  /// before the next step. `param` must have the parameter's numel and dtype, on the
  /// optimizer's device, and pass add_param_group's checks (no overlap with another parameter);
  /// its gradient may be absent (null data: skipped until bound again, NOTE(absent-grad)).
  /// State, step counts, fp32 masters, options and the plan stay: the step's address table is
  /// rewritten in place, one stream-ordered copy (and, with clipping on, the norm's list of
  /// gradients is rebuilt). A CUDA graph captured earlier reads the new addresses when it
  /// replays; rebinding during a capture throws. New values loaded into a parameter with an
  /// fp32 master need sync_master_weights() as well, and an AveragedModel over the moved
  /// values its own rebind(). On Error nothing changes.
  void rebind(std::size_t group, std::size_t index, const Param& param);
  /// Every parameter of `group`, in order.
  void rebind(std::size_t group, const std::vector<Param>& params);
  /// Every parameter of every group, one list per group: one call per step for an engine that
  /// reallocates all its gradients.
  void rebind(const std::vector<std::vector<Param>>& params);

  double lr(std::size_t group) const { return get(group, "lr"); }
  void set_lr(std::size_t group, double lr) { set(group, "lr", lr); }
  /// A numeric hyper-parameter of a group by torch name ("lr", "momentum", "beta1", ...).
  virtual double get(std::size_t group, std::string_view name) const = 0;
  /// Validates, then writes the value into the group's device scalars (stream-ordered); the
  /// next step uses it, without rebuilding the plan.
  virtual void set(std::size_t group, std::string_view name, double value) = 0;
  /// True when `name` is a numeric hyper-parameter of this optimizer ("momentum", "beta1", ...).
  virtual bool has(std::string_view name) const = 0;

  /// torch's param_group["initial_lr"], which LR schedulers set on first use and read as their
  /// base lr (nullopt until a scheduler sets it).
  std::optional<double> initial_lr(std::size_t group) const;
  void set_initial_lr(std::size_t group, double lr);

  /// How step() launches (Impl::Fused unless changed). Loop and Foreach allocate fp32
  /// temporaries the size of the parameters (1 or 2 per element); state, step counts and
  /// hyper-parameters carry over. On error nothing changes.
  void set_impl(Impl impl);
  Impl impl() const;
  /// Bytes moved and launches made by one step() with the current Impl (every parameter
  /// enabled), the clipping norm's read of the gradients included.
  StepCost step_cost() const;

  /// AMP, as torch's fused optimizers take GradScaler's scale and found_inf: two fp32 scalars
  /// in memory of the optimizer's device, read by every later step when it runs (so a captured
  /// step follows them). Each gradient is divided by *grad_scale as it is read (the gradient
  /// memory is not written); when *found_inf != 0 the step changes nothing: no parameter,
  /// state or step count. nullptr turns either off (the default). Not compatible with the
  /// pointers' memory going away: set nullptr first.
  void set_grad_scaling(const float* grad_scale, const float* found_inf);
  /// NOTE(frozen) in kernels/engine/plan.h, torch's skip of a parameter whose grad is None
  /// (frozen layers, unused experts): a disabled parameter is not updated, its state does not
  /// change and its step count does not advance. Every parameter starts enabled. A
  /// stream-ordered write that the next step sees, without a plan rebuild; not capture-safe.
  void set_param_enabled(std::size_t group, std::size_t index, bool enabled);
  /// The enabled flags as the device holds them (synchronizes).
  bool param_enabled(std::size_t group, std::size_t index) const;
  /// The same flags in device memory, one byte per parameter in parameter order (group 0's
  /// first, then group 1's, ...), 0 = skip: an engine may write them from its own kernels, and a
  /// captured step reads them when it runs. Valid until add_param_group.
  std::uint8_t* param_enabled_mask();
  /// NOTE(clip) in kernels/engine/plan.h: clipping by the global norm of every gradient inside
  /// step(), as torch's clip_grad_norm_(params, max_norm, norm_type) before step(). Each step
  /// first computes the norm on the device (get_total_norm in grad_utils.hpp: deterministic,
  /// fp32, of the unscaled gradients under AMP), then multiplies every gradient by
  /// min(1, max_norm / (norm + 1e-6)) as it reads it; the gradient memory is not written. No
  /// host synchronisation; capturable (call this, add_param_group and set_stream outside a
  /// capture). nullopt turns it off. max_norm >= 0 and finite; norm_type > 0 or INFINITY.
  /// error_if_nonfinite (torch's argument): step() synchronizes after the norm and throws Error
  /// when it is NaN or inf, before anything of the step changed (not capturable then).
  void set_grad_clipping(std::optional<double> max_norm, double norm_type = 2.0,
                         bool error_if_nonfinite = false);
  std::optional<double> max_grad_norm() const { return max_grad_norm_; }
  double grad_clip_norm_type() const { return clip_norm_type_; }
  bool grad_clip_error_if_nonfinite() const { return clip_error_if_nonfinite_; }
  /// The global norm the latest step computed (an fp32 device scalar), or nullptr when
  /// clipping is off: torch's clip_grad_norm_ return value, of the unscaled gradients under
  /// set_grad_scaling (the stored norm divided by *grad_scale, as torch's unscale_ then
  /// clip_grad_norm_). The scalar is rewritten by the next step.
  const float* grad_norm() const;
  /// NOTE(master-weights), NOTE(stochastic-rounding): how a group stores what its step
  /// computes in fp32 (see Precision in state_dict.hpp). Turning master_weights on allocates an
  /// fp32 master for each f16/bf16 parameter of the group and sets it from the parameter; the
  /// master is then the parameter's true value, and writing the parameter yourself needs
  /// sync_master_weights() after. Turning it off frees the masters. Saved and loaded with the
  /// checkpoint (the masters as state "master_param"). Strong guarantee; not during a capture.
  void set_precision(std::size_t group, const Precision& precision);
  /// The same precision for every group.
  void set_precision(const Precision& precision);
  const Precision& precision(std::size_t group) const;
  /// Sets every master from its parameter's current value (after the parameters were written
  /// other than by step(), e.g. a model checkpoint loaded into them). Stream-ordered.
  void sync_master_weights();
  /// Runs later steps on `stream`. Waits for work already queued on the previous stream.
  void set_stream(Stream stream);
  Stream stream() const;
  /// Device of every parameter (all groups share one device).
  Device device() const;
  /// Waits until queued work on stream() is done (no-op on the CPU).
  void synchronize() const;

  /// Number of steps taken by parameter `index` of group `group` (torch's state["step"]).
  /// Reads device memory: synchronizes the stream.
  double step_count(std::size_t group, std::size_t index) const;
  /// torch's names of the state tensors each parameter of `group` has ("exp_avg", ...).
  std::vector<std::string> state_names(std::size_t group) const;
  /// A copy of state tensor `name` of parameter `index` of `group`, in fp32 (synchronizes);
  /// "master_param" is the fp32 master of a parameter that has one (NOTE(master-weights)).
  std::vector<float> state(std::size_t group, std::size_t index, std::string_view name) const;

  /// torch's state_dict(): every group's options and parameter ids, and the state of every
  /// parameter that has taken a step (see NOTE(checkpoint) in state_dict.hpp). Synchronizes.
  StateDict state_dict() const;
  /// torch's load_state_dict(): the optimizer must be of the same kind, with as many groups
  /// and as many parameters (of the same sizes) in each; the groups' options and initial_lr
  /// are replaced, as in torch, but not the state layout (amsgrad, momentum, centered must
  /// match). Parameters without state restart from their initial state. Everything is
  /// validated before anything changes: on Error the optimizer is as it was.
  void load_state_dict(const StateDict& state);
  /// Writes the checkpoint file of state_dict() (NOTE(checkpoint)) atomically: into a
  /// temporary file beside `path`, flushed, then renamed over it; on Error `path` is untouched.
  /// Streams the state tensors one block at a time from the device, so the extra host memory
  /// is bounded (a few MB) whatever the state size (NOTE(streaming-io)). Synchronizes.
  void save(const std::string& path) const;
  /// load_state_dict of a file written by save() (or tools/torch_state_dict.py). The header is
  /// read and validated completely first (kind, groups, options, every tensor's name, dtype
  /// and size), then each state tensor is read straight into the optimizer's state in bounded
  /// blocks. On Error before that the optimizer is as it was. Should reading fail after the
  /// header was validated (a disk error, a file truncated while loading), the state is
  /// partly overwritten: the Error says so, and step(), save() and state_dict() then throw
  /// until a load succeeds.
  void load(const std::string& path);
  /// save() into memory: the bytes the file would hold.
  std::vector<unsigned char> save_bytes() const;
  /// load() from a checkpoint's bytes in memory (`size` bytes at `data`).
  void load_bytes(const void* data, std::size_t size);

 protected:
  Optimizer();
  /// Validates `params` as new groups and commits them with their configs, atomically.
  void add_groups(const std::vector<std::vector<Param>>& params,
                  const std::vector<detail::GroupConfig>& configs);
  /// Writes a new config for an existing group (its state layout must not change).
  void update_group(std::size_t group, const detail::GroupConfig& config);
  const detail::GroupConfig& group_config(std::size_t group) const;
  /// Called by step() first: an optimizer whose host keeps per-step state (AdamWScheduleFree's
  /// schedule) advances it and writes the step's scalars here. Throwing leaves it unchanged.
  virtual void before_step() {}
  /// The machinery, for optimizers that launch more than their step (AdamWScheduleFree's
  /// train/eval switch).
  detail::Engine& engine() const { return *engine_; }
  /// Runs the optimizer's functor over one dtype segment of the plan.
  virtual void launch(const detail::SegmentLaunch& segment) const = 0;
  /// Throws Error naming the configure option when this build left out the segment's step
  /// (NOTE(build-what-you-use)); step() asks for every segment before it changes anything.
  virtual void check_built(const detail::SegmentLaunch& segment) const = 0;
  virtual StepCost segment_cost(const detail::SegmentLaunch& segment) const = 0;
  /// fp32 temporaries per element that Impl::Loop and Impl::Foreach need.
  virtual int num_temps() const = 0;
  /// Every option of `group` by torch name.
  virtual HyperMap group_options(std::size_t group) const = 0;
  /// Validates `groups[g].options` as group g's new options (types, ranges, the same state
  /// layout) and returns what commits them.
  virtual std::function<void()> stage_options(const std::vector<GroupState>& groups) = 0;

 private:
  friend struct detail::CheckpointAccess;  // tests feed failing sources
  struct LoadInput;
  void write_checkpoint(detail::ByteSink& sink) const;
  void read_checkpoint(detail::ByteSource& source, const std::string& what);
  void load_validated(const LoadInput& input);
  /// NOTE(step-settings): impl, clipping and the disabled parameters (synchronizes).
  StepSettings step_settings() const;
  void check_not_torn(const char* operation) const;

  std::unique_ptr<detail::Engine> engine_;
  std::vector<std::optional<double>> initial_lr_;
  // NOTE(clip): every gradient, for the norm each step computes first.
  std::unique_ptr<GradList> clip_list_;
  std::optional<double> max_grad_norm_;
  double clip_norm_type_ = 2.0;
  bool clip_error_if_nonfinite_ = false;
  const float* clip_norm_ = nullptr;  // in clip_list_'s scratch
  /// A load failed while overwriting the state tensors (see load()).
  std::string torn_by_;
  std::shared_ptr<const int> lifetime_;  // see lifetime()
};

/// Typed layer: owns the defaults and per-group options of one optimizer kind.
template <class Options>
class OptimizerWithOptions : public Optimizer {
 public:
  using Group = ParamGroup<Options>;

  /// torch's add_param_group: options not set in `group` come from defaults().
  void add_param_group(Group group) { add_groups_checked({std::move(group)}, num_param_groups()); }
  const Options& defaults() const { return defaults_; }
  /// The resolved options of a group.
  const Options& options(std::size_t group) const {
    check_group(group);
    return options_[group];
  }
  /// Changes the options set in `options`; every option it does not set keeps the group's
  /// current value: `set_options(g, AdamWOptions().weight_decay(0))` changes only weight_decay.
  /// Validated; the state layout (amsgrad, momentum on/off, ...) cannot change. On Error the
  /// group is unchanged.
  void set_options(std::size_t group, Options options);
  /// Replaces a group's options by defaults() with the options set in `overrides` applied, as
  /// add_param_group resolves them: `reset_options(g)` returns group g to the defaults. Validated
  /// as set_options.
  void reset_options(std::size_t group, Options overrides = {});
  double get(std::size_t group, std::string_view name) const override;
  void set(std::size_t group, std::string_view name, double value) override;
  bool has(std::string_view name) const override { return defaults_.get(name).has_value(); }

 protected:
  OptimizerWithOptions(std::vector<Group> groups, Options defaults);
  HyperMap group_options(std::size_t group) const override;
  std::function<void()> stage_options(const std::vector<GroupState>& groups) override;

 private:
  void add_groups_checked(std::vector<Group> groups, std::size_t first_index);
  void check_group(std::size_t group) const;
  Options defaults_;
  std::vector<Options> options_;
};

/// Every optimizer: `using RMSprop = FusedOptimizer<RMSpropOptions>;`. Its fused step (the
/// functor it launches) is defined in host/<optimizer>.cpp.
template <class Options>
class FusedOptimizer : public OptimizerWithOptions<Options> {
 public:
  using Group = ParamGroup<Options>;
  /// Param groups, each with optional option overrides, and the defaults they inherit.
  FusedOptimizer(std::vector<Group> groups, Options defaults = {});
  /// One group of parameters using `defaults`.
  FusedOptimizer(std::vector<Param> params, Options defaults = {});
  const char* name() const override { return Options::kOptimizer; }

 protected:
  void launch(const detail::SegmentLaunch& segment) const override;
  void check_built(const detail::SegmentLaunch& segment) const override;
  StepCost segment_cost(const detail::SegmentLaunch& segment) const override;
  int num_temps() const override;
};

}  // namespace fusedopt
