#include "fusedopt/optimizer.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "host/engine/engine.hpp"
#include "host/engine/executor.hpp"

namespace fusedopt {

Optimizer::Optimizer() : engine_(std::make_unique<detail::Engine>()) {}
Optimizer::~Optimizer() = default;

void Optimizer::step() {
  for (const detail::SegmentLaunch& segment : engine_->segments()) launch(segment);
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

void Optimizer::set_impl(Impl impl) { engine_->set_impl(impl, num_temps()); }
Impl Optimizer::impl() const { return engine_->impl(); }

StepCost Optimizer::step_cost() const {
  StepCost total;
  for (const detail::SegmentLaunch& segment : engine_->segments()) {
    const StepCost cost = segment_cost(segment);
    total.bytes += cost.bytes;
    total.launches += cost.launches;
  }
  return total;
}

void Optimizer::set_grad_scaling(const float* grad_scale, const float* found_inf) {
  if ((grad_scale || found_inf) && engine_->num_groups() == 0)
    detail::throw_error("set_grad_scaling: the optimizer has no parameters");
  engine_->set_amp(grad_scale, found_inf);
}

void Optimizer::set_stream(Stream stream) { engine_->set_stream(stream); }
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
  std::string known;
  for (const std::string& n : names) known += (known.empty() ? "" : ", ") + n;
  detail::throw_error("name = \"", name, "\" is not a state of param_groups[", group,
                      "] (it has: ", known.empty() ? "none" : known, ")");
}

void Optimizer::add_groups(const std::vector<std::vector<Param>>& params,
                           const std::vector<detail::GroupConfig>& configs) {
  engine_->add_groups(params, configs);
  initial_lr_.resize(engine_->num_groups());
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

StateDict Optimizer::state_dict() const {
  StateDict out;
  out.optimizer = name();
  const detail::EngineState all = engine_->read_all();
  std::int64_t id = 0;
  for (std::size_t g = 0; g < engine_->num_groups(); ++g) {
    GroupState group{group_options(g), initial_lr_[g], {}};
    const detail::GroupConfig& config = engine_->config(g);
    const detail::StateLayout layout = engine_->state_layout(g);
    const std::vector<Param>& params = engine_->params(g);
    for (std::size_t i = 0; i < params.size(); ++i, ++id) {
      group.params.push_back(id);
      if (all.steps[std::size_t(id)] == 0.0f) continue;  // as torch: no state before a step
      ParamState& state = out.state[id];
      state.step = all.steps[std::size_t(id)];
      for (int k = 0; k < config.num_states; ++k) {
        const float* begin = all.group_states[g].data() + k * layout.stride + layout.slots[i];
        state.tensors[config.state_names[std::size_t(k)]].assign(begin,
                                                                 begin + params[i].value.numel);
      }
      if (config.param_state_name)
        state.scalars[config.param_state_name] = all.param_states[std::size_t(id)];
    }
    out.param_groups.push_back(std::move(group));
  }
  return out;
}

namespace {
// Largest integer step count an fp32 step counter holds exactly.
constexpr double kMaxStep = 16777216.0;

std::string param_name(std::int64_t id) { return "state[" + std::to_string(id) + "]"; }
}  // namespace

void Optimizer::load_state_dict(const StateDict& state) {
  // 1. Structure: kind, groups, parameter ids (mapped by position, as torch does).
  if (state.optimizer != name())
    detail::throw_error("load_state_dict: the state is of a ",
                        state.optimizer.empty() ? "nameless" : state.optimizer, " optimizer, not ",
                        name());
  const std::size_t num_groups = engine_->num_groups();
  if (state.param_groups.size() != num_groups)
    detail::throw_error("load_state_dict: the state has ", state.param_groups.size(),
                        " param group(s), the optimizer ", num_groups);
  struct Slot {
    std::size_t group, index, flat;  // flat: index in the engine's per-parameter arrays
  };
  std::map<std::int64_t, Slot> position;
  std::size_t flat = 0;
  for (std::size_t g = 0; g < num_groups; ++g) {
    const GroupState& group = state.param_groups[g];
    if (group.params.size() != engine_->params(g).size())
      detail::throw_error("load_state_dict: param_groups[", g, "] has ", group.params.size(),
                          " parameter(s) in the state, ", engine_->params(g).size(),
                          " in the optimizer");
    for (std::size_t i = 0; i < group.params.size(); ++i)
      if (!position.emplace(group.params[i], Slot{g, i, flat++}).second)
        detail::throw_error("load_state_dict: parameter id ", group.params[i],
                            " appears twice in param_groups");
    if (group.initial_lr && (!std::isfinite(*group.initial_lr) || *group.initial_lr < 0))
      detail::throw_error("load_state_dict: param_groups[", g, "].initial_lr = ", *group.initial_lr,
                          " must be finite and >= 0");
  }
  // 2. Options (validated, same state layout); committed last.
  const std::function<void()> commit_options = stage_options(state.param_groups);

  // 3. Per-parameter state into a fresh host image of the engine's state.
  detail::EngineState next = engine_->initial_state();
  std::vector<detail::StateLayout> layouts;
  for (std::size_t g = 0; g < num_groups; ++g) layouts.push_back(engine_->state_layout(g));
  for (const auto& [id, param] : state.state) {
    const auto at = position.find(id);
    if (at == position.end())
      detail::throw_error("load_state_dict: ", param_name(id), " belongs to no param group");
    const auto [g, i, flat_index] = at->second;
    const detail::GroupConfig& config = engine_->config(g);
    const std::int64_t numel = engine_->params(g)[i].value.numel;
    if (!(param.step >= 0 && param.step <= kMaxStep && std::floor(param.step) == param.step))
      detail::throw_error("load_state_dict: ", param_name(id), ".step = ", param.step,
                          " must be an integer in [0, 2^24]");
    if (param.tensors.size() != std::size_t(config.num_states))
      detail::throw_error("load_state_dict: ", param_name(id), " has ", param.tensors.size(),
                          " state tensor(s); ", name(), " param_groups[", g, "] keeps ",
                          detail::state_names_of(config));
    for (int k = 0; k < config.num_states; ++k) {
      const char* key = config.state_names[std::size_t(k)];
      const auto tensor = param.tensors.find(key);
      if (tensor == param.tensors.end())
        detail::throw_error("load_state_dict: ", param_name(id), " has no \"", key, "\"; ", name(),
                            " param_groups[", g, "] keeps ", detail::state_names_of(config));
      if (std::int64_t(tensor->second.size()) != numel)
        detail::throw_error("load_state_dict: ", param_name(id), ".", key, " has ",
                            tensor->second.size(), " elements, but param_groups[", g, "].params[",
                            i, "] has ", numel);
      std::copy(tensor->second.begin(), tensor->second.end(),
                next.group_states[g].begin() + k * layouts[g].stride + layouts[g].slots[i]);
    }
    const std::size_t expected_scalars = config.param_state_name ? 1 : 0;
    if (param.scalars.size() != expected_scalars ||
        (expected_scalars && param.scalars.count(config.param_state_name) == 0))
      detail::throw_error("load_state_dict: ", param_name(id), " must have ",
                          expected_scalars
                              ? std::string("the scalar \"") + config.param_state_name + "\""
                              : std::string("no scalar state"),
                          " (", name(), ")");
    next.steps[flat_index] = float(param.step);
    if (config.param_state_name) {
      const double value = param.scalars.at(config.param_state_name);
      if (!std::isfinite(value))
        detail::throw_error("load_state_dict: ", param_name(id), ".", config.param_state_name,
                            " = ", value, " must be finite");
      next.param_states[flat_index] = value;
    }
  }

  // 4. Commit. Only device copies remain, which fail only with a broken device.
  commit_options();
  for (std::size_t g = 0; g < num_groups; ++g) initial_lr_[g] = state.param_groups[g].initial_lr;
  engine_->write_all(next);
}

void Optimizer::save(const std::string& path) const { write_state_dict(state_dict(), path); }

void Optimizer::load(const std::string& path) { load_state_dict(read_state_dict(path)); }

}  // namespace fusedopt
