// NOTE(training-checkpoint) in include/fusedopt/training_checkpoint.hpp, and the file form of
// an LR scheduler's state.
#include "fusedopt/training_checkpoint.hpp"

#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "host/io/checkpoint.hpp"
#include "host/io/metadata_json.hpp"
#include "host/io/safetensors.hpp"

namespace fusedopt {

namespace {
using detail::throw_error;
using nlohmann::json;

constexpr const char* kSchedulerFormat = "fusedopt.scheduler";
constexpr const char* kTrainingFormat = "fusedopt.training";
constexpr const char* kFormatVersion = "1";
/// A scheduler's state is a few numbers per group: a part larger than this is not one, and is
/// refused before it is read into memory.
constexpr std::uint64_t kMaxSchedulerBytes = 16u << 20;

const std::string& metadata_of(const detail::Header& header, const char* key) {
  const auto it = header.metadata.find(key);
  if (it == header.metadata.end()) throw_error("__metadata__ has no \"", key, "\"");
  return it->second;
}

void check_format(const detail::Header& header, const char* format) {
  const std::string& tag = metadata_of(header, "format");
  if (tag != format)
    throw_error("format ", detail::printable(tag), " is not \"", format, "\"");
  const std::string& version = metadata_of(header, "format_version");
  if (version != kFormatVersion)
    throw_error("format_version ", detail::printable(version),
                " is not supported (this library reads \"", kFormatVersion, "\")");
}

// ---- a scheduler's file: its state_dict() as 1-d F64 tensors, by key ---------------------------

std::vector<unsigned char> scheduler_file(const LRScheduler& scheduler) {
  detail::SafeTensors file;
  file.metadata = {{"format", kSchedulerFormat},
                   {"format_version", kFormatVersion},
                   {"scheduler", scheduler.name()}};
  for (const auto& [key, values] : scheduler.state_dict()) {
    detail::SafeTensor& t = file.tensors[key];
    t.dtype = "F64";
    t.shape = {std::int64_t(values.size())};
    t.bytes.resize(values.size() * sizeof(double));
    if (!values.empty()) std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
  }
  return detail::encode_safetensors(file);
}

/// The state in a scheduler file, checked to be `scheduler`'s kind (its values are validated
/// by load_state_dict).
SchedulerState read_scheduler_file(detail::ByteSource& source, const LRScheduler& scheduler) {
  if (source.size() > kMaxSchedulerBytes)
    throw_error("a scheduler file has ", source.size(), " bytes, more than the ",
                kMaxSchedulerBytes, " a scheduler's state can need");
  const detail::SafeTensors file = detail::read_safetensors(source);
  detail::Header header;
  header.metadata = file.metadata;
  check_format(header, kSchedulerFormat);
  const std::string& kind = metadata_of(header, "scheduler");
  if (kind != scheduler.name())
    throw_error("the state is of a ", detail::printable(kind, 40), ", not a ", scheduler.name());
  SchedulerState state;
  for (const auto& [key, tensor] : file.tensors) {
    if (tensor.dtype != "F64" || tensor.shape.size() != 1)
      throw_error("tensor ", detail::printable(key), " is ", tensor.dtype, " of rank ",
                  tensor.shape.size(), "; a scheduler's values are 1-d F64");
    std::vector<double>& values = state[key];
    values.resize(tensor.bytes.size() / sizeof(double));
    if (!values.empty()) std::memcpy(values.data(), tensor.bytes.data(), tensor.bytes.size());
  }
  return state;
}

// ---- the training checkpoint's parts ----------------------------------------------------------

/// Counts what is written (a part's size, before the container's header is written).
struct CountingSink final : detail::ByteSink {
  std::uint64_t bytes = 0;
  void write(const void*, std::size_t n) override { bytes += n; }
};

/// Passes `limit` bytes on to `sink` and throws past them: a part must write what it measured.
struct BoundedSink final : detail::ByteSink {
  detail::ByteSink& sink;
  std::uint64_t limit;
  std::uint64_t written = 0;
  BoundedSink(detail::ByteSink& s, std::uint64_t l) : sink(s), limit(l) {}
  void write(const void* data, std::size_t n) override {
    if (n > limit - written) throw_error("a part wrote more than it measured (it changed?)");
    sink.write(data, n);
    written += n;
  }
};

/// The bytes of one part, at an offset of the container.
class PartSource final : public detail::ByteSource {
 public:
  PartSource(detail::ByteSource& source, const detail::Header& header,
             const detail::TensorRecord& record)
      : source_(source), begin_(header.data_start + record.begin), size_(record.end - record.begin) {}
  std::uint64_t size() const override { return size_; }
  void read(std::uint64_t offset, void* out, std::size_t n) override {
    if (offset > size_ || n > size_ - offset)
      throw_error("a read of ", n, " bytes at ", offset, " is past the part's ", size_, " bytes");
    source_.read(begin_ + offset, out, n);
  }

 private:
  detail::ByteSource& source_;
  std::uint64_t begin_, size_;
};

std::string scheduler_part(std::size_t i) { return "scheduler." + std::to_string(i); }
std::string averaged_part(std::size_t i) { return "averaged_model." + std::to_string(i); }

json scaler_to_json(const std::optional<GradScalerState>& state) {
  if (!state) return nullptr;
  return {{"scale", state->scale},
          {"growth_factor", state->growth_factor},
          {"backoff_factor", state->backoff_factor},
          {"growth_interval", state->growth_interval},
          {"_growth_tracker", state->growth_tracker}};
}

std::optional<GradScalerState> scaler_from_json(const std::string& text) {
  const char* where = "grad_scaler";
  const json in = detail::parse_metadata_json(text, where);
  if (in.is_null()) return std::nullopt;  // a disabled scaler's
  if (!in.is_object() || in.size() != 5)
    throw_error(where, " must be null or an object of scale, growth_factor, backoff_factor, "
                "growth_interval and _growth_tracker");
  GradScalerState out;
  const auto number = [&](const char* key) {
    if (!in.contains(key) || !in[key].is_number())
      throw_error(where, ".", key, " must be a number");
    return in[key].get<double>();
  };
  const auto integer = [&](const char* key) {
    if (!in.contains(key) || !in[key].is_number_integer() ||
        (in[key].is_number_unsigned() && in[key].get<std::uint64_t>() > INT64_MAX))
      throw_error(where, ".", key, " must be an integer");
    return in[key].get<std::int64_t>();
  };
  out.scale = number("scale");
  out.growth_factor = number("growth_factor");
  out.backoff_factor = number("backoff_factor");
  out.growth_interval = integer("growth_interval");
  out.growth_tracker = integer("_growth_tracker");
  return out;
}

void check_parts(const TrainingState& state, const char* call) {
  if (state.optimizer == nullptr) throw_error(call, ": state.optimizer is null");
  for (std::size_t i = 0; i < state.schedulers.size(); ++i)
    if (state.schedulers[i] == nullptr) throw_error(call, ": state.schedulers[", i, "] is null");
  for (std::size_t i = 0; i < state.averaged_models.size(); ++i)
    if (state.averaged_models[i] == nullptr)
      throw_error(call, ": state.averaged_models[", i, "] is null");
}
}  // namespace

void LRScheduler::save(const std::string& path) const {
  try {
    detail::write_file_atomically(path, scheduler_file(*this));
  } catch (const Error& e) {
    throw Error("save(" + detail::printable(path, 256) + "): " + e.what());
  }
}

void LRScheduler::load(const std::string& path) {
  try {
    detail::FileSource source(path);
    load_state_dict(read_scheduler_file(source, *this));
  } catch (const Error& e) {
    throw Error("load(" + detail::printable(path, 256) + "): " + e.what());
  }
}

void save_training_checkpoint(const TrainingState& state, const std::string& path) {
  const std::string call = "save_training_checkpoint(" + detail::printable(path, 256) + ")";
  check_parts(state, call.c_str());
  try {
    // Each part writes its own file into the container; measured first, as the header that
    // comes first holds every part's size.
    std::map<std::string, std::function<void(detail::ByteSink&)>> parts;
    parts["optimizer"] = [&](detail::ByteSink& sink) {
      detail::CheckpointAccess::save(*state.optimizer, sink);
    };
    for (std::size_t i = 0; i < state.schedulers.size(); ++i) {
      auto bytes = std::make_shared<std::vector<unsigned char>>(scheduler_file(*state.schedulers[i]));
      parts[scheduler_part(i)] = [bytes](detail::ByteSink& sink) {
        sink.write(bytes->data(), bytes->size());
      };
    }
    for (std::size_t i = 0; i < state.averaged_models.size(); ++i) {
      const AveragedModel* model = state.averaged_models[i];
      parts[averaged_part(i)] = [model](detail::ByteSink& sink) {
        detail::CheckpointAccess::save(*model, sink);
      };
    }
    std::map<std::string, detail::TensorSpec> specs;
    for (const auto& [name, write] : parts) {
      CountingSink counter;
      write(counter);
      specs[name] = {"U8", {std::int64_t(counter.bytes)}, counter.bytes};
    }
    std::map<std::string, std::string> metadata = {{"format", kTrainingFormat},
                                                   {"format_version", kFormatVersion}};
    if (state.scaler) metadata["grad_scaler"] = scaler_to_json(state.scaler->state_dict()).dump();
    detail::AtomicFileSink sink(path);
    detail::write_header(sink, metadata, specs);
    for (const auto& [name, write] : parts) {  // the header's order
      BoundedSink bounded(sink, specs[name].bytes);
      write(bounded);
      if (bounded.written != specs[name].bytes)
        throw_error("part ", name, " wrote fewer bytes than it measured (it changed?)");
    }
    sink.commit();
  } catch (const Error& e) {
    throw Error(call + ": " + e.what());
  }
}

void load_training_checkpoint(const TrainingState& state, const std::string& path) {
  const std::string call = "load_training_checkpoint(" + detail::printable(path, 256) + ")";
  check_parts(state, call.c_str());
  std::string part = "the container";  // what the error names
  try {
    detail::FileSource source(path);
    const detail::Header header = detail::read_header(source);
    check_format(header, kTrainingFormat);

    // 1. The parts against the call.
    std::size_t schedulers = 0, averaged = 0;
    for (const auto& [name, record] : header.tensors) {
      if (record.dtype != "U8" || record.shape.size() != 1)
        throw_error("tensor ", detail::printable(name), " is ", record.dtype, " of rank ",
                    record.shape.size(), "; the parts are 1-d U8");
      if (name.rfind("scheduler.", 0) == 0)
        ++schedulers;
      else if (name.rfind("averaged_model.", 0) == 0)
        ++averaged;
      else if (name != "optimizer")
        throw_error("tensor ", detail::printable(name), " is not a part of a training checkpoint");
    }
    if (schedulers != state.schedulers.size())
      throw_error("the file has ", schedulers, " scheduler(s), the call ", state.schedulers.size());
    if (averaged != state.averaged_models.size())
      throw_error("the file has ", averaged, " averaged model(s), the call ",
                  state.averaged_models.size());
    const auto record = [&](const std::string& name) -> const detail::TensorRecord& {
      const auto it = header.tensors.find(name);
      if (it == header.tensors.end()) throw_error("part ", name, " is missing");
      return it->second;
    };
    record("optimizer");
    const auto scaler_text = header.metadata.find("grad_scaler");
    if (state.scaler && scaler_text == header.metadata.end())
      throw_error("the file has no GradScaler state, the call a scaler");
    if (!state.scaler && scaler_text != header.metadata.end())
      throw_error("the file has a GradScaler state: pass the scaler to load it into");

    // 2. Everything small read and checked, the averaged models validated (nothing changes).
    std::optional<GradScalerState> scaler_state;
    if (state.scaler) {
      part = "grad_scaler";
      scaler_state = scaler_from_json(scaler_text->second);
    }
    std::vector<SchedulerState> scheduler_states;
    for (std::size_t i = 0; i < state.schedulers.size(); ++i) {
      part = scheduler_part(i);
      PartSource bytes(source, header, record(part));
      scheduler_states.push_back(read_scheduler_file(bytes, *state.schedulers[i]));
    }
    std::vector<std::unique_ptr<PartSource>> averaged_bytes;
    std::vector<std::function<void()>> averaged_commits;
    for (std::size_t i = 0; i < state.averaged_models.size(); ++i) {
      part = averaged_part(i);
      averaged_bytes.push_back(std::make_unique<PartSource>(source, header, record(part)));
      averaged_commits.push_back(detail::CheckpointAccess::stage(
          *state.averaged_models[i], *averaged_bytes.back(), call + ": " + part));
    }

    // 3. Schedulers and scaler (kept to restore), then the optimizer: each validates before it
    // changes, and a refusal puts the earlier ones back.
    std::vector<SchedulerState> scheduler_before;
    std::optional<GradScalerState> scaler_before;
    if (state.scaler) scaler_before = state.scaler->state_dict();
    bool scaler_loaded = false;
    try {
      for (std::size_t i = 0; i < state.schedulers.size(); ++i) {
        part = scheduler_part(i);
        scheduler_before.push_back(state.schedulers[i]->state_dict());
        state.schedulers[i]->load_state_dict(scheduler_states[i]);
      }
      if (state.scaler) {
        part = "grad_scaler";
        state.scaler->load_state_dict(scaler_state);
        scaler_loaded = true;
      }
      part = "optimizer";
      PartSource bytes(source, header, record(part));
      detail::CheckpointAccess::load(*state.optimizer, bytes, call + ": optimizer");
    } catch (...) {
      for (std::size_t i = 0; i < scheduler_before.size(); ++i)  // their own states: no throw
        state.schedulers[i]->load_state_dict(scheduler_before[i]);
      if (scaler_loaded) state.scaler->load_state_dict(scaler_before);
      throw;
    }

    // 4. The averaged copies, validated in 2: only a failing read can stop them now.
    for (std::size_t i = 0; i < averaged_commits.size(); ++i) {
      part = averaged_part(i);
      averaged_commits[i]();
    }
  } catch (const Error& e) {
    throw Error(call + ": " + part + ": " + e.what());
  }
}

}  // namespace fusedopt
