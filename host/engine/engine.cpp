#include "host/engine/engine.hpp"

#include <algorithm>
#include <climits>
#include <cstring>
#include <string>

#include "host/engine/executor.hpp"
#include "fusedopt/error.hpp"

namespace fusedopt::detail {

namespace {

// Segments by (parameter dtype, master weights): one launch each.
struct SegmentKind {
  DType dtype;
  bool master;
  bool bf16_state;  // NOTE(state-dtype)
};
constexpr SegmentKind kSegmentOrder[] = {
    {DType::f32, false, false}, {DType::f16, false, false}, {DType::bf16, false, false},
    {DType::f16, true, false},  {DType::bf16, true, false}, {DType::bf16, false, true},
    {DType::bf16, true, true}};
constexpr int kNumSegments = 7;

constexpr const char* kMasterName = "master_param";

bool has_master(const Precision& precision, DType dtype) {
  return precision.master_weights && dtype != DType::f32;
}

std::int64_t padded(std::int64_t numel) {
  constexpr std::int64_t kAlign = kernels::kStateAlignElements;
  return (numel + kAlign - 1) / kAlign * kAlign;
}

/// NOTE(absent-grad): a non-empty parameter whose gradient has no memory (yet).
bool is_absent(const Param& p) { return p.grad.data == nullptr && p.value.numel > 0; }

std::string name_of(std::size_t group, std::size_t index, const char* field) {
  return "param_groups[" + std::to_string(group) + "].params[" + std::to_string(index) + "]." +
         field;
}

/// A group's state buffer as it starts: state tensor k filled with config.state_init[k], in
/// each parameter's state dtype.
std::vector<unsigned char> initial_state_bytes(const StateLayout& layout,
                                               const std::vector<Param>& params,
                                               const GroupConfig& config) {
  std::vector<unsigned char> out(std::size_t(layout.stride) * std::size_t(config.num_states));
  for (int k = 0; k < config.num_states; ++k) {
    const float value = config.state_init[std::size_t(k)];
    const kernels::BFloat16 value16 = kernels::from_float<kernels::BFloat16>(value);
    for (std::size_t i = 0; i < params.size(); ++i) {
      unsigned char* at = out.data() + std::int64_t(k) * layout.stride + layout.slots[i];
      for (std::int64_t e = 0; e < params[i].value.numel; ++e)
        if (layout.dtypes[i] == DType::bf16)
          std::memcpy(at + 2 * e, &value16, 2);
        else
          std::memcpy(at + 4 * e, &value, 4);
    }
  }
  return out;
}

bool has_bf16_state(const StateLayout& layout) {
  return std::find(layout.dtypes.begin(), layout.dtypes.end(), DType::bf16) != layout.dtypes.end();
}

struct Extent {
  std::uintptr_t begin, end;
  std::size_t group, index;
};

}  // namespace

StateLayout make_state_layout(const std::vector<Param>& params, const Precision& precision) {
  constexpr std::int64_t kSlotBytes = 32;
  StateLayout layout;
  for (const Param& p : params) {
    const DType dtype = precision.state_dtype == DType::bf16 && p.value.dtype == DType::bf16
                            ? DType::bf16
                            : DType::f32;
    layout.slots.push_back(layout.stride);
    layout.dtypes.push_back(dtype);
    const std::int64_t bytes = p.value.numel * std::int64_t(dtype_size(dtype));
    layout.stride += (bytes + kSlotBytes - 1) / kSlotBytes * kSlotBytes;
  }
  return layout;
}

void check_view(const TensorView& view, const std::string& name) {
  if (view.numel < 0) throw_error(name, ".numel must be >= 0, got ", view.numel);
  if (view.numel > kMaxElements)
    throw_error(name, ".numel = ", view.numel, " exceeds fusedopt's limit of 2^40 elements");
  if (view.dtype != DType::f32 && view.dtype != DType::f16 && view.dtype != DType::bf16)
    throw_error(name, ".dtype: unsupported value ", int(view.dtype));
  if (view.device.is_cuda()) {
    int count = 0;
    try {
      count = cuda_device_count();
    } catch (const Error& e) {  // a broken CUDA installation: say which view needed it
      throw_error(name, ".device = ", view.device.str(), ": ", e.what());
    }
    if (view.device.index < 0 || view.device.index >= count)
      throw_error(name, ".device = ", view.device.str(), " but ", count,
                  " CUDA device(s) are available");
  } else if (!view.device.is_cpu()) {
    throw_error(name, ".device: unsupported kind ", int(view.device.kind));
  }
  if (view.numel == 0) return;  // an empty view is never dereferenced
  if (view.data == nullptr) throw_error(name, ".data is null (numel ", view.numel, ")");
  if (reinterpret_cast<std::uintptr_t>(view.data) % dtype_size(view.dtype) != 0)
    throw_error(name, ".data = ", view.data, " is not aligned to its ", to_string(view.dtype),
                " element size ", dtype_size(view.dtype));
  check_pointer(view.data, view.device, (name + ".data").c_str());
}

namespace {
/// check_view of param_groups[g].params[i].<field>, whose name is built only when a check fails:
/// a valid host view passes without it (a rebind of 10,000 parameters checks 20,000 views).
void check_view(const TensorView& view, std::size_t g, std::size_t i, const char* field) {
  const bool valid_host_view =
      view.device.is_cpu() && view.numel >= 0 && view.numel <= kMaxElements &&
      (view.dtype == DType::f32 || view.dtype == DType::f16 || view.dtype == DType::bf16) &&
      (view.numel == 0 || (view.data != nullptr && reinterpret_cast<std::uintptr_t>(view.data) %
                                                           dtype_size(view.dtype) ==
                                                       0));
  if (!valid_host_view) detail::check_view(view, name_of(g, i, field));
}
}  // namespace

Device Engine::check_params(const std::vector<const std::vector<Param>*>& groups,
                            const std::function<bool(std::size_t, std::size_t)>& is_new) const {
  bool has_device = !groups_.empty();
  Device device = device_;
  std::vector<Extent> extents;
  for (std::size_t g = 0; g < groups.size(); ++g)
    for (std::size_t i = 0; i < groups[g]->size(); ++i) {
      const Param& p = (*groups[g])[i];
      const bool check = is_new(g, i);
      if (check) check_view(p.value, g, i, "value");
      // NOTE(absent-grad): a gradient not bound yet (null data) is skipped by every step.
      if (check && !is_absent(p)) {
        check_view(p.grad, g, i, "grad");
        if (p.grad.numel != p.value.numel)
          throw_error(name_of(g, i, "grad.numel"), " = ", p.grad.numel,
                      " differs from value.numel = ", p.value.numel);
        if (p.grad.dtype != p.value.dtype)
          throw_error(name_of(g, i, "grad.dtype"), " = ", to_string(p.grad.dtype),
                      " differs from value.dtype = ", to_string(p.value.dtype));
        if (p.grad.device != p.value.device)
          throw_error(name_of(g, i, "grad.device"), " = ", p.grad.device.str(),
                      " differs from value.device = ", p.value.device.str());
      }
      if (check) {
        if (!has_device) {
          device = p.value.device;
          has_device = true;
        } else if (p.value.device != device) {
          throw_error(name_of(g, i, "value.device"), " = ", p.value.device.str(),
                      " differs from the optimizer's device ", device.str(),
                      " (one optimizer updates one device)");
        }
      }
      if (p.value.numel > 0) {
        const auto begin = reinterpret_cast<std::uintptr_t>(p.value.data);
        extents.push_back(
            {begin, begin + std::size_t(p.value.numel) * dtype_size(p.value.dtype), g, i});
      }
    }
  std::sort(extents.begin(), extents.end(),
            [](const Extent& a, const Extent& b) { return a.begin < b.begin; });
  for (std::size_t e = 1; e < extents.size(); ++e)
    if (extents[e].begin < extents[e - 1].end) {
      const Extent& a = extents[e - 1];
      const Extent& b = extents[e];
      const bool same = a.begin == b.begin;
      throw_error(name_of(b.group, b.index, "value.data"), " = ",
                  reinterpret_cast<void*>(b.begin), same ? " is the same parameter as " : " overlaps ",
                  name_of(a.group, a.index, "value"),
                  " (a parameter may appear once, in one group)");
    }
  // A gradient that shares memory with a parameter's value would corrupt that parameter
  // (zero_grad() zeroes it, the step reads it as a gradient). Gradients may share memory with
  // each other, as in torch (two parameters with one gradient).
  for (std::size_t g = 0; g < groups.size(); ++g)
    for (std::size_t i = 0; i < groups[g]->size(); ++i) {
      const TensorView& grad = (*groups[g])[i].grad;
      if (grad.numel == 0 || grad.data == nullptr) continue;
      const auto begin = reinterpret_cast<std::uintptr_t>(grad.data);
      const std::uintptr_t end = begin + std::size_t(grad.numel) * dtype_size(grad.dtype);
      // The first value extent ending after `begin`; the extents are sorted and disjoint.
      const auto it = std::upper_bound(extents.begin(), extents.end(), begin,
                                       [](std::uintptr_t b, const Extent& e) { return b < e.end; });
      if (it != extents.end() && it->begin < end)
        throw_error(name_of(g, i, "grad"), " overlaps ", name_of(it->group, it->index, "value"),
                    ": a gradient must not share memory with a parameter (zero_grad() would "
                    "zero that parameter)");
    }
  return device;
}

std::vector<bool> Engine::check_rebind(const std::vector<std::vector<Param>>& params) const {
  require_not_capturing(device_, stream_, "rebind");
  if (params.size() != groups_.size())
    throw_error("rebind: ", params.size(), " param group(s) given, the optimizer has ",
                groups_.size());
  std::vector<const std::vector<Param>*> all;
  std::vector<bool> group_changed(groups_.size(), false);
  std::vector<bool> param_changed(num_params_, false);
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    const std::vector<Param>& now = groups_[g].params;
    if (params[g].size() != now.size())
      throw_error("rebind: param_groups[", g, "] has ", params[g].size(),
                  " parameter(s), the optimizer's has ", now.size());
    for (std::size_t i = 0; i < now.size(); ++i) {
      const TensorView& next = params[g][i].value;
      if (next.numel != now[i].value.numel || next.dtype != now[i].value.dtype)
        throw_error("rebind: ", name_of(g, i, "value"), " is ", next.numel, " ",
                    to_string(next.dtype), " elements where the parameter has ",
                    now[i].value.numel, " ", to_string(now[i].value.dtype),
                    " (NOTE(rebind): a parameter keeps its size and dtype)");
      const auto same = [](const TensorView& a, const TensorView& b) {
        return a.data == b.data && a.numel == b.numel && a.dtype == b.dtype && a.device == b.device;
      };
      if (same(next, now[i].value) && same(params[g][i].grad, now[i].grad)) continue;
      param_changed[groups_[g].first_param + i] = true;
      group_changed[g] = true;
    }
    all.push_back(&params[g]);
  }
  check_params(all, [&](std::size_t g, std::size_t i) {
    return param_changed[groups_[g].first_param + i];
  });
  return group_changed;
}

void Engine::rebind(const std::vector<std::vector<Param>>& params,
                    const std::vector<bool>& changed) {
  // The host copies, then the changed entries of the device's address table in one
  // stream-ordered copy of the range that holds them (nothing below throws but device work).
  std::size_t first = plan_.host_tensors.size();
  std::size_t last = 0;
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    if (!changed[g]) continue;
    groups_[g].params = params[g];
    for (std::size_t i = 0; i < params[g].size(); ++i) {
      const std::int32_t e = plan_.entry_of_param[groups_[g].first_param + i];
      if (e < 0) continue;
      kernels::TensorEntry& entry = plan_.host_tensors[std::size_t(e)];
      (entry.model != nullptr ? entry.model : entry.lists[0]) = params[g][i].value.data;
      entry.lists[1] = params[g][i].grad.data;
      first = std::min(first, std::size_t(e));
      last = std::max(last, std::size_t(e) + 1);
    }
  }
  if (first < last)
    copy_from_host(const_cast<kernels::TensorEntry*>(plan_.view.tensors) + first,
                   plan_.host_tensors.data() + first, (last - first) * sizeof(kernels::TensorEntry),
                   device_, stream_);
}

void Engine::add_groups(const std::vector<std::vector<Param>>& params,
                        const std::vector<GroupConfig>& configs) {
  // 1. Validate everything before touching any member (strong guarantee).
  std::vector<const std::vector<Param>*> all;
  for (const Group& g : groups_) all.push_back(&g.params);
  std::size_t new_params = 0;
  for (std::size_t k = 0; k < params.size(); ++k) {
    if (params[k].empty())
      throw_error("param_groups[", groups_.size() + k,
                  "].params is empty: a group needs at least one parameter");
    all.push_back(&params[k]);
    new_params += params[k].size();
  }
  const std::size_t first_new = groups_.size();
  const Device device =
      check_params(all, [first_new](std::size_t g, std::size_t) { return g >= first_new; });
  if (num_params_ + new_params > std::size_t(INT32_MAX))
    throw_error("param_groups: too many parameters (", num_params_ + new_params, ")");
  std::int64_t elements = 0;  // every parameter's, padded: bounds all later size arithmetic
  for (const Group& g : groups_)
    for (const Param& p : g.params) elements += padded(p.value.numel);
  for (const std::vector<Param>& group : params)
    for (const Param& p : group) {
      elements += padded(p.value.numel);  // each <= 2^40 + 8: no overflow before the check
      if (elements > kMaxElements)
        throw_error("param_groups: the parameters hold more than fusedopt's limit of 2^40 "
                    "elements in all");
    }

  // 2. Build the new groups, plan and scalars aside; any failure leaves *this untouched.
  std::vector<Group> added;
  std::size_t first_param = num_params_;
  for (std::size_t k = 0; k < params.size(); ++k) {
    Group group;
    group.params = params[k];
    group.config = configs[k];
    group.first_param = first_param;
    first_param += params[k].size();
    group.layout = make_state_layout(group.params, group.precision);
    group.state = Buffer(std::size_t(group.layout.stride) * std::size_t(configs[k].num_states),
                         device, stream_);
    const auto* init = configs[k].state_init.data();
    if (std::any_of(init, init + configs[k].num_states, [](float v) { return v != 0.0f; })) {
      const std::vector<unsigned char> host = initial_state_bytes(group.layout, group.params, configs[k]);
      copy_from_host(group.state.data(), host.data(), host.size(), device, stream_);
    }  // else the zeroed buffer is the initial state
    added.push_back(std::move(group));
  }
  std::vector<const Group*> groups;
  for (const Group& g : groups_) groups.push_back(&g);
  for (const Group& g : added) groups.push_back(&g);
  Plan plan = build_plan(groups, device, impl_, num_temps_);
  Scalars scalars = build_scalars(groups, first_param, device);
  std::vector<kernels::GroupScalars> host_groups = host_groups_;
  for (const Group& g : added) host_groups.push_back(group_scalars(g.config, g.precision));
  std::vector<SegmentLaunch> launches = make_launches(plan, scalars, device, impl_, host_groups);
  groups_.reserve(groups_.size() + added.size());  // the last call that may throw

  // 3. Commit: nothing below throws.
  for (Group& g : added) groups_.push_back(std::move(g));
  host_groups_ = std::move(host_groups);  // moving keeps data(), which launches point to
  num_params_ = first_param;
  device_ = device;
  plan_ = std::move(plan);
  scalars_ = std::move(scalars);
  launches_ = std::move(launches);
}

std::vector<SegmentLaunch> Engine::make_launches(
    const Plan& plan, const Scalars& scalars, Device device, Impl impl,
    const std::vector<kernels::GroupScalars>& host_groups) const {
  std::vector<SegmentLaunch> launches;
  for (std::size_t s = 0; s < plan.segments.size(); ++s)
    launches.push_back({plan.view, scalars.view, plan.segments[s], plan.segment_dtypes[s],
                        plan.segment_master[s], plan.segment_bf16_state[s], false, false,
                        device, stream_, impl, plan.segment_tensors[s], host_groups.data()});
  mark_modes(launches);
  return launches;
}

void Engine::mark_modes(std::vector<SegmentLaunch>& launches) {
  for (SegmentLaunch& launch : launches) {
    std::uint32_t modes = 0;
    for (const TensorInfo& t : launch.tensors) modes |= launch.host_groups[t.group].modes;
    launch.stochastic = (modes & kernels::kStochasticRounding) != 0;
    launch.maximize = (modes & kernels::kMaximize) != 0;
  }
}

void Engine::set_impl(Impl impl, int num_temps) {
  if (impl != Impl::Loop && impl != Impl::Foreach && impl != Impl::Fused)
    throw_error("impl: unsupported value ", int(impl));
  if (impl == impl_ && num_temps == num_temps_) return;
  std::vector<const Group*> all;
  for (const Group& g : groups_) all.push_back(&g);
  Plan plan = build_plan(all, device_, impl, num_temps);
  std::vector<SegmentLaunch> launches = make_launches(plan, scalars_, device_, impl, host_groups_);
  // Commit: nothing below throws. The old plan's buffers are released stream-ordered.
  plan_ = std::move(plan);
  launches_ = std::move(launches);
  impl_ = impl;
  num_temps_ = num_temps;
}

Engine::Plan Engine::build_plan(const std::vector<const Group*>& groups, Device device, Impl impl,
                                int num_temps) const {
  std::vector<kernels::TensorEntry> tensors;
  std::vector<kernels::ChunkEntry> chunks;
  Plan plan;
  if (!groups.empty())
    plan.entry_of_param.assign(groups.back()->first_param + groups.back()->params.size(), -1);
  // Temporaries: temp k of a parameter at temps + k * all_elements + (its padded offset).
  const int temps_needed = impl == Impl::Fused ? 0 : num_temps;
  std::int64_t all_elements = 0;
  std::vector<std::int64_t> group_offset;
  for (const Group* g : groups) {
    group_offset.push_back(all_elements);
    for (const Param& p : g->params) all_elements += padded(p.value.numel);
  }
  plan.temps = Buffer(std::size_t(all_elements) * std::size_t(temps_needed) * sizeof(float),
                      device, stream_);
  auto* temps = static_cast<float*>(plan.temps.data());
  for (int s = 0; s < kNumSegments; ++s) {
    std::vector<TensorInfo> infos;
    const DType dtype = kSegmentOrder[s].dtype;
    const bool master = kSegmentOrder[s].master;
    const bool bf16_state = kSegmentOrder[s].bf16_state;
    kernels::Segment segment{};
    segment.chunk_begin = std::int64_t(chunks.size());
    segment.tensor_begin = std::int32_t(tensors.size());
    for (std::size_t g = 0; g < groups.size(); ++g) {
      const Group& group = *groups[g];
      auto* state = static_cast<unsigned char*>(group.state.data());
      const StateLayout& layout = group.layout;
      std::int64_t offset = 0;
      for (std::size_t i = 0; i < group.params.size(); ++i) {
        const Param& p = group.params[i];
        const std::int64_t slot = offset;  // in the temporaries
        offset += padded(p.value.numel);
        if (p.value.dtype != dtype || has_master(group.precision, dtype) != master ||
            (layout.dtypes[i] == DType::bf16) != bf16_state)
          continue;
        kernels::TensorEntry entry{};
        entry.lists[0] = p.value.data;
        if (master) {  // NOTE(master-weights)
          entry.lists[0] = static_cast<float*>(group.master.data()) + group.master_slots[i];
          entry.model = p.value.data;
        }
        entry.lists[1] = p.grad.data;
        for (int k = 0; k < group.config.num_states; ++k)
          entry.lists[2 + k] = state + std::int64_t(k) * layout.stride + layout.slots[i];
        for (int k = 0; k < temps_needed; ++k)
          entry.lists[kernels::kFirstTempList + k] =
              temps + std::int64_t(k) * all_elements + group_offset[g] + slot;
        entry.numel = p.value.numel;
        entry.group = std::int32_t(g);
        entry.param = std::int32_t(group.first_param + i);
        plan.entry_of_param[std::size_t(entry.param)] = std::int32_t(tensors.size());
        const std::int64_t n = kernels::chunk_count(p.value.numel);
        if (n > INT32_MAX) throw_error(name_of(g, i, "value.numel"), " = ", p.value.numel, " is too large");
        tensors.push_back(entry);
        infos.push_back({0, n, p.value.numel, std::int32_t(g), group.config.num_states,
                         entry.param});
      }
    }
    // NOTE(plan-order): the tensors' chunk runs, largest tensor first (stable: ties keep the
    // parameter order); the tensors themselves (and `infos`) stay in parameter order.
    std::vector<std::size_t> by_size(infos.size());
    for (std::size_t k = 0; k < by_size.size(); ++k) by_size[k] = k;
    std::stable_sort(by_size.begin(), by_size.end(), [&](std::size_t a, std::size_t b) {
      return infos[a].numel > infos[b].numel;
    });
    for (const std::size_t k : by_size) {
      const std::int64_t n = infos[k].chunk_end;
      infos[k].chunk_begin = std::int64_t(chunks.size());
      infos[k].chunk_end = infos[k].chunk_begin + n;
      const auto t = std::int32_t(std::size_t(segment.tensor_begin) + k);
      for (std::int64_t c = 0; c < n; ++c) chunks.push_back({t, std::int32_t(c)});
    }
    segment.chunk_end = std::int64_t(chunks.size());
    segment.tensor_end = std::int32_t(tensors.size());
    if (segment.tensor_end == segment.tensor_begin) continue;
    if (segment.chunk_end - segment.chunk_begin > INT32_MAX)
      throw_error("param_groups: ", to_string(dtype), " parameters need ",
                  segment.chunk_end - segment.chunk_begin, " chunks, more than one launch allows");
    plan.segments.push_back(segment);
    plan.segment_dtypes.push_back(dtype);
    plan.segment_master.push_back(master);
    plan.segment_bf16_state.push_back(bf16_state);
    plan.segment_tensors.push_back(std::move(infos));
  }
  const std::size_t tensor_bytes = tensors.size() * sizeof(kernels::TensorEntry);
  const std::size_t chunk_bytes = chunks.size() * sizeof(kernels::ChunkEntry);
  std::vector<unsigned char> host(tensor_bytes + chunk_bytes);
  std::memcpy(host.data(), tensors.data(), tensor_bytes);
  std::memcpy(host.data() + tensor_bytes, chunks.data(), chunk_bytes);
  plan.buffer = Buffer(host.size(), device, stream_);
  copy_from_host(plan.buffer.data(), host.data(), host.size(), device, stream_);
  auto* base = static_cast<unsigned char*>(plan.buffer.data());
  plan.view.tensors = reinterpret_cast<const kernels::TensorEntry*>(base);
  plan.view.chunks = reinterpret_cast<const kernels::ChunkEntry*>(base + tensor_bytes);
  plan.host_tensors = std::move(tensors);
  return plan;
}

kernels::GroupScalars Engine::group_scalars(const GroupConfig& config,
                                            const Precision& precision) const {
  kernels::GroupScalars scalars{};
  for (int k = 0; k < kernels::kMaxHyper; ++k) scalars.hyper[k] = config.hyper[std::size_t(k)];
  scalars.flags = config.flags;
  scalars.modes = (precision.stochastic_rounding ? kernels::kStochasticRounding : 0u) |
                  (config.maximize ? kernels::kMaximize : 0u);
  scalars.seed[0] = std::uint32_t(precision.seed);
  scalars.seed[1] = std::uint32_t(precision.seed >> 32);
  return scalars;
}

void Engine::allocate_master(Group& group, bool master, Device device, Stream stream) {
  group.master_slots.assign(group.params.size(), -1);
  std::int64_t total = 0;
  for (std::size_t i = 0; i < group.params.size(); ++i)
    if (master && group.params[i].value.dtype != DType::f32) {
      group.master_slots[i] = total;
      total += padded(group.params[i].value.numel);
    }
  group.master = Buffer(std::size_t(total) * sizeof(float), device, stream);
}

void Engine::set_precision(std::size_t group, const Precision& precision) {
  require_not_capturing(device_, stream_, "set_precision");
  Group& g = groups_[group];
  if (precision.master_weights == g.precision.master_weights &&
      precision.state_dtype == g.precision.state_dtype) {  // no plan change
    const kernels::GroupScalars scalars = group_scalars(g.config, precision);
    copy_from_host(const_cast<kernels::GroupScalars*>(scalars_.view.groups) + group, &scalars,
                   sizeof scalars, device_, stream_);  // pageable: staged before return
    g.precision = precision;
    host_groups_[group] = scalars;
    mark_modes(launches_);
    return;
  }
  // NOTE(state-dtype): a new state dtype converts the state through the host (a setup-time
  // operation), into a new buffer; the old one stays until the commit.
  const StateLayout layout = make_state_layout(g.params, precision);
  Buffer state;
  const bool new_state = layout.dtypes != g.layout.dtypes;
  if (new_state) {
    state = Buffer(std::size_t(layout.stride) * std::size_t(g.config.num_states), device_, stream_);
    for (std::size_t i = 0; i < g.params.size(); ++i)
      for (int k = 0; k < g.config.num_states; ++k) {
        const std::vector<float> values = read_state(group, i, k);
        write_state_to(state.data(), layout, i, k, values, device_, stream_);
      }
  }
  // Build the new master and plan in place of the old ones, restored on failure.
  Buffer old_master = std::move(g.master);
  std::vector<std::int64_t> old_slots = g.master_slots;
  const Precision old_precision = g.precision;
  Buffer old_state;
  const StateLayout old_layout = g.layout;
  if (new_state) {
    old_state = std::move(g.state);
    g.state = std::move(state);
    g.layout = layout;
  }
  Plan plan;
  std::vector<SegmentLaunch> launches;
  const kernels::GroupScalars scalars = group_scalars(g.config, precision);
  std::vector<kernels::GroupScalars> host_groups = host_groups_;
  host_groups[group] = scalars;
  try {
    g.precision = precision;
    allocate_master(g, precision.master_weights, device_, stream_);
    std::vector<const Group*> all;
    for (const Group& k : groups_) all.push_back(&k);
    plan = build_plan(all, device_, impl_, num_temps_);
    launches = make_launches(plan, scalars_, device_, impl_, host_groups);
    copy_from_host(const_cast<kernels::GroupScalars*>(scalars_.view.groups) + group, &scalars,
                   sizeof scalars, device_, stream_);
  } catch (...) {
    g.precision = old_precision;
    g.master = std::move(old_master);
    g.master_slots = std::move(old_slots);
    if (new_state) {
      g.state = std::move(old_state);
      g.layout = old_layout;
    }
    throw;
  }
  // Commit: nothing below throws but device work.
  host_groups_ = std::move(host_groups);  // moving keeps data(), which launches point to
  plan_ = std::move(plan);
  launches_ = std::move(launches);
  if (precision.master_weights && !old_precision.master_weights)
    master_from_params(group, std::size_t(-1));
}

float* Engine::master_data(std::size_t group, std::size_t index) const {
  const Group& g = groups_[group];
  if (g.master_slots.empty() || g.master_slots[index] < 0) return nullptr;
  return static_cast<float*>(g.master.data()) + g.master_slots[index];
}

void Engine::master_from_params(std::size_t group, std::size_t index) const {
  for (const SegmentLaunch& s : launches_) {
    if (!s.master_weights) continue;
    for (std::size_t t = 0; t < s.tensors.size(); ++t) {
      const TensorInfo& info = s.tensors[t];
      if (group != std::size_t(-1) && std::size_t(info.group) != group) continue;
      if (group != std::size_t(-1) && index != std::size_t(-1) &&
          std::size_t(info.param) != groups_[group].first_param + index)
        continue;
      run_master_from_model(s, info.chunk_begin, info.chunk_end);
    }
  }
}

int Engine::num_tensors(std::size_t group, std::size_t index) const {
  return groups_[group].config.num_states + (master_data(group, index) != nullptr ? 1 : 0);
}

const char* Engine::tensor_name(std::size_t group, int k) const {
  const GroupConfig& config = groups_[group].config;
  return k < config.num_states ? config.state_names[std::size_t(k)] : kMasterName;
}

void* Engine::tensor_data(std::size_t group, std::size_t index, int k) const {
  return k < groups_[group].config.num_states ? state_data(group, index, k)
                                              : static_cast<void*>(master_data(group, index));
}

DType Engine::tensor_dtype(std::size_t group, std::size_t index, int k) const {
  return k < groups_[group].config.num_states ? state_dtype(group, index) : DType::f32;
}

Engine::Scalars Engine::build_scalars(const std::vector<const Group*>& groups,
                                      std::size_t num_params, Device device) const {
  const std::size_t group_bytes = groups.size() * sizeof(kernels::GroupScalars);
  const std::size_t state_bytes = num_params * sizeof(double);
  const std::size_t step_bytes = num_params * sizeof(float);
  const std::size_t counter_bytes = num_params * sizeof(std::uint32_t);  // NOTE(step-count)
  const std::size_t enabled_bytes = num_params;  // NOTE(frozen)
  Scalars scalars;
  scalars.buffer = Buffer(group_bytes + state_bytes + step_bytes + counter_bytes + enabled_bytes,
                          device, stream_);
  auto* base = static_cast<unsigned char*>(scalars.buffer.data());
  std::vector<kernels::GroupScalars> host;
  for (const Group* g : groups) host.push_back(group_scalars(g->config, g->precision));
  copy_from_host(base, host.data(), group_bytes, device, stream_);
  scalars.view.groups = reinterpret_cast<const kernels::GroupScalars*>(base);
  scalars.view.param_state = reinterpret_cast<double*>(base + group_bytes);
  scalars.view.steps = reinterpret_cast<float*>(base + group_bytes + state_bytes);
  // Zero (the buffer is zeroed) and zero again after every launch: not copied on a rebuild.
  scalars.view.arrivals =
      reinterpret_cast<std::uint32_t*>(base + group_bytes + state_bytes + step_bytes);
  scalars.view.grad_scale = scalars_.view.grad_scale;  // NOTE(amp): kept across rebuilds
  scalars.view.found_inf = scalars_.view.found_inf;
  scalars.view.grad_norm = scalars_.view.grad_norm;  // NOTE(clip)
  scalars.view.max_grad_norm = scalars_.view.max_grad_norm;
  auto* enabled = base + group_bytes + state_bytes + step_bytes + counter_bytes;
  scalars.view.enabled = enabled;
  // Existing parameters keep their step counts, scalar state and enabled flags (which the
  // device may have written); new ones start at 0 (the buffer is zeroed), enabled.
  if (num_params_ > 0) {
    copy_on_device(scalars.view.param_state, scalars_.view.param_state,
                   num_params_ * sizeof(double), device, stream_);
    copy_on_device(scalars.view.steps, scalars_.view.steps, num_params_ * sizeof(float), device,
                   stream_);
    copy_on_device(enabled, scalars_.view.enabled, num_params_, device, stream_);
  }
  if (num_params > num_params_) {
    const std::vector<std::uint8_t> ones(num_params - num_params_, 1);
    copy_from_host(enabled + num_params_, ones.data(), ones.size(), device, stream_);
  }
  return scalars;
}

std::string state_names_of(const GroupConfig& config) {
  std::string out;
  for (int k = 0; k < config.num_states; ++k)
    out += std::string(k ? ", " : "") + config.state_names[std::size_t(k)];
  return "[" + out + "]";
}

void check_same_state_layout(std::size_t group, const GroupConfig& now, const GroupConfig& next) {
  if (state_names_of(now) != state_names_of(next))
    throw_error("param_groups[", group, "]: these options need the state tensors ",
                state_names_of(next), " instead of ", state_names_of(now),
                "; the state layout of a group (amsgrad, momentum, centered) is fixed at creation");
}

void Engine::update_group(std::size_t group, const GroupConfig& config) {
  require_not_capturing(device_, stream_,
                        ("param_groups[" + std::to_string(group) + "]: setting options").c_str());
  check_same_state_layout(group, groups_[group].config, config);
  const kernels::GroupScalars scalars = group_scalars(config, groups_[group].precision);
  auto* slot = const_cast<kernels::GroupScalars*>(scalars_.view.groups) + group;
  // From pageable memory, cudaMemcpyAsync returns once the source is staged, so a stack
  // temporary is fine here; under capture it would not be (NOTE(capture), checked above).
  copy_from_host(slot, &scalars, sizeof scalars, device_, stream_);
  groups_[group].config = config;
  host_groups_[group] = scalars;
  mark_modes(launches_);  // NOTE(maximize)
}

void Engine::set_amp(const float* grad_scale, const float* found_inf) {
  for (const auto& [pointer, name] :
       {std::make_pair(grad_scale, "grad_scale"), std::make_pair(found_inf, "found_inf")}) {
    if (pointer == nullptr) continue;
    if (reinterpret_cast<std::uintptr_t>(pointer) % alignof(float) != 0)
      throw_error(name, " = ", static_cast<const void*>(pointer), " is not aligned to a float");
    check_pointer(pointer, device_, name);
  }
  scalars_.view.grad_scale = grad_scale;
  scalars_.view.found_inf = found_inf;
  for (SegmentLaunch& launch : launches_) launch.scalars = scalars_.view;
}

void Engine::set_grad_clip(const float* norm, float max_norm) {
  scalars_.view.grad_norm = norm;
  scalars_.view.max_grad_norm = max_norm;
  for (SegmentLaunch& launch : launches_) launch.scalars = scalars_.view;
}

void Engine::zero_grad() const {
  for (const SegmentLaunch& s : segments()) run_zero_grad(s);
}

void Engine::set_stream(Stream stream) {
  if (stream == stream_) return;
  if (!groups_.empty()) synchronize(device_, stream_);
  stream_ = stream;
  for (Group& g : groups_) {
    g.state.bind_stream(stream);
    g.master.bind_stream(stream);
  }
  plan_.buffer.bind_stream(stream);
  plan_.temps.bind_stream(stream);
  scalars_.buffer.bind_stream(stream);
  for (SegmentLaunch& launch : launches_) launch.stream = stream;
}

float Engine::step_count(std::size_t group, std::size_t index) const {
  float step = 0.0f;
  copy_to_host(&step, scalars_.view.steps + groups_[group].first_param + index, sizeof step,
               device_, stream_);
  return step;
}

EngineState Engine::initial_state() const {
  EngineState out;
  out.steps.assign(num_params_, 0.0f);
  out.param_states.assign(num_params_, 0.0);
  for (const Group& g : groups_) {
    if (has_bf16_state(g.layout)) throw_error("internal: initial_state() of bf16 state");
    const std::vector<unsigned char> bytes = initial_state_bytes(g.layout, g.params, g.config);
    out.group_states.emplace_back(bytes.size() / sizeof(float));
    if (!bytes.empty()) std::memcpy(out.group_states.back().data(), bytes.data(), bytes.size());
  }
  return out;
}

EngineState Engine::read_all() const {
  EngineState out;
  out.steps.resize(num_params_);
  out.param_states.resize(num_params_);
  if (num_params_ > 0) {
    copy_to_host(out.steps.data(), scalars_.view.steps, num_params_ * sizeof(float), device_,
                 stream_);
    copy_to_host(out.param_states.data(), scalars_.view.param_state, num_params_ * sizeof(double),
                 device_, stream_);
  }
  for (const Group& g : groups_) {
    if (has_bf16_state(g.layout)) throw_error("internal: read_all() of bf16 state");
    out.group_states.emplace_back(g.state.bytes() / sizeof(float));
    if (g.state.bytes() > 0)
      copy_to_host(out.group_states.back().data(), g.state.data(), g.state.bytes(), device_,
                   stream_);
  }
  return out;
}

void Engine::write_all(const EngineState& state) {
  if (state.steps.size() != num_params_ || state.param_states.size() != num_params_ ||
      state.group_states.size() != groups_.size())
    throw_error("internal: EngineState does not match the engine");
  for (std::size_t g = 0; g < groups_.size(); ++g)
    if (state.group_states[g].size() * sizeof(float) != groups_[g].state.bytes())
      throw_error("internal: EngineState group ", g, " does not match the engine");
  if (num_params_ > 0) {
    copy_from_host(scalars_.view.steps, state.steps.data(), num_params_ * sizeof(float), device_,
                   stream_);
    copy_from_host(scalars_.view.param_state, state.param_states.data(),
                   num_params_ * sizeof(double), device_, stream_);
  }
  for (std::size_t g = 0; g < groups_.size(); ++g)
    if (groups_[g].state.bytes() > 0)
      copy_from_host(groups_[g].state.data(), state.group_states[g].data(),
                     groups_[g].state.bytes(), device_, stream_);
}

void Engine::set_enabled(std::size_t group, std::size_t index, bool enabled) {
  require_not_capturing(device_, stream_, "set_param_enabled");
  const std::uint8_t value = enabled ? 1 : 0;
  // From pageable memory the copy returns once the byte is staged (see update_group).
  copy_from_host(enabled_mask() + groups_[group].first_param + index, &value, 1, device_, stream_);
}

std::uint8_t* Engine::enabled_mask() const {
  return const_cast<std::uint8_t*>(scalars_.view.enabled);
}

std::vector<std::uint8_t> Engine::read_enabled() const {
  std::vector<std::uint8_t> out(num_params_);
  if (!out.empty()) copy_to_host(out.data(), scalars_.view.enabled, out.size(), device_, stream_);
  return out;
}

void Engine::write_enabled(const std::vector<std::uint8_t>& enabled) {
  if (!enabled.empty())
    copy_from_host(enabled_mask(), enabled.data(), enabled.size(), device_, stream_);
}

void* Engine::state_data(std::size_t group, std::size_t index, int k) const {
  const StateLayout& layout = groups_[group].layout;
  return static_cast<unsigned char*>(groups_[group].state.data()) + std::int64_t(k) * layout.stride +
         layout.slots[index];
}

std::vector<float> Engine::read_steps() const {
  std::vector<float> out(num_params_);
  if (!out.empty())
    copy_to_host(out.data(), scalars_.view.steps, out.size() * sizeof(float), device_, stream_);
  return out;
}

std::vector<double> Engine::read_param_states() const {
  std::vector<double> out(num_params_);
  if (!out.empty())
    copy_to_host(out.data(), scalars_.view.param_state, out.size() * sizeof(double), device_,
                 stream_);
  return out;
}

void Engine::write_steps(const std::vector<float>& steps) {
  if (steps.size() != num_params_) throw_error("internal: step counts do not match the engine");
  if (!steps.empty())
    copy_from_host(scalars_.view.steps, steps.data(), steps.size() * sizeof(float), device_,
                   stream_);
}

void Engine::write_param_states(const std::vector<double>& states) {
  if (states.size() != num_params_) throw_error("internal: scalar states do not match the engine");
  if (!states.empty())
    copy_from_host(scalars_.view.param_state, states.data(), states.size() * sizeof(double),
                   device_, stream_);
}

std::vector<float> Engine::read_state(std::size_t group, std::size_t index, int state) const {
  const std::int64_t numel = groups_[group].params[index].value.numel;
  std::vector<float> out(static_cast<std::size_t>(numel));
  if (numel == 0) return out;
  const void* src = state_data(group, index, state);
  if (state_dtype(group, index) == DType::f32) {
    copy_to_host(out.data(), src, out.size() * sizeof(float), device_, stream_);
  } else {
    std::vector<kernels::BFloat16> bits(out.size());
    copy_to_host(bits.data(), src, bits.size() * 2, device_, stream_);
    for (std::size_t e = 0; e < out.size(); ++e) out[e] = kernels::to_float(bits[e]);
  }
  return out;
}

void write_state_to(void* buffer, const StateLayout& layout, std::size_t index, int state,
                    const std::vector<float>& values, Device device, Stream stream) {
  if (values.empty()) return;
  unsigned char* dst = static_cast<unsigned char*>(buffer) + std::int64_t(state) * layout.stride +
                       layout.slots[index];
  if (layout.dtypes[index] == DType::f32) {
    copy_from_host(dst, values.data(), values.size() * sizeof(float), device, stream);
  } else {
    std::vector<kernels::BFloat16> bits(values.size());
    for (std::size_t e = 0; e < values.size(); ++e)
      bits[e] = kernels::from_float<kernels::BFloat16>(values[e]);
    // From pageable memory the copy returns once `bits` is staged (see update_group).
    copy_from_host(dst, bits.data(), bits.size() * 2, device, stream);
  }
}

void Engine::write_state(std::size_t group, std::size_t index, int state,
                         const std::vector<float>& values) {
  write_state_to(groups_[group].state.data(), groups_[group].layout, index, state, values, device_,
                 stream_);
}

double Engine::param_state(std::size_t group, std::size_t index) const {
  double value = 0.0;
  copy_to_host(&value, scalars_.view.param_state + groups_[group].first_param + index,
               sizeof value, device_, stream_);
  return value;
}

}  // namespace fusedopt::detail
