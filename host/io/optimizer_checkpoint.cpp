// Optimizer::state_dict / load_state_dict and the streamed checkpoint files (NOTE(checkpoint)
// in state_dict.hpp, NOTE(streaming-io) in safetensors.hpp).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>

#include "fusedopt/optimizer.hpp"
#include "host/engine/engine.hpp"
#include "host/engine/memory.hpp"
#include "host/io/checkpoint.hpp"
#include "kernels/engine/dtype.h"

namespace fusedopt {

namespace {
// Largest integer step count an fp32 step counter holds exactly.
constexpr double kMaxStep = 16777216.0;
constexpr const char* kMasterName = "master_param";  // NOTE(master-weights)

std::string param_name(std::int64_t id) { return "state[" + std::to_string(id) + "]"; }

/// Sets `count` elements of `dtype` (f32 or bf16) at `dst` (memory of `device`) to `value`,
/// through a bounded host block.
void fill_state(void* dst, DType dtype, std::int64_t count, float value, Device device,
                Stream stream) {
  const std::size_t size = dtype_size(dtype);
  unsigned char element[4];
  if (dtype == DType::bf16) {
    const kernels::BFloat16 v = kernels::from_float<kernels::BFloat16>(value);
    std::memcpy(element, &v, 2);
  } else {
    std::memcpy(element, &value, 4);
  }
  const std::int64_t block_elements =
      std::min<std::int64_t>(count, std::int64_t(detail::kIoBlockBytes / size));
  std::vector<unsigned char> block(std::size_t(block_elements) * size);
  for (std::int64_t e = 0; e < block_elements; ++e) std::memcpy(&block[std::size_t(e) * size], element, size);
  auto* to = static_cast<unsigned char*>(dst);
  for (std::int64_t done = 0; done < count;) {
    const std::int64_t n = std::min<std::int64_t>(count - done, block_elements);
    detail::copy_from_host(to + std::size_t(done) * size, block.data(), std::size_t(n) * size,
                           device, stream);
    done += n;
  }
}

/// `count` values converted from `from` to `to` (f32 or bf16; bf16 rounded to nearest).
void convert_values(const void* src, DType from, void* dst, DType to, std::size_t count) {
  for (std::size_t e = 0; e < count; ++e) {
    float v;
    if (from == DType::bf16) {
      kernels::BFloat16 b;
      std::memcpy(&b, static_cast<const unsigned char*>(src) + 2 * e, 2);
      v = kernels::to_float(b);
    } else {
      std::memcpy(&v, static_cast<const unsigned char*>(src) + 4 * e, 4);
    }
    if (to == DType::bf16) {
      const kernels::BFloat16 b = kernels::from_float<kernels::BFloat16>(v);
      std::memcpy(static_cast<unsigned char*>(dst) + 2 * e, &b, 2);
    } else {
      std::memcpy(static_cast<unsigned char*>(dst) + 4 * e, &v, 4);
    }
  }
}
}  // namespace

namespace detail {

void write_device_bytes(ByteSink& sink, const void* src, std::uint64_t bytes, Device device,
                        Stream stream) {
  const auto* from = static_cast<const unsigned char*>(src);
  if (device.is_cpu()) {  // straight from memory
    sink.write(from, std::size_t(bytes));
    return;
  }
  std::vector<unsigned char> block(std::size_t(std::min<std::uint64_t>(bytes, kIoBlockBytes)));
  for (std::uint64_t done = 0; done < bytes;) {
    const std::size_t n = std::size_t(std::min<std::uint64_t>(bytes - done, block.size()));
    copy_to_host(block.data(), from + done, n, device, stream);
    sink.write(block.data(), n);
    done += n;
  }
}

void read_tensor_to_device(ByteSource& source, const Header& header, const TensorRecord& record,
                           void* dst, Device device, Stream stream) {
  const std::uint64_t bytes = record.end - record.begin;
  auto* to = static_cast<unsigned char*>(dst);
  if (device.is_cpu()) {  // straight into memory
    read_tensor_bytes(source, header, record, 0, to, std::size_t(bytes));
    return;
  }
  std::vector<unsigned char> block(std::size_t(std::min<std::uint64_t>(bytes, kIoBlockBytes)));
  for (std::uint64_t done = 0; done < bytes;) {
    const std::size_t n = std::size_t(std::min<std::uint64_t>(bytes - done, block.size()));
    read_tensor_bytes(source, header, record, done, block.data(), n);
    // From pageable memory the copy returns once `block` is staged: it may be reused.
    copy_from_host(to + done, block.data(), n, device, stream);
    done += n;
  }
}

}  // namespace detail

/// What load_validated needs from a state, wherever it is: its structure, each state tensor's
/// size, and a way to write a tensor's values into the optimizer's memory.
struct Optimizer::LoadInput {
  struct Param {
    double step = 0;
    std::map<std::string, std::int64_t> numel;     // state tensor name -> elements
    const std::map<std::string, double>* scalars;  // the scalar state
  };
  const std::string* optimizer = nullptr;
  const std::vector<GroupState>* param_groups = nullptr;
  const std::optional<StepSettings>* settings = nullptr;  // NOTE(step-settings)
  std::map<std::int64_t, Param> state;
  /// Writes tensor `key` of parameter `id` (numel elements of `dtype`, f32 or bf16, converted
  /// if the source holds the other) to `dst`, memory of the optimizer's device. Called in
  /// ascending `order(id, key)`, the tensors' order in a file.
  std::function<void(std::int64_t id, const std::string& key, void* dst, DType dtype)> write;
  std::function<std::uint64_t(std::int64_t id, const std::string& key)> order;
  /// Whether `write` can fail (a file being read) and what to call the source then.
  bool may_fail = false;
  std::string source;
};

void Optimizer::check_not_torn(const char* operation) const {
  if (!torn_by_.empty())
    detail::throw_error(operation, ": the optimizer's state is incomplete: ", torn_by_,
                        " failed after it began overwriting the state tensors; load a "
                        "checkpoint (load or load_state_dict) first");
}

StepSettings Optimizer::step_settings() const {
  StepSettings out;
  out.impl = impl();
  out.max_norm = max_grad_norm_;
  if (max_grad_norm_) {  // otherwise unused: the defaults
    out.norm_type = clip_norm_type_;
    out.error_if_nonfinite = clip_error_if_nonfinite_;
  }
  const std::vector<std::uint8_t> enabled = engine_->read_enabled();  // synchronizes
  for (std::size_t id = 0; id < enabled.size(); ++id)
    if (enabled[id] == 0) out.disabled.push_back(std::int64_t(id));
  return out;
}

StateDict Optimizer::state_dict() const {
  check_not_torn("state_dict");
  StateDict out;
  out.optimizer = name();
  out.settings = step_settings();
  const std::vector<float> steps = engine_->read_steps();  // synchronizes
  const std::vector<double> param_states = engine_->read_param_states();
  std::int64_t id = 0;
  for (std::size_t g = 0; g < engine_->num_groups(); ++g) {
    GroupState group{group_options(g), initial_lr_[g], engine_->precision(g), {}};
    const detail::GroupConfig& config = engine_->config(g);
    const std::vector<Param>& params = engine_->params(g);
    for (std::size_t i = 0; i < params.size(); ++i, ++id) {
      group.params.push_back(id);
      if (steps[std::size_t(id)] == 0.0f) continue;  // as torch: no state before a step
      ParamState& state = out.state[id];
      state.step = steps[std::size_t(id)];
      for (int k = 0; k < engine_->num_tensors(g, i); ++k) {  // the master last
        std::vector<float>& values = state.tensors[engine_->tensor_name(g, k)];
        if (k < config.num_states) {  // widened from bf16 state (NOTE(state-dtype))
          values = engine_->read_state(g, i, k);
          continue;
        }
        values.resize(std::size_t(params[i].value.numel));
        if (!values.empty())
          detail::copy_to_host(values.data(), engine_->tensor_data(g, i, k),
                               values.size() * sizeof(float), engine_->device(), engine_->stream());
      }
      if (config.param_state_name)
        state.scalars[config.param_state_name] = param_states[std::size_t(id)];
    }
    out.param_groups.push_back(std::move(group));
  }
  return out;
}

void Optimizer::load_validated(const LoadInput& input) {
  detail::require_not_capturing(engine_->device(), engine_->stream(), "loading a checkpoint");
  // 1. Structure: kind, groups, parameter ids (mapped by position, as torch does).
  if (*input.optimizer != name())
    detail::throw_error("load_state_dict: the state is of a ",
                        input.optimizer->empty() ? "nameless" : detail::printable(*input.optimizer, 40),
                        " optimizer, not ", name());
  const std::vector<GroupState>& param_groups = *input.param_groups;
  const std::size_t num_groups = engine_->num_groups();
  if (param_groups.size() != num_groups)
    detail::throw_error("load_state_dict: the state has ", param_groups.size(),
                        " param group(s), the optimizer ", num_groups);
  struct Slot {
    std::size_t group, index, flat;  // flat: index in the engine's per-parameter arrays
  };
  std::map<std::int64_t, Slot> position;
  std::size_t flat = 0;
  for (std::size_t g = 0; g < num_groups; ++g) {
    const GroupState& group = param_groups[g];
    if (group.params.size() != engine_->params(g).size())
      detail::throw_error("load_state_dict: param_groups[", g, "] has ", group.params.size(),
                          " parameter(s) in the state, ", engine_->params(g).size(),
                          " in the optimizer");
    for (std::size_t i = 0; i < group.params.size(); ++i)
      if (!position.emplace(group.params[i], Slot{g, i, flat++}).second)
        detail::throw_error("load_state_dict: parameter id ", group.params[i],
                            " appears twice in param_groups");
    if (group.precision && group.precision->state_dtype != DType::f32 &&
        group.precision->state_dtype != DType::bf16)
      detail::throw_error("load_state_dict: param_groups[", g,
                          "].precision.state_dtype must be f32 or bf16");
    if (group.initial_lr && (!std::isfinite(*group.initial_lr) || *group.initial_lr < 0))
      detail::throw_error("load_state_dict: param_groups[", g, "].initial_lr = ", *group.initial_lr,
                          " must be finite and >= 0");
  }
  // NOTE(step-settings): validated here, applied with the precision (4), the mask committed (5).
  const StepSettings* settings =
      input.settings != nullptr && input.settings->has_value() ? &**input.settings : nullptr;
  std::vector<std::uint8_t> enabled;
  if (settings) {
    if (settings->max_norm && !(std::isfinite(*settings->max_norm) && *settings->max_norm >= 0))
      detail::throw_error("load_state_dict: settings.max_norm = ", *settings->max_norm,
                          " must be finite and >= 0");
    if (settings->max_norm && !(settings->norm_type > 0))
      detail::throw_error("load_state_dict: settings.norm_type = ", settings->norm_type,
                          " must be > 0 or inf");
    enabled.assign(engine_->num_params(), 1);
    for (const std::int64_t id : settings->disabled) {
      const auto at = position.find(id);
      if (at == position.end())
        detail::throw_error("load_state_dict: settings.disabled holds ", param_name(id),
                            ", which belongs to no param group");
      if (enabled[at->second.flat] == 0)
        detail::throw_error("load_state_dict: settings.disabled holds ", param_name(id), " twice");
      enabled[at->second.flat] = 0;
    }
  }

  // 2. Options (validated, same state layout); committed last.
  const std::function<void()> commit_options = stage_options(param_groups);

  // 3. Per-parameter state: validated, and the writes it needs listed.
  struct Write {
    std::uint64_t order;
    std::int64_t id;
    std::size_t group, index;
    int k;
  };
  std::vector<Write> writes;
  std::vector<float> steps(engine_->num_params(), 0.0f);
  std::vector<double> param_states(engine_->num_params(), 0.0);
  std::vector<std::vector<bool>> loaded(num_groups), master_loaded(num_groups);
  std::vector<Precision> target(num_groups);  // each group's precision after the load
  for (std::size_t g = 0; g < num_groups; ++g) {
    loaded[g].assign(engine_->params(g).size(), false);
    master_loaded[g].assign(engine_->params(g).size(), false);
    target[g] = param_groups[g].precision.value_or(engine_->precision(g));
  }
  for (const auto& [id, param] : input.state) {
    const auto at = position.find(id);
    if (at == position.end())
      detail::throw_error("load_state_dict: ", param_name(id), " belongs to no param group");
    const auto [g, i, flat_index] = at->second;
    const detail::GroupConfig& config = engine_->config(g);
    const std::int64_t numel = engine_->params(g)[i].value.numel;
    if (!(param.step >= 0 && param.step <= kMaxStep && std::floor(param.step) == param.step))
      detail::throw_error("load_state_dict: ", param_name(id), ".step = ", param.step,
                          " must be an integer in [0, 2^24]");
    // NOTE(master-weights): "master_param" where the loaded precision gives the parameter a
    // master; a master that is not in the state is set from the parameter.
    const bool master = target[g].master_weights && engine_->params(g)[i].value.dtype != DType::f32;
    const bool has_master = param.numel.count(kMasterName) != 0;
    if (has_master && !master)
      detail::throw_error("load_state_dict: ", param_name(id), " has \"", kMasterName,
                          "\", but param_groups[", g, "].params[", i, "] has no master weights");
    if (param.numel.size() != std::size_t(config.num_states) + (has_master ? 1 : 0))
      detail::throw_error("load_state_dict: ", param_name(id), " has ", param.numel.size(),
                          " state tensor(s); ", name(), " param_groups[", g, "] keeps ",
                          detail::state_names_of(config), master ? " and \"master_param\"" : "");
    if (has_master) {
      if (param.numel.at(kMasterName) != numel)
        detail::throw_error("load_state_dict: ", param_name(id), ".", kMasterName, " has ",
                            param.numel.at(kMasterName), " elements, but param_groups[", g,
                            "].params[", i, "] has ", numel);
      writes.push_back({input.order(id, kMasterName), id, g, i, config.num_states});
      master_loaded[g][i] = true;
    }
    for (int k = 0; k < config.num_states; ++k) {
      const char* key = config.state_names[std::size_t(k)];
      const auto tensor = param.numel.find(key);
      if (tensor == param.numel.end())
        detail::throw_error("load_state_dict: ", param_name(id), " has no \"", key, "\"; ", name(),
                            " param_groups[", g, "] keeps ", detail::state_names_of(config));
      if (tensor->second != numel)
        detail::throw_error("load_state_dict: ", param_name(id), ".", key, " has ",
                            tensor->second, " elements, but param_groups[", g, "].params[", i,
                            "] has ", numel);
      writes.push_back({input.order(id, key), id, g, i, k});
    }
    const std::size_t expected_scalars = config.param_state_name ? 1 : 0;
    if (param.scalars->size() != expected_scalars ||
        (expected_scalars && param.scalars->count(config.param_state_name) == 0))
      detail::throw_error("load_state_dict: ", param_name(id), " must have ",
                          expected_scalars
                              ? std::string("the scalar \"") + config.param_state_name + "\""
                              : std::string("no scalar state"),
                          " (", name(), ")");
    steps[flat_index] = float(param.step);
    if (config.param_state_name) {
      const double value = param.scalars->at(config.param_state_name);
      if (!std::isfinite(value))
        detail::throw_error("load_state_dict: ", param_name(id), ".", config.param_state_name,
                            " = ", value, " must be finite");
      param_states[flat_index] = value;
    }
    loaded[g][i] = true;
  }
  std::sort(writes.begin(), writes.end(),
            [](const Write& a, const Write& b) { return a.order < b.order; });

  // 4. Precision (allocates masters: on failure every group goes back), then the state
  // tensors: parameters without state restart from the initial state, masters not in the
  // state from their parameters. Only a failing source (a file read) can throw in the
  // second part; it leaves the state torn (see load()).
  std::vector<Precision> before(num_groups);
  for (std::size_t g = 0; g < num_groups; ++g) before[g] = engine_->precision(g);
  const Impl impl_before = impl();
  const std::optional<double> max_norm_before = max_grad_norm_;
  const double norm_type_before = clip_norm_type_;
  const bool error_before = clip_error_if_nonfinite_;
  const bool clipping_changes =
      settings && (settings->max_norm != max_grad_norm_ ||
                   (settings->max_norm && (settings->norm_type != clip_norm_type_ ||
                                           settings->error_if_nonfinite != clip_error_if_nonfinite_)));
  std::size_t changed = 0;
  try {
    if (settings) set_impl(settings->impl);  // allocates the temporaries of Loop and Foreach
    if (clipping_changes)
      set_grad_clipping(settings->max_norm, settings->norm_type, settings->error_if_nonfinite);
    for (; changed < num_groups; ++changed) engine_->set_precision(changed, target[changed]);
  } catch (...) {
    for (std::size_t g = 0; g < changed; ++g) engine_->set_precision(g, before[g]);
    if (clipping_changes) set_grad_clipping(max_norm_before, norm_type_before, error_before);
    set_impl(impl_before);
    throw;
  }
  if (input.may_fail) torn_by_ = input.source;
  try {
    for (std::size_t g = 0; g < num_groups; ++g) {
      const detail::GroupConfig& config = engine_->config(g);
      for (std::size_t i = 0; i < loaded[g].size(); ++i) {
        if (!loaded[g][i])
          for (int k = 0; k < config.num_states; ++k)
            fill_state(engine_->state_data(g, i, k), engine_->state_dtype(g, i),
                       engine_->params(g)[i].value.numel, config.state_init[std::size_t(k)],
                       engine_->device(), engine_->stream());
        if (!master_loaded[g][i] && engine_->master_data(g, i) != nullptr)
          engine_->master_from_params(g, i);
      }
    }
    for (const Write& w : writes)
      input.write(w.id, engine_->tensor_name(w.group, w.k),
                  engine_->tensor_data(w.group, w.index, w.k),
                  engine_->tensor_dtype(w.group, w.index, w.k));
  } catch (const Error& e) {
    if (!input.may_fail) throw;
    detail::throw_error(e.what(), " -- the state tensors are partly overwritten; step(), save() and "
                        "state_dict() throw until a load succeeds");
  }

  // 5. Commit. Only device copies remain, which fail only with a broken device.
  commit_options();
  for (std::size_t g = 0; g < num_groups; ++g) initial_lr_[g] = param_groups[g].initial_lr;
  engine_->write_steps(steps);
  engine_->write_param_states(param_states);
  if (settings) engine_->write_enabled(enabled);
  torn_by_.clear();
}

void Optimizer::load_state_dict(const StateDict& state) {
  LoadInput input;
  input.optimizer = &state.optimizer;
  input.param_groups = &state.param_groups;
  input.settings = &state.settings;
  for (const auto& [id, param] : state.state) {
    LoadInput::Param& p = input.state[id];
    p.step = param.step;
    p.scalars = &param.scalars;
    for (const auto& [key, values] : param.tensors) p.numel[key] = std::int64_t(values.size());
  }
  std::uint64_t next = 0;
  input.order = [&next](std::int64_t, const std::string&) { return next++; };
  input.write = [&](std::int64_t id, const std::string& key, void* dst, DType dtype) {
    const std::vector<float>& values = state.state.at(id).tensors.at(key);
    if (values.empty()) return;
    if (dtype == DType::f32) {
      detail::copy_from_host(dst, values.data(), values.size() * sizeof(float), engine_->device(),
                             engine_->stream());
      return;
    }
    std::vector<unsigned char> converted(values.size() * dtype_size(dtype));
    convert_values(values.data(), DType::f32, converted.data(), dtype, values.size());
    detail::copy_from_host(dst, converted.data(), converted.size(), engine_->device(),
                           engine_->stream());
  };
  load_validated(input);
}

void Optimizer::read_checkpoint(detail::ByteSource& source, const std::string& what) {
  const detail::CheckpointIndex index = detail::read_checkpoint_index(source);
  LoadInput input;
  input.optimizer = &index.optimizer;
  input.param_groups = &index.param_groups;
  input.settings = &index.settings;
  for (const auto& [id, param] : index.state) {
    LoadInput::Param& p = input.state[id];
    p.step = param.step;
    p.scalars = &param.scalars;
    for (const auto& [key, record] : param.tensors) p.numel[key] = std::int64_t(record.numel());
  }
  input.order = [&index](std::int64_t id, const std::string& key) {
    return index.state.at(id).tensors.at(key).begin;
  };
  input.write = [&](std::int64_t id, const std::string& key, void* dst, DType dtype) {
    const detail::TensorRecord& record = index.state.at(id).tensors.at(key);
    const DType stored = record.dtype == "BF16" ? DType::bf16 : DType::f32;
    if (stored == dtype) {
      detail::read_tensor_to_device(source, index.header, record, dst, engine_->device(),
                                    engine_->stream());
      return;
    }
    // NOTE(state-dtype): the other dtype, converted through a bounded host block.
    const std::uint64_t numel = record.numel();
    const std::uint64_t block = detail::kIoBlockBytes / 4;
    std::vector<unsigned char> in(std::size_t(std::min(numel, block)) * dtype_size(stored));
    std::vector<unsigned char> out(std::size_t(std::min(numel, block)) * dtype_size(dtype));
    auto* to = static_cast<unsigned char*>(dst);
    for (std::uint64_t done = 0; done < numel;) {
      const std::uint64_t n = std::min(numel - done, block);
      detail::read_tensor_bytes(source, index.header, record, done * dtype_size(stored), in.data(),
                                std::size_t(n) * dtype_size(stored));
      convert_values(in.data(), stored, out.data(), dtype, std::size_t(n));
      detail::copy_from_host(to + done * dtype_size(dtype), out.data(), std::size_t(n) * dtype_size(dtype),
                             engine_->device(), engine_->stream());
      done += n;
    }
  };
  input.may_fail = true;
  input.source = what;
  load_validated(input);
}

void Optimizer::write_checkpoint(detail::ByteSink& sink) const {
  check_not_torn("save");
  const std::vector<float> steps = engine_->read_steps();  // synchronizes
  const std::vector<double> param_states = engine_->read_param_states();
  struct Piece {
    std::size_t group, index, flat;  // flat: index in the per-parameter arrays
    int k;  // state tensor; -1: the step, -2: the scalar state
  };
  std::vector<GroupState> groups;
  std::map<std::string, detail::TensorSpec> specs;
  std::map<std::string, Piece> pieces;
  std::int64_t id = 0;
  for (std::size_t g = 0; g < engine_->num_groups(); ++g) {
    GroupState group{group_options(g), initial_lr_[g], engine_->precision(g), {}};
    const detail::GroupConfig& config = engine_->config(g);
    const std::vector<Param>& params = engine_->params(g);
    for (std::size_t i = 0; i < params.size(); ++i, ++id) {
      group.params.push_back(id);
      if (steps[std::size_t(id)] == 0.0f) continue;  // as torch: no state before a step
      const std::string step_name = detail::state_entry_name(id, "step");
      specs[step_name] = {"F32", {}, sizeof(float)};
      pieces[step_name] = {g, i, std::size_t(id), -1};
      for (int k = 0; k < engine_->num_tensors(g, i); ++k) {  // the master last
        const std::string entry = detail::state_entry_name(id, engine_->tensor_name(g, k));
        const std::int64_t numel = params[i].value.numel;
        const DType dtype = engine_->tensor_dtype(g, i, k);  // NOTE(state-dtype)
        specs[entry] = {dtype == DType::bf16 ? "BF16" : "F32", {numel},
                        std::uint64_t(numel) * dtype_size(dtype)};
        pieces[entry] = {g, i, std::size_t(id), k};
      }
      if (config.param_state_name) {
        const std::string entry = detail::state_entry_name(id, config.param_state_name);
        specs[entry] = {"F64", {}, sizeof(double)};
        pieces[entry] = {g, i, std::size_t(id), -2};
      }
    }
    groups.push_back(std::move(group));
  }
  detail::write_header(sink, detail::checkpoint_metadata(name(), groups, step_settings()), specs);
  for (const auto& [entry, piece] : pieces) {
    const std::size_t flat = piece.flat;
    if (piece.k == -1) {
      sink.write(&steps[flat], sizeof(float));  // little-endian hosts only (x86, ARM)
      continue;
    }
    if (piece.k == -2) {
      sink.write(&param_states[flat], sizeof(double));
      continue;
    }
    detail::write_device_bytes(sink, engine_->tensor_data(piece.group, piece.index, piece.k),
                               specs[entry].bytes, engine_->device(), engine_->stream());
  }
}

void Optimizer::save(const std::string& path) const {
  detail::AtomicFileSink sink(path);
  write_checkpoint(sink);
  sink.commit();
}

std::vector<unsigned char> Optimizer::save_bytes() const {
  detail::MemorySink sink;
  write_checkpoint(sink);
  return std::move(sink.bytes);
}

void Optimizer::load(const std::string& path) {
  try {
    detail::FileSource source(path);
    read_checkpoint(source, "load(" + detail::printable(path, 256) + ")");
  } catch (const Error& e) {
    throw Error("load(" + detail::printable(path, 256) + "): " + e.what());
  }
}

void Optimizer::load_bytes(const void* data, std::size_t size) {
  try {
    detail::MemorySource source(data, size);
    read_checkpoint(source, "load_bytes");
  } catch (const Error& e) {
    throw Error(std::string("load_bytes: ") + e.what());
  }
}

}  // namespace fusedopt
