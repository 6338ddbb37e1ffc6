#include "fusedopt/averaging.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <cstring>
#include <string>

#include "host/engine/configs.hpp"
#include "host/engine/engine.hpp"
#include "host/engine/executor.hpp"
#include "kernels/optimizers/averaging.h"
#include "host/io/checkpoint.hpp"

namespace fusedopt {

AveragingMode ema_decay(double decay) { return {AveragingMode::Kind::ema, decay}; }
AveragingMode swa_average() { return {AveragingMode::Kind::swa, 0.0}; }

namespace {
// n_averaged is a double on the device: integers are exact up to 2^53.
constexpr std::int64_t kMaxNAveraged = std::int64_t(1) << 53;

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
// the read-only input in the gradient slot (see kernels/optimizers/averaging.h); each pair's
// scalar state (a double, exact to 2^53) is n_averaged.
struct AveragedModel::State {
  std::string torn_by;  // a load that failed while overwriting the copies (see load())
  void check_not_torn(const char* operation) const {
    if (!torn_by.empty())
      detail::throw_error("AveragedModel::", operation, ": the averaged copies are incomplete: ",
                          torn_by, " failed after it began overwriting them; load again first");
  }
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

void AveragedModel::rebind(const std::vector<Param>& params) { rebind(values_of(params)); }

void AveragedModel::rebind(const std::vector<TensorView>& params) {
  State& s = *state_;
  if (params.size() != s.averaged.size())
    detail::throw_error("AveragedModel::rebind: ", params.size(), " parameter(s) given, the model has ",
                        s.averaged.size());
  std::vector<std::vector<Param>> pairs(1);
  for (std::size_t i = 0; i < params.size(); ++i) {
    const std::string name = "AveragedModel::rebind: params[" + std::to_string(i) + "]";
    detail::check_view(params[i], name);
    const TensorView& copy = s.averaged[i];
    if (params[i].numel != copy.numel || params[i].dtype != copy.dtype ||
        params[i].device != copy.device)
      detail::throw_error(name, " is ", params[i].numel, " ", to_string(params[i].dtype),
                          " elements on ", params[i].device.str(), ", the averaged parameter ",
                          copy.numel, " ", to_string(copy.dtype), " on ", copy.device.str());
    pairs[0].push_back({copy, params[i]});  // the parameter is the op's read-only input
  }
  const std::vector<bool> changed = s.engine.check_rebind(pairs);
  s.engine.rebind(pairs, changed);
}

void AveragedModel::update() {
  state_->check_not_torn("update");
  for (const detail::SegmentLaunch& segment : state_->engine.segments())
    detail::check_built(FUSEDOPT_BUILT_STORAGE, segment, "AveragedModel", FUSEDOPT_LIST_NAME);
  for (const detail::SegmentLaunch& segment : state_->engine.segments())
    detail::run_step<kernels::AveragingOp, /*kWithMaster=*/false>(segment);
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
  return std::int64_t(state_->engine.param_state(0, 0));
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

AveragedState AveragedModel::state_dict() const {
  const State& s = *state_;
  s.check_not_torn("state_dict");
  AveragedState out;
  out.n_averaged = n_averaged();  // synchronizes: the copies below read settled memory
  for (std::size_t i = 0; i < s.averaged.size(); ++i) {
    out.dtypes.push_back(s.averaged[i].dtype);
    out.averaged.emplace_back(s.copies[i].bytes());
    detail::copy_to_host(out.averaged.back().data(), s.copies[i].data(), s.copies[i].bytes(),
                         s.engine.device(), s.engine.stream());
  }
  return out;
}

void AveragedModel::load_state_dict(const AveragedState& state) {
  State& s = *state_;
  if (state.averaged.size() != s.averaged.size() || state.dtypes.size() != s.averaged.size())
    detail::throw_error("AveragedModel::load_state_dict: the state has ", state.averaged.size(),
                        " tensor(s) and ", state.dtypes.size(), " dtype(s), the model ",
                        s.averaged.size());
  if (state.n_averaged < 0 || state.n_averaged > kMaxNAveraged)
    detail::throw_error("AveragedModel::load_state_dict: n_averaged = ", state.n_averaged,
                        " must be in [0, 2^53]");
  for (std::size_t i = 0; i < s.averaged.size(); ++i) {
    if (state.dtypes[i] != s.averaged[i].dtype)
      detail::throw_error("AveragedModel::load_state_dict: averaged[", i, "] is ",
                          to_string(state.dtypes[i]), ", the parameter ",
                          to_string(s.averaged[i].dtype));
    if (state.averaged[i].size() != s.copies[i].bytes())
      detail::throw_error("AveragedModel::load_state_dict: averaged[", i, "] has ",
                          state.averaged[i].size(), " bytes, the parameter ", s.copies[i].bytes());
  }
  detail::EngineState next = s.engine.initial_state();
  std::fill(next.param_states.begin(), next.param_states.end(), double(state.n_averaged));
  std::fill(next.steps.begin(), next.steps.end(), float(state.n_averaged));  // unused by the op
  for (std::size_t i = 0; i < s.averaged.size(); ++i)
    detail::copy_from_host(s.copies[i].data(), state.averaged[i].data(), s.copies[i].bytes(),
                           s.engine.device(), s.engine.stream());
  s.engine.write_all(next);
  s.torn_by.clear();
}

namespace {
constexpr const char* kAveragedFormat = "fusedopt.averaged_model";
constexpr const char* kAveragedFormatVersion = "1";

const char* safetensors_dtype(DType dtype) {
  switch (dtype) {
    case DType::f32:
      return "F32";
    case DType::f16:
      return "F16";
    case DType::bf16:
      return "BF16";
  }
  return "?";
}
}  // namespace

void AveragedModel::write_file(detail::ByteSink& sink) const {
  const State& s = *state_;
  s.check_not_torn("save");
  const std::int64_t n = n_averaged();  // synchronizes: the copies below read settled memory
  std::map<std::string, detail::TensorSpec> specs;
  std::map<std::string, std::size_t> index_of;
  for (std::size_t i = 0; i < s.averaged.size(); ++i) {
    const std::string name = "averaged." + std::to_string(i);
    specs[name] = {safetensors_dtype(s.averaged[i].dtype), {s.averaged[i].numel},
                   s.copies[i].bytes()};
    index_of[name] = i;
  }
  // Streamed (NOTE(streaming-io)): the header, then each copy straight from its memory.
  detail::write_header(sink,
                       {{"format", kAveragedFormat},
                        {"format_version", kAveragedFormatVersion},
                        {"n_averaged", std::to_string(n)}},
                       specs);
  for (const auto& [name, i] : index_of)
    detail::write_device_bytes(sink, s.copies[i].data(), s.copies[i].bytes(), s.engine.device(),
                               s.engine.stream());
}

void AveragedModel::save(const std::string& path) const {
  detail::AtomicFileSink sink(path);
  write_file(sink);
  sink.commit();
}

std::function<void()> AveragedModel::stage_file(detail::ByteSource& source,
                                                 const std::string& what) {
  State& s = *state_;
  const detail::Header header = detail::read_header(source);
  const auto format = header.metadata.find("format");
  if (format == header.metadata.end() || format->second != kAveragedFormat)
    detail::throw_error("not an AveragedModel checkpoint (format ",
                        format == header.metadata.end() ? std::string("missing")
                                                        : detail::printable(format->second),
                        ")");
  const auto version = header.metadata.find("format_version");
  if (version == header.metadata.end() || version->second != kAveragedFormatVersion)
    detail::throw_error("format_version ",
                        version == header.metadata.end() ? std::string("missing")
                                                         : detail::printable(version->second),
                        " is not supported (this library reads \"", kAveragedFormatVersion,
                        "\")");
  const auto count = header.metadata.find("n_averaged");
  if (count == header.metadata.end() || count->second.empty() || count->second.size() > 16 ||
      count->second.find_first_not_of("0123456789") != std::string::npos)
    detail::throw_error("n_averaged is missing or not a count");
  const std::int64_t n = std::stoll(count->second);
  if (n > kMaxNAveraged) detail::throw_error("n_averaged = ", n, " must be in [0, 2^53]");
  if (header.tensors.size() != s.averaged.size())
    detail::throw_error("the file has ", header.tensors.size(), " tensor(s), the model ",
                        s.averaged.size());
  std::vector<detail::TensorRecord> records;
  for (std::size_t i = 0; i < s.averaged.size(); ++i) {
    const auto t = header.tensors.find("averaged." + std::to_string(i));
    if (t == header.tensors.end()) detail::throw_error("tensor averaged.", i, " is missing");
    const TensorView& view = s.averaged[i];
    if (t->second.dtype != safetensors_dtype(view.dtype) || t->second.shape.size() != 1 ||
        t->second.shape[0] != view.numel)
      detail::throw_error("tensor averaged.", i, " is ", t->second.dtype, " of rank ",
                          t->second.shape.size(), " and ", t->second.numel(),
                          " elements; the parameter is 1-d ", safetensors_dtype(view.dtype),
                          " of ", view.numel);
    records.push_back(t->second);
  }
  return [this, &source, header, records, n, what] {
    State& s = *state_;
    // Streamed straight into the copies, in file order; a read failing now tears them.
    std::vector<std::size_t> order(records.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](std::size_t a, std::size_t b) { return records[a].begin < records[b].begin; });
    s.torn_by = what;
    try {
      for (std::size_t i : order)
        detail::read_tensor_to_device(source, header, records[i], s.copies[i].data(),
                                      s.engine.device(), s.engine.stream());
    } catch (const Error& e) {
      detail::throw_error(e.what(), " -- the averaged copies are partly overwritten; update(), "
                          "save() and state_dict() throw until a load succeeds");
    }
    detail::EngineState next = s.engine.initial_state();
    std::fill(next.param_states.begin(), next.param_states.end(), double(n));
    std::fill(next.steps.begin(), next.steps.end(), float(n));  // unused by the op
    s.engine.write_all(next);
    s.torn_by.clear();
  };
}

void AveragedModel::load(const std::string& path) {
  const std::string where = "AveragedModel::load(" + detail::printable(path, 256) + ")";
  try {
    detail::FileSource source(path);
    stage_file(source, where)();
  } catch (const Error& e) {
    throw Error(where + ": " + e.what());
  }
}

}  // namespace fusedopt
