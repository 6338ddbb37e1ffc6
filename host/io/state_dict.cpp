// The file form of StateDict (NOTE(checkpoint) in include/fusedopt/state_dict.hpp).
#include "fusedopt/state_dict.hpp"

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "fusedopt/error.hpp"
#include "host/io/safetensors.hpp"

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
  out["params"] = group.params;
  return out;
}

double number_of(const json& value, const std::string& what) {
  if (!value.is_number()) throw_error(what, " must be a number, got ", value.dump());
  return value.get<double>();
}

GroupState group_from_json(const json& group, const std::string& where) {
  if (!group.is_object()) throw_error(where, " must be an object, got ", group.dump());
  GroupState out;
  bool has_params = false;
  for (const auto& [name, value] : group.items()) {
    const std::string what = where + "[\"" + name + "\"]";
    if (name == "params") {
      if (!value.is_array()) throw_error(what, " must be an array of parameter ids");
      for (const json& id : value) {
        if (!id.is_number_integer() ||
            (id.is_number_unsigned() && id.get<std::uint64_t>() > INT64_MAX))
          throw_error(what, " holds ", id.dump(), ", not a parameter id");
        out.params.push_back(id.get<std::int64_t>());
      }
      has_params = true;
    } else if (name == "initial_lr") {
      out.initial_lr = number_of(value, what);
    } else if (value.is_boolean()) {
      out.options[name] = value.get<bool>();
    } else if (value.is_number()) {
      out.options[name] = value.get<double>();
    } else if (value.is_array() && value.size() == 2 && value[0].is_number() &&
               value[1].is_number()) {
      out.options[name] = std::make_pair(value[0].get<double>(), value[1].get<double>());
    } else {
      throw_error(what, " must be a number, a bool or a pair of numbers, got ", value.dump());
    }
  }
  if (!has_params) throw_error(where, " has no \"params\"");
  return out;
}

std::int64_t parse_id(const std::string& text, const std::string& tensor) {
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos)
    throw_error("tensor \"", tensor, "\": \"", text, "\" is not a parameter id");
  const std::int64_t id = std::stoll(text);
  if (std::to_string(id) != text)
    throw_error("tensor \"", tensor, "\": parameter id \"", text, "\" is not canonical");
  return id;
}
}  // namespace

void write_state_dict(const StateDict& state, const std::string& path) {
  detail::SafeTensors file;
  file.metadata["format"] = kFormat;
  file.metadata["format_version"] = kFormatVersion;
  file.metadata["optimizer"] = state.optimizer;
  json groups = json::array();
  for (const GroupState& g : state.param_groups) groups.push_back(group_to_json(g));
  file.metadata["param_groups"] = groups.dump();
  for (const auto& [id, param] : state.state) {
    const std::string prefix = "state." + std::to_string(id) + ".";
    file.tensors[prefix + "step"] = scalar_tensor("F32", float(param.step));
    for (const auto& [name, values] : param.tensors) {
      detail::SafeTensor t{"F32",
                           {std::int64_t(values.size())},
                           std::vector<unsigned char>(values.size() * sizeof(float))};
      if (!values.empty()) std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
      file.tensors[prefix + name] = std::move(t);
    }
    for (const auto& [name, value] : param.scalars)
      file.tensors[prefix + name] = scalar_tensor("F64", value);
  }
  detail::write_file_atomically(path, detail::encode_safetensors(file));
}

StateDict parse_state_dict(const void* data, std::size_t size) {
  const detail::SafeTensors file = detail::decode_safetensors(data, size);
  auto meta = [&](const char* key) -> const std::string& {
    const auto it = file.metadata.find(key);
    if (it == file.metadata.end()) throw_error("checkpoint: __metadata__ has no \"", key, "\"");
    return it->second;
  };
  if (meta("format") != kFormat)
    throw_error("checkpoint: format \"", meta("format"), "\" is not \"", kFormat, "\"");
  if (meta("format_version") != kFormatVersion)
    throw_error("checkpoint: format_version \"", meta("format_version"),
                "\" is not supported (this library reads \"", kFormatVersion, "\")");
  StateDict out;
  out.optimizer = meta("optimizer");
  json groups;
  try {
    groups = json::parse(meta("param_groups"));
  } catch (const json::exception& e) {
    throw_error("checkpoint: param_groups is not valid JSON: ", e.what());
  }
  if (!groups.is_array()) throw_error("checkpoint: param_groups must be a JSON array");
  for (std::size_t g = 0; g < groups.size(); ++g)
    out.param_groups.push_back(
        group_from_json(groups[g], "param_groups[" + std::to_string(g) + "]"));

  for (const auto& [name, tensor] : file.tensors) {
    const std::size_t dot = name.find('.', 6);
    if (name.compare(0, 6, "state.") != 0 || dot == std::string::npos || dot + 1 == name.size())
      throw_error("checkpoint: tensor \"", name, "\" is not named state.<id>.<key>");
    const std::int64_t id = parse_id(name.substr(6, dot - 6), name);
    const std::string key = name.substr(dot + 1);
    ParamState& param = out.state[id];
    const bool is_scalar = tensor.shape.empty();
    if (key == "step") {
      if (tensor.dtype != "F32" || !is_scalar)
        throw_error("checkpoint: tensor \"", name, "\" must be a 0-d F32 tensor, got ",
                    tensor.dtype, " of rank ", tensor.shape.size());
      float step = 0;
      std::memcpy(&step, tensor.bytes.data(), sizeof step);
      param.step = step;
    } else if (tensor.dtype == "F32" && tensor.shape.size() == 1) {
      std::vector<float>& values = param.tensors[key];
      values.resize(std::size_t(tensor.shape[0]));
      if (!values.empty()) std::memcpy(values.data(), tensor.bytes.data(), tensor.bytes.size());
    } else if (tensor.dtype == "F64" && is_scalar) {
      double value = 0;
      std::memcpy(&value, tensor.bytes.data(), sizeof value);
      param.scalars[key] = value;
    } else {
      throw_error("checkpoint: tensor \"", name, "\" is ", tensor.dtype, " of rank ",
                  tensor.shape.size(),
                  "; state tensors are 1-d F32, scalars 0-d F64, step 0-d F32");
    }
  }
  for (const auto& [id, param] : out.state)
    if (file.tensors.count("state." + std::to_string(id) + ".step") == 0)
      throw_error("checkpoint: state of parameter ", id, " has no step");
  return out;
}

StateDict read_state_dict(const std::string& path) {
  const std::vector<unsigned char> bytes = detail::read_file(path);
  try {
    return parse_state_dict(bytes.data(), bytes.size());
  } catch (const Error& e) {
    throw Error("load(\"" + path + "\"): " + e.what());
  }
}

}  // namespace fusedopt
