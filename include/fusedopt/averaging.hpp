#pragma once
// Weight averaging with torch.optim.swa_utils.AveragedModel semantics, fused: one multi-tensor
// launch per update over every parameter.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "fusedopt/optimizer.hpp"
#include "fusedopt/state_dict.hpp"

namespace fusedopt {

namespace detail {
class ByteSink;
class ByteSource;
struct CheckpointAccess;
}  // namespace detail

/// How AveragedModel combines a new parameter value with the average.
struct AveragingMode {
  enum class Kind : std::uint8_t { swa, ema };
  Kind kind = Kind::swa;
  double decay = 0.0;  // EMA only
};

/// torch.optim.swa_utils.get_ema_multi_avg_fn(decay):
/// averaged = decay * averaged + (1 - decay) * param. decay in [0, 1].
AveragingMode ema_decay(double decay);
/// AveragedModel's default (SWA): the running mean of every update's parameters.
AveragingMode swa_average();

/// Keeps averaged copies of a set of parameters (same dtype and device as each parameter).
/// Like torch's AveragedModel, the copies start as copies of the parameters, the first update()
/// copies again, and later updates average; n_averaged() counts updates. Works with or without
/// an optimizer:
///
///   fo::AveragedModel ema(backbone, fo::ema_decay(0.999));
///   ... opt.step(); ema.update();
///   use ema.averaged()[i] (a TensorView of the averaged copy of parameter i)
class AveragedModel {
 public:
  explicit AveragedModel(const std::vector<Param>& params, AveragingMode mode = swa_average());
  explicit AveragedModel(const std::vector<TensorView>& params, AveragingMode mode = swa_average());
  ~AveragedModel();
  AveragedModel(const AveragedModel&) = delete;
  AveragedModel& operator=(const AveragedModel&) = delete;

  /// torch's update_parameters(model): one fused launch over every parameter (Impl::Fused).
  void update();
  /// As Optimizer::set_impl: Loop and Foreach launch per op (and per tensor), as torch's
  /// for-loop and multi_avg_fn paths.
  void set_impl(Impl impl);
  Impl impl() const;
  StepCost update_cost() const;
  /// Views of the averaged copies, in the order of the parameters.
  const std::vector<TensorView>& averaged() const;
  /// Updates so far, kept as a double on the device: exact up to 2^53 (reads device memory:
  /// synchronizes the stream).
  std::int64_t n_averaged() const;
  AveragingMode mode() const;
  /// EMA decay, written to a device scalar (stream-ordered); in [0, 1].
  void set_decay(double decay);
  /// NOTE(rebind) in optimizer.hpp: re-points the model at its parameters' new memory (after
  /// weights were loaded into new storage: torch::load), keeping the averaged copies and
  /// n_averaged. As many parameters as at construction, each of the same size, dtype and
  /// device; on Error nothing changes. Not during a CUDA graph capture.
  void rebind(const std::vector<TensorView>& params);
  void rebind(const std::vector<Param>& params);

  void set_stream(Stream stream);
  Stream stream() const;
  void synchronize() const;

  /// n_averaged and a copy of every averaged tensor (synchronizes), as torch's AveragedModel
  /// state_dict() holds them.
  AveragedState state_dict() const;
  /// Restores a state_dict() of an AveragedModel over parameters of the same number, dtypes and
  /// sizes, and n_averaged in [0, 2^53]; validated first, on Error nothing changes. The mode is
  /// not part of the state.
  void load_state_dict(const AveragedState& state);
  /// A safetensors file ("averaged.<i>" in each parameter's dtype; n_averaged in the metadata),
  /// written atomically.
  void save(const std::string& path) const;
  void load(const std::string& path);

 private:
  friend struct detail::CheckpointAccess;  // a part of a training checkpoint
  void write_file(detail::ByteSink& sink) const;
  /// Validates the file in `source`; returns what streams it into the copies (a read failing
  /// then leaves them torn by `what`).
  std::function<void()> stage_file(detail::ByteSource& source, const std::string& what);
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace fusedopt
