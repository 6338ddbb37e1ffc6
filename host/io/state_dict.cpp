// The file form of StateDict (NOTE(checkpoint) in include/fusedopt/state_dict.hpp).
#include "fusedopt/state_dict.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>

#include "fusedopt/error.hpp"
#include "host/io/checkpoint.hpp"
#include "host/io/metadata_json.hpp"
#include "kernels/engine/dtype.h"

namespace fusedopt {

namespace {
using detail::throw_error;
using nlohmann::json;

constexpr const char* kFormat = "fusedopt.optimizer";
constexpr const char* kFormatVersion = "1";

template <class T>
detail::SafeTensor scalar_tensor(const char* dtype, T value) {
  detail::SafeTensor t{dtype, {}, std::vector<unsigned char>(sizeof(T))};
  std::memcpy(t.bytes.data(), &value, sizeof(T));  // little-endian hosts only (x86, ARM)
  return t;
}

json group_to_json(const GroupState& group) {
  json out = json::object();
  for (const auto& [name, value] : group.options) {
    if (const auto* b = std::get_if<bool>(&value))
      out[name] = *b;
    else if (const auto* d = std::get_if<double>(&value))
      out[name] = *d;
    else {
      const auto& pair = std::get<std::pair<double, double>>(value);
      out[name] = {pair.first, pair.second};
    }
  }
  if (group.initial_lr) out["initial_lr"] = *group.initial_lr;
  if (group.precision) {
    out["master_weights"] = group.precision->master_weights;
    out["stochastic_rounding"] = group.precision->stochastic_rounding;
    out["rounding_seed"] = group.precision->seed;
    out["state_dtype"] = to_string(group.precision->state_dtype);
  }
  out["params"] = group.params;
  return out;
}

double number_of(const json& value, const std::string& what) {
  if (!value.is_number()) throw_error(what, " must be a number, got ", value.type_name());
  return value.get<double>();
}

GroupState group_from_json(const json& group, const std::string& where) {
  if (!group.is_object()) throw_error(where, " must be an object, got ", group.type_name());
  GroupState out;
  bool has_params = false;
  for (const auto& [name, value] : group.items()) {
    const std::string what = where + "[" + detail::printable(name) + "]";
    if (name == "params") {
      if (!value.is_array()) throw_error(what, " must be an array of parameter ids");
      for (const json& id : value) {
        if (!id.is_number_integer() ||
            (id.is_number_unsigned() && id.get<std::uint64_t>() > INT64_MAX))
          throw_error(what, " holds ", id.is_number() ? id.dump() : id.type_name(),
                      ", not a parameter id");
        out.params.push_back(id.get<std::int64_t>());
      }
      has_params = true;
    } else if (name == "initial_lr") {
      out.initial_lr = number_of(value, what);
    } else if (name == "master_weights" || name == "stochastic_rounding") {
      if (!value.is_boolean()) throw_error(what, " must be a bool, got ", value.type_name());
      if (!out.precision) out.precision = Precision{};
      (name == "master_weights" ? out.precision->master_weights
                                : out.precision->stochastic_rounding) = value.get<bool>();
    } else if (name == "rounding_seed") {
      if (!value.is_number_unsigned())
        throw_error(what, " must be an integer in [0, 2^64), got ",
                    value.is_number() ? value.dump() : value.type_name());
      if (!out.precision) out.precision = Precision{};
      out.precision->seed = value.get<std::uint64_t>();
    } else if (name == "state_dtype") {
      if (!value.is_string() || (value.get<std::string>() != "f32" && value.get<std::string>() != "bf16"))
        throw_error(what, " must be \"f32\" or \"bf16\", got ",
                    value.is_string() ? detail::printable(value.get<std::string>()) : value.type_name());
      if (!out.precision) out.precision = Precision{};
      out.precision->state_dtype = value.get<std::string>() == "bf16" ? DType::bf16 : DType::f32;
    } else if (value.is_boolean()) {
      out.options[name] = value.get<bool>();
    } else if (value.is_number()) {
      out.options[name] = value.get<double>();
    } else if (value.is_array() && value.size() == 2 && value[0].is_number() &&
               value[1].is_number()) {
      out.options[name] = std::make_pair(value[0].get<double>(), value[1].get<double>());
    } else {
      throw_error(what, " must be a number, a bool or a pair of numbers, got ",
                  value.is_array() ? "an array of " + std::to_string(value.size()) + " element(s)"
                                   : std::string(value.type_name()));
    }
  }
  if (!has_params) throw_error(where, " has no \"params\"");
  return out;
}

// NOTE(step-settings) in the metadata's "settings".
json settings_to_json(const StepSettings& settings) {
  json out = json::object();
  out["impl"] = to_string(settings.impl);
  if (settings.max_norm && !std::isfinite(*settings.max_norm))  // JSON would write null: off
    throw_error("settings.max_norm = ", *settings.max_norm, " cannot be saved (must be finite)");
  out["max_norm"] = settings.max_norm ? json(*settings.max_norm) : json(nullptr);
  if (std::isinf(settings.norm_type))
    out["norm_type"] = "inf";
  else
    out["norm_type"] = settings.norm_type;
  out["error_if_nonfinite"] = settings.error_if_nonfinite;
  out["disabled"] = settings.disabled;
  return out;
}

StepSettings settings_from_json(const std::string& text) {
  const char* where = "checkpoint: settings";
  const json in = detail::parse_metadata_json(text, where);
  if (!in.is_object()) throw_error(where, " must be a JSON object, got ", in.type_name());
  StepSettings out;
  const char* keys[] = {"impl", "max_norm", "norm_type", "disabled", "error_if_nonfinite"};
  for (const auto& [name, value] : in.items())
    if (std::find(std::begin(keys), std::end(keys), name) == std::end(keys))
      throw_error(where, " has the unknown key ", detail::printable(name),
                  " (it has impl, max_norm, norm_type, disabled and error_if_nonfinite)");
  for (const char* key : {"impl", "max_norm", "norm_type", "disabled"})  // the last is optional
    if (!in.contains(key)) throw_error(where, " has no \"", key, "\"");
  if (in.contains("error_if_nonfinite")) {
    if (!in["error_if_nonfinite"].is_boolean())
      throw_error(where, ".error_if_nonfinite must be a bool, got ",
                  in["error_if_nonfinite"].type_name());
    out.error_if_nonfinite = in["error_if_nonfinite"].get<bool>();
  }
  const json& impl = in["impl"];
  const std::string impl_text = impl.is_string() ? impl.get<std::string>() : "";
  if (impl_text == "loop")
    out.impl = Impl::Loop;
  else if (impl_text == "foreach")
    out.impl = Impl::Foreach;
  else if (impl_text == "fused")
    out.impl = Impl::Fused;
  else
    throw_error(where, ".impl must be \"loop\", \"foreach\" or \"fused\", got ",
                impl.is_string() ? detail::printable(impl_text) : impl.type_name());
  const json& max_norm = in["max_norm"];
  if (!max_norm.is_null()) out.max_norm = number_of(max_norm, std::string(where) + ".max_norm");
  const json& norm_type = in["norm_type"];
  if (norm_type.is_string() && norm_type.get<std::string>() == "inf")
    out.norm_type = INFINITY;
  else if (norm_type.is_number())
    out.norm_type = norm_type.get<double>();
  else
    throw_error(where, ".norm_type must be a number or \"inf\", got ",
                norm_type.is_string() ? detail::printable(norm_type.get<std::string>())
                                      : norm_type.type_name());
  const json& disabled = in["disabled"];
  if (!disabled.is_array()) throw_error(where, ".disabled must be an array of parameter ids");
  for (const json& id : disabled) {
    if (!id.is_number_integer() || (id.is_number_unsigned() && id.get<std::uint64_t>() > INT64_MAX))
      throw_error(where, ".disabled holds ", id.is_number() ? id.dump() : id.type_name(),
                  ", not a parameter id");
    out.disabled.push_back(id.get<std::int64_t>());
  }
  return out;
}

std::int64_t parse_id(const std::string& text, const std::string& tensor) {
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos)
    throw_error("tensor ", detail::printable(tensor), ": ", detail::printable(text),
                " is not a parameter id");
  const std::int64_t id = std::stoll(text);
  if (std::to_string(id) != text)
    throw_error("tensor ", detail::printable(tensor), ": parameter id ", detail::printable(text),
                " is not canonical");
  return id;
}

template <class T>
T read_scalar(detail::ByteSource& source, const detail::Header& header,
              const detail::TensorRecord& record) {
  T value{};
  detail::read_tensor_bytes(source, header, record, 0, &value, sizeof value);
  return value;  // little-endian hosts only (x86, ARM)
}
}  // namespace

namespace detail {

json parse_metadata_json(const std::string& text, const std::string& what) {
  check_json_depth(text, kMaxJsonDepth, what);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw_error(what, " is not valid JSON: ", e.what());
  }
}

std::map<std::string, std::string> checkpoint_metadata(const std::string& optimizer,
                                                       const std::vector<GroupState>& groups,
                                                       const std::optional<StepSettings>& settings) {
  json array = json::array();
  for (const GroupState& g : groups) array.push_back(group_to_json(g));
  std::map<std::string, std::string> out = {{"format", kFormat},
                                            {"format_version", kFormatVersion},
                                            {"optimizer", optimizer},
                                            {"param_groups", array.dump()}};
  if (settings) out["settings"] = settings_to_json(*settings).dump();
  return out;
}

std::string state_entry_name(std::int64_t id, const std::string& key) {
  return "state." + std::to_string(id) + "." + key;
}

CheckpointIndex read_checkpoint_index(ByteSource& source) {
  CheckpointIndex out;
  out.header = read_header(source);
  const auto& metadata = out.header.metadata;
  auto meta = [&](const char* key) -> const std::string& {
    const auto it = metadata.find(key);
    if (it == metadata.end()) throw_error("checkpoint: __metadata__ has no \"", key, "\"");
    return it->second;
  };
  if (meta("format") != kFormat)
    throw_error("checkpoint: format ", printable(meta("format")), " is not \"", kFormat, "\"");
  if (meta("format_version") != kFormatVersion)
    throw_error("checkpoint: format_version ", printable(meta("format_version")),
                " is not supported (this library reads \"", kFormatVersion, "\")");
  out.optimizer = meta("optimizer");
  const std::string& groups_text = meta("param_groups");
  const json groups = parse_metadata_json(groups_text, "checkpoint: param_groups");
  if (!groups.is_array()) throw_error("checkpoint: param_groups must be a JSON array");
  for (std::size_t g = 0; g < groups.size(); ++g)
    out.param_groups.push_back(
        group_from_json(groups[g], "param_groups[" + std::to_string(g) + "]"));
  const auto settings = metadata.find("settings");  // NOTE(step-settings): absent in older files
  if (settings != metadata.end()) out.settings = settings_from_json(settings->second);

  for (const auto& [name, tensor] : out.header.tensors) {
    const std::size_t dot = name.find('.', 6);
    if (name.compare(0, 6, "state.") != 0 || dot == std::string::npos || dot + 1 == name.size())
      throw_error("checkpoint: tensor ", printable(name), " is not named state.<id>.<key>");
    const std::int64_t id = parse_id(name.substr(6, dot - 6), name);
    const std::string key = name.substr(dot + 1);
    IndexedParam& param = out.state[id];
    const bool is_scalar = tensor.shape.empty();
    if (key == "step") {
      if (tensor.dtype != "F32" || !is_scalar)
        throw_error("checkpoint: tensor ", printable(name), " must be a 0-d F32 tensor, got ",
                    tensor.dtype, " of rank ", tensor.shape.size());
      param.step = read_scalar<float>(source, out.header, tensor);
    } else if ((tensor.dtype == "F32" || tensor.dtype == "BF16") && tensor.shape.size() == 1) {
      param.tensors[key] = tensor;  // BF16: bf16 optimizer state (NOTE(state-dtype))
    } else if (tensor.dtype == "F64" && is_scalar) {
      param.scalars[key] = read_scalar<double>(source, out.header, tensor);
    } else {
      throw_error("checkpoint: tensor ", printable(name), " is ", tensor.dtype, " of rank ",
                  tensor.shape.size(),
                  "; state tensors are 1-d F32 or BF16, scalars 0-d F64, step 0-d F32");
    }
  }
  for (const auto& entry : out.state)
    if (out.header.tensors.count(state_entry_name(entry.first, "step")) == 0)
      throw_error("checkpoint: state of parameter ", entry.first, " has no step");
  return out;
}

}  // namespace detail

void write_state_dict(const StateDict& state, const std::string& path) {
  detail::SafeTensors file;
  file.metadata = detail::checkpoint_metadata(state.optimizer, state.param_groups, state.settings);
  for (const auto& [id, param] : state.state) {
    file.tensors[detail::state_entry_name(id, "step")] = scalar_tensor("F32", float(param.step));
    for (const auto& [name, values] : param.tensors) {
      detail::SafeTensor t{"F32",
                           {std::int64_t(values.size())},
                           std::vector<unsigned char>(values.size() * sizeof(float))};
      if (!values.empty()) std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
      file.tensors[detail::state_entry_name(id, name)] = std::move(t);
    }
    for (const auto& [name, value] : param.scalars)
      file.tensors[detail::state_entry_name(id, name)] = scalar_tensor("F64", value);
  }
  detail::AtomicFileSink sink(path);
  detail::write_safetensors(sink, file);
  sink.commit();
}

namespace {
StateDict read_state_dict_from(detail::ByteSource& source) {
  const detail::CheckpointIndex index = detail::read_checkpoint_index(source);
  detail::check_fits_in_memory(source.size());
  StateDict out;
  out.optimizer = index.optimizer;
  out.param_groups = index.param_groups;
  out.settings = index.settings;
  for (const auto& [id, indexed] : index.state) {
    ParamState& param = out.state[id];
    param.step = indexed.step;
    param.scalars = indexed.scalars;
    for (const auto& [key, record] : indexed.tensors) {
      std::vector<float>& values = param.tensors[key];
      values.resize(std::size_t(record.numel()));
      if (record.dtype == "BF16") {  // widened, exactly
        std::vector<kernels::BFloat16> bits(values.size());
        detail::read_tensor_bytes(source, index.header, record, 0, bits.data(), bits.size() * 2);
        for (std::size_t e = 0; e < values.size(); ++e) values[e] = kernels::to_float(bits[e]);
        continue;
      }
      detail::read_tensor_bytes(source, index.header, record, 0, values.data(),
                                values.size() * sizeof(float));
    }
  }
  return out;
}
}  // namespace

StateDict parse_state_dict(const void* data, std::size_t size) {
  detail::MemorySource source(data, size);
  return read_state_dict_from(source);
}

StateDict read_state_dict(const std::string& path) {
  try {
    detail::FileSource source(path);
    return read_state_dict_from(source);
  } catch (const Error& e) {
    throw Error("load(" + detail::printable(path, 256) + "): " + e.what());
  }
}

}  // namespace fusedopt
