#include "fusedopt/averaging.hpp"

#include <cmath>
#include <string>

#include "configs.hpp"
#include "engine.hpp"
#include "executor.hpp"
#include "kernels/averaging.h"

namespace fusedopt {

AveragingMode ema_decay(double decay) { return {AveragingMode::Kind::ema, decay}; }
AveragingMode swa_average() { return {AveragingMode::Kind::swa, 0.0}; }

namespace {
detail::GroupConfig averaging_config(const AveragingMode& mode) {
  using Op = kernels::AveragingOp;
  if (mode.kind != AveragingMode::Kind::ema && mode.kind != AveragingMode::Kind::swa)
    detail::throw_error("mode.kind: unsupported value ", int(mode.kind));
  if (mode.kind == AveragingMode::Kind::ema)
    detail::require_unit_interval("AveragedModel", "decay", mode.decay);
  detail::GroupConfig config;
  config.hyper[Op::kDecay] = mode.decay;
  config.flags = mode.kind == AveragingMode::Kind::swa ? Op::kSWA : 0u;
  config.num_states = 0;
  return config;
}

std::vector<TensorView> values_of(const std::vector<Param>& params) {
  std::vector<TensorView> values;
  for (const Param& p : params) values.push_back(p.value);
  return values;
}
}  // namespace

// The averaged copies are the "parameters" the engine updates and the model's parameters are
// the read-only input in the gradient slot (see kernels/averaging.h); the engine's step count
// is n_averaged.
struct AveragedModel::State {
  AveragingMode mode;
  std::vector<detail::Buffer> copies;
  std::vector<TensorView> averaged;
  detail::Engine engine;
};

AveragedModel::AveragedModel(const std::vector<Param>& params, AveragingMode mode)
    : AveragedModel(values_of(params), mode) {}

AveragedModel::AveragedModel(const std::vector<TensorView>& params, AveragingMode mode)
    : state_(std::make_unique<State>()) {
  const detail::GroupConfig config = averaging_config(mode);
  if (params.empty()) detail::throw_error("AveragedModel: params is empty");
  for (std::size_t i = 0; i < params.size(); ++i) {
    detail::check_view(params[i], "params[" + std::to_string(i) + "]");
    if (params[i].device != params[0].device)
      detail::throw_error("params[", i, "].device = ", params[i].device.str(),
                          " differs from params[0].device = ", params[0].device.str());
  }
  State& s = *state_;
  s.mode = mode;
  std::vector<Param> pairs;
  for (const TensorView& source : params) {
    s.copies.emplace_back(std::size_t(source.numel) * dtype_size(source.dtype), source.device,
                          nullptr);
    detail::copy_on_device(s.copies.back().data(), source.data, s.copies.back().bytes(),
                           source.device, nullptr);
    TensorView copy = source;
    copy.data = s.copies.back().data();
    s.averaged.push_back(copy);
    pairs.push_back({copy, source});
  }
  s.engine.add_groups({pairs}, {config});
}

AveragedModel::~AveragedModel() = default;

void AveragedModel::update() {
  for (const detail::SegmentLaunch& segment : state_->engine.segments())
    detail::run_step<kernels::AveragingOp>(segment);
}

void AveragedModel::set_impl(Impl impl) {
  state_->engine.set_impl(impl, kernels::AveragingOp::kNumTemps);
}

Impl AveragedModel::impl() const { return state_->engine.impl(); }

StepCost AveragedModel::update_cost() const {
  StepCost total;
  for (const detail::SegmentLaunch& segment : state_->engine.segments()) {
    const StepCost cost = detail::step_cost<kernels::AveragingOp>(segment);
    total.bytes += cost.bytes;
    total.launches += cost.launches;
  }
  return total;
}

const std::vector<TensorView>& AveragedModel::averaged() const { return state_->averaged; }

std::int64_t AveragedModel::n_averaged() const {
  return std::int64_t(state_->engine.step_count(0, 0));
}

AveragingMode AveragedModel::mode() const { return state_->mode; }

void AveragedModel::set_decay(double decay) {
  if (state_->mode.kind != AveragingMode::Kind::ema)
    detail::throw_error("set_decay(", decay, "): this AveragedModel averages with SWA, not EMA");
  AveragingMode mode = state_->mode;
  mode.decay = decay;
  state_->engine.update_group(0, averaging_config(mode));
  state_->mode = mode;
}

void AveragedModel::set_stream(Stream stream) {
  state_->engine.set_stream(stream);
  for (detail::Buffer& copy : state_->copies) copy.bind_stream(stream);
}

Stream AveragedModel::stream() const { return state_->engine.stream(); }

void AveragedModel::synchronize() const {
  detail::synchronize(state_->engine.device(), state_->engine.stream());
}

}  // namespace fusedopt
