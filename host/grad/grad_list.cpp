// GradList (NOTE(grad-list)) and the torch.nn.utils / torch._amp functions over it.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "fusedopt/grad_utils.hpp"
#include "host/grad/grad_list_impl.hpp"
#include "host/engine/engine.hpp"
#include "host/engine/memory.hpp"
#include "kernels/engine/plan.h"

namespace fusedopt {

namespace {

using detail::GradListAccess;
using detail::GradListImpl;
namespace amp = kernels::amp;

std::atomic<std::uint64_t> g_next_list_id{1};

std::string element(const char* list, std::size_t i) {
  return std::string(list) + "[" + std::to_string(i) + "]";
}

/// ceil(log2(n)) for n >= 1: the levels of a pairwise tree over n values.
std::int32_t tree_levels(std::int64_t n) {
  std::int32_t levels = 0;
  while ((std::int64_t(1) << levels) < n) ++levels;
  return levels;
}

void check_views(const std::vector<TensorView>& views) {
  if (views.size() > std::size_t(std::numeric_limits<std::int32_t>::max()))
    detail::throw_error("grads: ", views.size(), " views, more than 2^31 - 1");
  struct Extent {
    std::uintptr_t begin, end;
    std::size_t index;
  };
  std::vector<Extent> extents;
  for (std::size_t i = 0; i < views.size(); ++i) {
    detail::check_view(views[i], element("grads", i));
    if (views[i].device != views[0].device)
      detail::throw_error(element("grads", i), ".device = ", views[i].device.str(),
                          " differs from grads[0].device = ", views[0].device.str(),
                          " (one gradient list is on one device)");
    if (views[i].numel > 0) {
      const auto begin = reinterpret_cast<std::uintptr_t>(views[i].data);
      extents.push_back({begin, begin + std::size_t(views[i].numel) * dtype_size(views[i].dtype), i});
    }
  }
  std::sort(extents.begin(), extents.end(),
            [](const Extent& a, const Extent& b) { return a.begin < b.begin; });
  for (std::size_t k = 1; k < extents.size(); ++k)
    if (extents[k].begin < extents[k - 1].end) {
      const std::size_t a = std::min(extents[k - 1].index, extents[k].index);
      const std::size_t b = std::max(extents[k - 1].index, extents[k].index);
      detail::throw_error(element("grads", a), " and ", element("grads", b),
                          " overlap in memory (each element may be in one view only)");
    }
}

/// Plan order: f32, f16, bf16 segments; within one, the caller's order (NOTE(grad-plan)).
void build_plan(GradListImpl& s) {
  std::vector<amp::GradTensor> tensors;
  std::vector<kernels::ChunkEntry> chunks;
  std::int64_t most_chunks = 1;
  for (const DType dtype : {DType::f32, DType::f16, DType::bf16}) {
    const std::int64_t begin = std::int64_t(chunks.size());
    for (std::size_t i = 0; i < s.views.size(); ++i) {
      const TensorView& v = s.views[i];
      if (v.dtype != dtype) continue;
      const std::int64_t count = kernels::chunk_count(v.numel);
      most_chunks = std::max(most_chunks, count);
      const auto t = std::int32_t(tensors.size());
      tensors.push_back({v.data, v.numel, std::int64_t(chunks.size()), std::int32_t(i), 0});
      for (std::int64_t k = 0; k < count; ++k) chunks.push_back({t, std::int32_t(k)});
    }
    const std::int64_t end = std::int64_t(chunks.size());
    if (end - begin > std::numeric_limits<std::int32_t>::max())
      detail::throw_error("grads: ", end - begin, " chunks of ", to_string(dtype),
                          " gradients, more than one launch can have (2^31 - 1)");
    if (end > begin) s.segments.push_back({dtype, begin, end});
  }
  const std::size_t tensor_bytes = tensors.size() * sizeof(amp::GradTensor);
  const std::size_t chunk_bytes = chunks.size() * sizeof(kernels::ChunkEntry);
  s.tables = detail::Buffer(tensor_bytes + chunk_bytes, s.device, s.stream);
  auto* base = static_cast<unsigned char*>(s.tables.data());
  if (tensor_bytes > 0) detail::copy_from_host(base, tensors.data(), tensor_bytes, s.device, s.stream);
  if (chunk_bytes > 0)
    detail::copy_from_host(base + tensor_bytes, chunks.data(), chunk_bytes, s.device, s.stream);

  const auto num_tensors = std::int64_t(tensors.size());
  const auto num_chunks = std::int64_t(chunks.size());
  s.scratch = detail::Buffer(std::size_t(num_chunks + 2 * num_tensors + 2) * sizeof(float), s.device,
                             s.stream);
  auto* scratch = static_cast<float*>(s.scratch.data());
  amp::GradPlan& plan = s.plan;
  plan.tensors = reinterpret_cast<const amp::GradTensor*>(base);
  plan.chunks = reinterpret_cast<const kernels::ChunkEntry*>(base + tensor_bytes);
  plan.num_chunks = num_chunks;
  plan.num_tensors = std::int32_t(num_tensors);
  plan.chunk_levels = tree_levels(most_chunks);
  plan.tensor_levels = tree_levels(std::max<std::int64_t>(num_tensors, 1));
  plan.chunk_partials = scratch;
  plan.tensor_values = scratch + num_chunks;
  plan.tensor_norms = scratch + num_chunks + num_tensors;
  plan.total_norm = scratch + num_chunks + 2 * num_tensors;
  plan.unscaled_norm = plan.total_norm + 1;
  plan.norm_divisor = nullptr;
}

std::vector<TensorView> gradients_of(const Optimizer& optimizer) {
  std::vector<TensorView> grads;
  for (std::size_t g = 0; g < optimizer.num_param_groups(); ++g)
    for (const Param& p : optimizer.params(g))
      if (p.grad.data != nullptr || p.value.numel == 0) grads.push_back(p.grad);  // NOTE(absent-grad)
  return grads;
}

/// norm_type -> the kernel's NormKind (torch.linalg.vector_norm's ord; fusedopt takes p > 0).
std::pair<amp::NormKind, amp::NormArgs> norm_kind_of(double norm_type) {
  if (!(norm_type > 0.0))
    detail::throw_error("norm_type must be > 0 (or inf), got ", norm_type);
  if (norm_type == 1.0) return {amp::NormKind::l1, {1.0, 1.0}};
  if (norm_type == 2.0) return {amp::NormKind::l2, {2.0, 0.5}};
  if (std::isinf(norm_type)) return {amp::NormKind::inf, {norm_type, 0.0}};
  return {amp::NormKind::p, {norm_type, 1.0 / norm_type}};
}

/// An fp32 (or int32) scalar the caller passes: non-null, aligned, memory of `device`.
void check_scalar(const void* pointer, Device device, const char* name) {
  if (pointer == nullptr) detail::throw_error(name, " is null");
  if (reinterpret_cast<std::uintptr_t>(pointer) % 4 != 0)
    detail::throw_error(name, " = ", pointer, " is not aligned to 4 bytes");
  detail::check_pointer(pointer, device, name);
}

void check_max_norm(double max_norm) {
  if (!(max_norm >= 0.0)) detail::throw_error("max_norm must be >= 0, got ", max_norm);
}

}  // namespace

GradList::GradList(std::vector<TensorView> grads, Stream stream)
    : impl_(std::make_unique<GradListImpl>()) {
  check_views(grads);
  GradListImpl& s = *impl_;
  s.device = grads.empty() ? Device::cpu() : grads[0].device;
  s.stream = stream;
  detail::require_not_capturing(s.device, stream, "GradList: building the plan");
  s.views = std::move(grads);
  s.id = g_next_list_id.fetch_add(1);
  build_plan(s);
}

GradList::GradList(const Optimizer& optimizer) : GradList(gradients_of(optimizer), optimizer.stream()) {}

GradList::~GradList() = default;
GradList::GradList(GradList&&) noexcept = default;
GradList& GradList::operator=(GradList&&) noexcept = default;

std::size_t GradList::size() const { return impl_->views.size(); }
const std::vector<TensorView>& GradList::views() const { return impl_->views; }
Device GradList::device() const { return impl_->device; }
Stream GradList::stream() const { return impl_->stream; }

void GradList::set_stream(Stream stream) {
  GradListImpl& s = *impl_;
  detail::require_not_capturing(s.device, s.stream, "GradList::set_stream");
  detail::synchronize(s.device, s.stream);
  s.stream = stream;
  s.tables.bind_stream(stream);
  s.scratch.bind_stream(stream);
}

void GradList::synchronize() const { detail::synchronize(impl_->device, impl_->stream); }

const float* GradList::tensor_norms() const { return impl_->plan.tensor_norms; }

float GradList::read_total_norm() const {
  const GradListImpl& s = *impl_;
  detail::require_not_capturing(s.device, s.stream, "GradList::read_total_norm");
  float value = 0.0f;
  detail::copy_to_host(&value, s.plan.total_norm, sizeof value, s.device, s.stream);
  return value;
}

std::vector<float> GradList::read_tensor_norms() const {
  const GradListImpl& s = *impl_;
  detail::require_not_capturing(s.device, s.stream, "GradList::read_tensor_norms");
  std::vector<float> norms(s.views.size());
  if (!norms.empty())
    detail::copy_to_host(norms.data(), s.plan.tensor_norms, norms.size() * sizeof(float), s.device,
                         s.stream);
  return norms;
}

const float* get_total_norm(GradList& grads, double norm_type, bool error_if_nonfinite) {
  const auto [kind, args] = norm_kind_of(norm_type);
  GradListImpl& s = GradListAccess::impl(grads);
  if (error_if_nonfinite)
    detail::require_not_capturing(s.device, s.stream, "get_total_norm(error_if_nonfinite=true)");
  detail::run_norm(s, kind, args);
  if (error_if_nonfinite) {
    const float total = grads.read_total_norm();
    if (!std::isfinite(total))
      detail::throw_error("The total norm of order ", norm_type,
                          " for gradients is non-finite (", total,
                          "), so it cannot be clipped. To disable this error and scale the "
                          "gradients by the non-finite norm anyway, set error_if_nonfinite=false");
  }
  return s.plan.total_norm;
}

void clip_grads_with_norm(GradList& grads, double max_norm, const float* total_norm) {
  check_max_norm(max_norm);
  GradListImpl& s = GradListAccess::impl(grads);
  if (s.views.empty()) return;  // as torch: nothing to clip
  if (total_norm != s.plan.total_norm) check_scalar(total_norm, s.device, "total_norm");
  detail::run_scale(s, total_norm, float(max_norm));
}

const float* clip_grad_norm(GradList& grads, double max_norm, double norm_type,
                            bool error_if_nonfinite) {
  check_max_norm(max_norm);
  const float* total = get_total_norm(grads, norm_type, error_if_nonfinite);
  clip_grads_with_norm(grads, max_norm, total);
  return total;
}

void clip_grad_value(GradList& grads, double clip_value) {
  if (!(clip_value >= 0.0)) detail::throw_error("clip_value must be >= 0, got ", clip_value);
  const float c = float(clip_value);
  detail::run_clamp(GradListAccess::impl(grads), -c, c);
}

void amp_foreach_non_finite_check_and_unscale(GradList& grads, float* found_inf,
                                              const float* inv_scale) {
  GradListImpl& s = GradListAccess::impl(grads);
  if (s.views.empty()) return;  // as torch: no checks of an empty list
  check_scalar(found_inf, s.device, "found_inf");
  check_scalar(inv_scale, s.device, "inv_scale");
  detail::run_check_unscale(s, {found_inf, inv_scale, /*reciprocal=*/0, /*check_only=*/0});
}

void amp_update_scale(float* scale, std::int32_t* growth_tracker, const float* found_inf,
                      double growth_factor, double backoff_factor, std::int64_t growth_interval,
                      Device device, Stream stream) {
  detail::check_view({nullptr, 0, DType::f32, device}, "device");  // an existing device
  check_scalar(scale, device, "scale");
  check_scalar(growth_tracker, device, "growth_tracker");
  check_scalar(found_inf, device, "found_inf");
  if (growth_interval < 1 || growth_interval > std::numeric_limits<std::int32_t>::max())
    detail::throw_error("growth_interval must be in [1, 2^31 - 1], got ", growth_interval);
  detail::run_update_scale(device, stream, scale, growth_tracker, found_inf, growth_factor,
                           backoff_factor, std::int32_t(growth_interval));
}

}  // namespace fusedopt
