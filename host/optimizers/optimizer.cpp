#include "fusedopt/optimizer.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "fusedopt/grad_utils.hpp"
#include "host/grad/grad_list_impl.hpp"
#include "host/engine/engine.hpp"
#include "host/engine/memory.hpp"
#include "host/engine/executor.hpp"

namespace fusedopt {

Optimizer::Optimizer()
    : engine_(std::make_unique<detail::Engine>()), lifetime_(std::make_shared<const int>(0)) {}
Optimizer::~Optimizer() = default;

void Optimizer::step() {
  check_not_torn("step");
  for (const detail::SegmentLaunch& segment : engine_->segments()) check_built(segment);
  if (clip_list_) {  // NOTE(clip): the norm first, on the same stream; the step reads it
    // Under AMP the list's finish also writes the unscaled norm that grad_norm() returns.
    detail::GradListAccess::impl(*clip_list_).plan.norm_divisor = engine_->grad_scale();
    // error_if_nonfinite: synchronizes and throws before anything of the step has changed.
    const float* norm = get_total_norm(*clip_list_, clip_norm_type_, clip_error_if_nonfinite_);
    if (norm != clip_norm_) {  // the list's scratch does not move: set once
      engine_->set_grad_clip(norm, float(*max_grad_norm_));
      clip_norm_ = norm;
    }
  }
  before_step();
  for (const detail::SegmentLaunch& segment : engine_->segments()) launch(segment);
}

void Optimizer::set_grad_clipping(std::optional<double> max_norm, double norm_type,
                                  bool error_if_nonfinite) {
  if (max_norm && !(std::isfinite(*max_norm) && *max_norm >= 0))
    detail::throw_error("set_grad_clipping: max_norm = ", *max_norm, " must be finite and >= 0");
  if (max_norm && !(norm_type > 0))
    detail::throw_error("set_grad_clipping: norm_type = ", norm_type, " must be > 0 or INFINITY");
  if (!max_norm) {
    engine_->set_grad_clip(nullptr, 0.0f);
    clip_list_.reset();
    clip_norm_ = nullptr;
    max_grad_norm_.reset();
    clip_error_if_nonfinite_ = false;
    return;
  }
  auto list = std::make_unique<GradList>(*this);  // may throw: nothing changed yet
  engine_->set_grad_clip(nullptr, float(*max_norm));  // the next step sets the norm
  clip_list_ = std::move(list);
  clip_norm_ = nullptr;
  max_grad_norm_ = max_norm;
  clip_norm_type_ = norm_type;
  clip_error_if_nonfinite_ = error_if_nonfinite;
}

const float* Optimizer::grad_norm() const {
  if (clip_norm_ == nullptr) return nullptr;
  return detail::GradListAccess::impl(*clip_list_).plan.unscaled_norm;
}

void Optimizer::zero_grad() { engine_->zero_grad(); }

std::size_t Optimizer::num_param_groups() const { return engine_->num_groups(); }

const std::vector<Param>& Optimizer::params(std::size_t group) const {
  if (group >= engine_->num_groups())
    detail::throw_error("group = ", group, " is out of range: the optimizer has ",
                        engine_->num_groups(), " param group(s)");
  return engine_->params(group);
}

std::size_t Optimizer::num_params() const { return engine_->num_params(); }

void Optimizer::rebind(std::size_t group, std::size_t index, const Param& param) {
  const std::vector<Param>& now = params(group);  // checks the index
  if (index >= now.size())
    detail::throw_error("rebind: index = ", index, " is out of range: param_groups[", group,
                        "] has ", now.size(), " parameter(s)");
  std::vector<std::vector<Param>> all;
  for (std::size_t g = 0; g < num_param_groups(); ++g) all.push_back(engine_->params(g));
  all[group][index] = param;
  rebind(all);
}

void Optimizer::rebind(std::size_t group, const std::vector<Param>& group_params) {
  params(group);  // checks the index
  std::vector<std::vector<Param>> all;
  for (std::size_t g = 0; g < num_param_groups(); ++g) all.push_back(engine_->params(g));
  all[group] = group_params;
  rebind(all);
}

void Optimizer::rebind(const std::vector<std::vector<Param>>& all) {
  const std::vector<bool> changed = engine_->check_rebind(all);
  // NOTE(clip): the norm's list holds the gradients' addresses too; built before anything
  // changes.
  std::unique_ptr<GradList> list;
  if (clip_list_) {
    std::vector<TensorView> grads;
    for (const std::vector<Param>& group : all)
      for (const Param& p : group)
        if (p.grad.data != nullptr || p.value.numel == 0) grads.push_back(p.grad);  // NOTE(absent-grad)
    list = std::make_unique<GradList>(std::move(grads), stream());
  }
  engine_->rebind(all, changed);
  if (list) {  // the next step computes the norm into the new list's scratch
    engine_->set_grad_clip(nullptr, float(*max_grad_norm_));
    clip_list_ = std::move(list);
    clip_norm_ = nullptr;
  }
}

void Optimizer::set_impl(Impl impl) { engine_->set_impl(impl, num_temps()); }
Impl Optimizer::impl() const { return engine_->impl(); }

StepCost Optimizer::step_cost() const {
  StepCost total;
  for (const detail::SegmentLaunch& segment : engine_->segments()) {
    const StepCost cost = segment_cost(segment);
    total.bytes += cost.bytes;
    total.launches += cost.launches;
  }
  if (clip_list_) {  // NOTE(clip): the norm reads every gradient once more
    bool present[3] = {false, false, false};
    for (const TensorView& g : clip_list_->views()) {
      total.bytes += double(g.numel) * double(dtype_size(g.dtype));
      present[int(g.dtype)] = true;
    }
    total.launches += std::count(present, present + 3, true) + 1;  // per dtype, then the total
  }
  return total;
}

void Optimizer::set_grad_scaling(const float* grad_scale, const float* found_inf) {
  if ((grad_scale || found_inf) && engine_->num_groups() == 0)
    detail::throw_error("set_grad_scaling: the optimizer has no parameters");
  engine_->set_amp(grad_scale, found_inf);
}

void Optimizer::set_stream(Stream stream) {
  engine_->set_stream(stream);
  if (clip_list_) clip_list_->set_stream(stream);
}
Stream Optimizer::stream() const { return engine_->stream(); }
Device Optimizer::device() const { return engine_->device(); }
void Optimizer::synchronize() const { detail::synchronize(engine_->device(), engine_->stream()); }

double Optimizer::step_count(std::size_t group, std::size_t index) const {
  const std::vector<Param>& p = params(group);
  if (index >= p.size())
    detail::throw_error("index = ", index, " is out of range: param_groups[", group, "] has ",
                        p.size(), " parameter(s)");
  return engine_->step_count(group, index);
}

namespace {
void check_precision(const Precision& precision) {
  if (precision.state_dtype != DType::f32 && precision.state_dtype != DType::bf16)
    detail::throw_error("set_precision: state_dtype must be f32 or bf16, got ",
                        precision.state_dtype == DType::f16 ? "f16" : "an unknown dtype (",
                        precision.state_dtype == DType::f16 ? "" : std::to_string(int(precision.state_dtype)),
                        precision.state_dtype == DType::f16 ? "" : ")");
}
}  // namespace

void Optimizer::set_precision(std::size_t group, const Precision& precision) {
  params(group);  // checks the index
  check_precision(precision);
  check_not_torn("set_precision");
  engine_->set_precision(group, precision);
}

void Optimizer::set_precision(const Precision& precision) {
  check_precision(precision);
  check_not_torn("set_precision");
  // All or nothing: on failure the groups already changed go back.
  std::vector<Precision> before;
  for (std::size_t g = 0; g < num_param_groups(); ++g) before.push_back(engine_->precision(g));
  std::size_t g = 0;
  try {
    for (; g < num_param_groups(); ++g) engine_->set_precision(g, precision);
  } catch (...) {
    for (std::size_t k = 0; k < g; ++k) engine_->set_precision(k, before[k]);
    throw;
  }
}

const Precision& Optimizer::precision(std::size_t group) const {
  params(group);  // checks the index
  return engine_->precision(group);
}

void Optimizer::sync_master_weights() { engine_->master_from_params(); }

void Optimizer::set_param_enabled(std::size_t group, std::size_t index, bool enabled) {
  const std::vector<Param>& p = params(group);
  if (index >= p.size())
    detail::throw_error("index = ", index, " is out of range: param_groups[", group, "] has ",
                        p.size(), " parameter(s)");
  engine_->set_enabled(group, index, enabled);
}

bool Optimizer::param_enabled(std::size_t group, std::size_t index) const {
  const std::vector<Param>& p = params(group);
  if (index >= p.size())
    detail::throw_error("index = ", index, " is out of range: param_groups[", group, "] has ",
                        p.size(), " parameter(s)");
  return engine_->read_enabled()[engine_->first_param(group) + index] != 0;
}

std::uint8_t* Optimizer::param_enabled_mask() { return engine_->enabled_mask(); }

std::vector<std::string> Optimizer::state_names(std::size_t group) const {
  params(group);  // range check
  const detail::GroupConfig& config = engine_->config(group);
  return {config.state_names.begin(), config.state_names.begin() + config.num_states};
}

std::vector<float> Optimizer::state(std::size_t group, std::size_t index,
                                    std::string_view name) const {
  const std::vector<Param>& p = params(group);
  if (index >= p.size())
    detail::throw_error("index = ", index, " is out of range: param_groups[", group, "] has ",
                        p.size(), " parameter(s)");
  const std::vector<std::string> names = state_names(group);
  for (std::size_t k = 0; k < names.size(); ++k)
    if (names[k] == name) return engine_->read_state(group, index, int(k));
  // NOTE(master-weights): the fp32 master, under the name a checkpoint saves it by.
  const void* master = engine_->master_data(group, index);
  if (name == "master_param" && master != nullptr) {
    std::vector<float> values(std::size_t(p[index].value.numel));
    if (!values.empty())
      detail::copy_to_host(values.data(), master, values.size() * sizeof(float), device(), stream());
    return values;
  }
  std::string known;
  for (const std::string& n : names) known += (known.empty() ? "" : ", ") + n;
  if (master != nullptr) known += (known.empty() ? "" : ", ") + std::string("master_param");
  detail::throw_error("name = \"", name, "\" is not a state of param_groups[", group,
                      "] (it has: ", known.empty() ? "none" : known, ")");
}

void Optimizer::add_groups(const std::vector<std::vector<Param>>& params,
                           const std::vector<detail::GroupConfig>& configs) {
  std::unique_ptr<GradList> clip_list;  // NOTE(clip): the norm covers the new gradients too
  if (clip_list_) {
    std::vector<TensorView> grads;
    for (std::size_t g = 0; g < engine_->num_groups(); ++g)
      for (const Param& p : engine_->params(g)) grads.push_back(p.grad);
    for (const std::vector<Param>& group : params)
      for (const Param& p : group) grads.push_back(p.grad);
    clip_list = std::make_unique<GradList>(std::move(grads), engine_->stream());
  }
  engine_->add_groups(params, configs);  // validates; throws before changing anything
  initial_lr_.resize(engine_->num_groups());
  if (clip_list) {
    clip_list_ = std::move(clip_list);
    engine_->set_grad_clip(nullptr, float(*max_grad_norm_));
    clip_norm_ = nullptr;
  }
}

std::optional<double> Optimizer::initial_lr(std::size_t group) const {
  params(group);  // range check
  return initial_lr_[group];
}

void Optimizer::set_initial_lr(std::size_t group, double lr) {
  params(group);
  if (!std::isfinite(lr) || lr < 0)
    detail::throw_error("initial_lr = ", lr, " for param_groups[", group, "] must be finite and >= 0");
  initial_lr_[group] = lr;
}

void Optimizer::update_group(std::size_t group, const detail::GroupConfig& config) {
  engine_->update_group(group, config);
}

const detail::GroupConfig& Optimizer::group_config(std::size_t group) const {
  return engine_->config(group);
}

}  // namespace fusedopt
