// GradScaler (NOTE(grad-scaler) in include/fusedopt/grad_utils.hpp): torch.amp.GradScaler's
// bookkeeping on the host, its state and every kernel on the device.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "fusedopt/grad_utils.hpp"
#include "host/grad/grad_list_impl.hpp"
#include "host/engine/engine.hpp"
#include "host/engine/memory.hpp"

namespace fusedopt {

namespace amp = kernels::amp;

namespace detail {

struct GradScalerImpl {
  /// torch's OptState per optimizer, here per gradient list; `checked`: check() ran (found_inf
  /// only, the step is to divide by the scale).
  enum class Stage { ready, checked, unscaled, stepped };
  struct Slot {
    std::uint64_t list_id;
    std::weak_ptr<const int> alive;  // the list's (GradListImpl::alive)
    Stage stage;
  };

  Device device = Device::cpu();
  Stream stream = nullptr;
  bool enabled = true;
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  std::int64_t growth_interval = 2000;
  Buffer buffer;  // one ScalerState
  amp::ScalerState* state = nullptr;
  std::vector<Slot> slots;
  bool inf_checked = false;  // some list was checked since the last update()

  /// The list's slot: its own, else the slot of a list that no longer exists and has not been
  /// used since the last update() (its flag is clear), else a new one. So a list built every
  /// iteration (the natural translation of scaler.step(opt)) reuses one slot.
  Slot& slot_of(const GradList& grads) {
    const GradListImpl& list = GradListAccess::impl(grads);
    for (Slot& s : slots)
      if (s.list_id == list.id) return s;
    for (Slot& s : slots)
      if (s.alive.expired() && s.stage == Stage::ready) {
        s = {list.id, list.alive, Stage::ready};
        return s;
      }
    if (slots.size() == std::size_t(amp::kMaxScalerLists))
      throw_error("GradScaler: gradient lists: a scaler tracks at most ", amp::kMaxScalerLists,
                  " that exist at once (one found_inf flag each)");
    slots.push_back({list.id, list.alive, Stage::ready});
    return slots.back();
  }
  float* flag_of(const Slot& slot) const { return state->found_inf + (&slot - slots.data()); }

  void check_device(const GradList& grads, const char* operation) const {
    if (grads.size() > 0 && grads.device() != device)
      throw_error("GradScaler::", operation, ": grads.device() = ", grads.device().str(),
                  " differs from the scaler's device ", device.str());
  }

  void launch_check(GradList& grads, Slot& slot, bool unscale) {
    run_check_unscale(GradListAccess::impl(grads),
                      {flag_of(slot), &state->scale, /*reciprocal=*/1, /*check_only=*/unscale ? 0 : 1});
    inf_checked = true;
  }

  void end_iteration() {
    for (Slot& s : slots) s.stage = Stage::ready;
    inf_checked = false;
  }

  amp::ScalerState read() const {
    require_not_capturing(device, stream, "GradScaler: reading the scale");
    amp::ScalerState host{};
    copy_to_host(&host, state, sizeof host, device, stream);
    return host;
  }
};

}  // namespace detail

namespace {

void validate_factors(double growth_factor, double backoff_factor, std::int64_t growth_interval) {
  if (!(growth_factor > 1.0) || std::isinf(growth_factor))
    detail::throw_error("growth_factor must be > 1.0 and finite, got ", growth_factor);
  if (!(backoff_factor > 0.0 && backoff_factor < 1.0))
    detail::throw_error("backoff_factor must be in (0, 1), got ", backoff_factor);
  if (growth_interval < 1 || growth_interval > std::numeric_limits<std::int32_t>::max())
    detail::throw_error("growth_interval must be in [1, 2^31 - 1], got ", growth_interval);
}

void validate_scale(const char* name, double scale) {
  if (!(scale > 0.0) || !std::isfinite(float(scale)))
    detail::throw_error(name, " must be > 0 and finite in fp32, got ", scale);
}

}  // namespace

GradScaler::GradScaler(Device device, GradScalerOptions options, Stream stream)
    : impl_(std::make_unique<detail::GradScalerImpl>()) {
  detail::GradScalerImpl& s = *impl_;
  s.enabled = options.enabled();
  if (device.is_cuda() && cuda_device_count() == 0) {
    // As torch.amp.GradScaler("cuda") without CUDA: a warning, and a disabled scaler (on the
    // CPU: its scale() is 1.0 in host memory, step() just steps).
    if (s.enabled)
      std::fprintf(stderr, "fusedopt: GradScaler(%s): no CUDA device is available%s; the scaler "
                   "is disabled (as torch.amp.GradScaler does)\n", device.str().c_str(),
                   FUSEDOPT_WITH_CUDA ? "" : " (fusedopt was built without CUDA)");
    s.enabled = false;
    device = Device::cpu();
    stream = nullptr;
  }
  detail::check_view({nullptr, 0, DType::f32, device}, "device");  // an existing device
  if (s.enabled) {  // torch validates only an enabled scaler
    validate_scale("init_scale", options.init_scale());
    validate_factors(options.growth_factor(), options.backoff_factor(), options.growth_interval());
  }
  s.device = device;
  s.stream = stream;
  s.growth_factor = options.growth_factor();
  s.backoff_factor = options.backoff_factor();
  s.growth_interval = options.growth_interval();
  detail::require_not_capturing(device, stream, "GradScaler: allocating its state");
  s.buffer = detail::Buffer(sizeof(amp::ScalerState), device, stream);  // zeroed
  s.state = static_cast<amp::ScalerState*>(s.buffer.data());
  amp::ScalerState initial{};
  initial.scale = s.enabled ? float(options.init_scale()) : 1.0f;
  detail::copy_from_host(s.state, &initial, sizeof initial, device, stream);
  s.slots.reserve(std::size_t(amp::kMaxScalerLists));
}

GradScaler::~GradScaler() = default;
GradScaler::GradScaler(GradScaler&&) noexcept = default;
GradScaler& GradScaler::operator=(GradScaler&&) noexcept = default;

const float* GradScaler::scale() const { return &impl_->state->scale; }

float* GradScaler::found_inf(const GradList& grads) {
  detail::GradScalerImpl& s = *impl_;
  s.check_device(grads, "found_inf");
  return s.flag_of(s.slot_of(grads));
}

void GradScaler::set_found_inf(const GradList& grads, bool found) {
  detail::GradScalerImpl& s = *impl_;
  if (!s.enabled) return;
  s.check_device(grads, "set_found_inf");
  detail::GradScalerImpl::Slot& slot = s.slot_of(grads);
  if (slot.stage == detail::GradScalerImpl::Stage::stepped)
    detail::throw_error("GradScaler::set_found_inf: called after step() (before update())");
  const float value = found ? 1.0f : 0.0f;
  // From pageable memory the copy returns once the value is staged.
  detail::copy_from_host(s.flag_of(slot), &value, sizeof value, s.device, s.stream);
  s.inf_checked = true;  // a recorded check: update() may follow
}

void GradScaler::unscale(GradList& grads) {
  detail::GradScalerImpl& s = *impl_;
  if (!s.enabled) return;
  s.check_device(grads, "unscale");
  detail::GradScalerImpl::Slot& slot = s.slot_of(grads);
  using Stage = detail::GradScalerImpl::Stage;
  if (slot.stage == Stage::unscaled)
    detail::throw_error("GradScaler::unscale: already called on these gradients since the last "
                        "update()");
  if (slot.stage == Stage::stepped)
    detail::throw_error("GradScaler::unscale: called after step() (before update())");
  if (slot.stage == Stage::checked)
    detail::throw_error("GradScaler::unscale: check() already ran on these gradients since the "
                        "last update(); their step is to divide by the scale");
  s.launch_check(grads, slot, /*unscale=*/true);
  slot.stage = Stage::unscaled;
}

void GradScaler::check(GradList& grads) {
  detail::GradScalerImpl& s = *impl_;
  if (!s.enabled) return;
  s.check_device(grads, "check");
  detail::GradScalerImpl::Slot& slot = s.slot_of(grads);
  using Stage = detail::GradScalerImpl::Stage;
  if (slot.stage == Stage::stepped)
    detail::throw_error("GradScaler::check: called after step() (before update())");
  s.launch_check(grads, slot, /*unscale=*/false);
  if (slot.stage == Stage::ready) slot.stage = Stage::checked;
}

void GradScaler::step(Optimizer& optimizer, GradList& grads) {
  detail::GradScalerImpl& s = *impl_;
  if (!s.enabled) return optimizer.step();
  s.check_device(grads, "step");
  if (optimizer.num_params() > 0 && optimizer.device() != s.device)
    detail::throw_error("GradScaler::step: the optimizer's device ", optimizer.device().str(),
                        " differs from the scaler's device ", s.device.str());
  using Stage = detail::GradScalerImpl::Stage;
  detail::GradScalerImpl::Slot* slot = &s.slot_of(grads);
  if (slot->stage == Stage::stepped)
    detail::throw_error("GradScaler::step: already called for these gradients since the last "
                        "update()");
  if (slot->stage == Stage::ready) check(grads);  // slots never move: reserved up front
  const float* grad_scale = slot->stage == Stage::unscaled ? nullptr : scale();
  optimizer.set_grad_scaling(grad_scale, s.flag_of(*slot));
  try {
    optimizer.step();
  } catch (...) {
    optimizer.set_grad_scaling(nullptr, nullptr);
    throw;
  }
  optimizer.set_grad_scaling(nullptr, nullptr);  // as torch deletes optimizer.grad_scale
  slot->stage = Stage::stepped;
}

void GradScaler::update() {
  detail::GradScalerImpl& s = *impl_;
  if (!s.enabled) return;
  if (!s.inf_checked)
    detail::throw_error("GradScaler::update: no inf checks were recorded since the last update() "
                        "(call unscale(grads), check(grads) or step(optimizer, grads) first)");
  amp::ScalerUpdateArgs args{};
  args.growth_factor = s.growth_factor;
  args.backoff_factor = s.backoff_factor;
  args.growth_interval = std::int32_t(s.growth_interval);
  args.num_lists = std::int32_t(s.slots.size());
  detail::run_scaler_update(s.device, s.stream, s.state, args);
  s.end_iteration();
}

void GradScaler::update(double new_scale) {
  detail::GradScalerImpl& s = *impl_;
  if (!s.enabled) return;
  validate_scale("new_scale", new_scale);
  amp::ScalerUpdateArgs args{};
  args.num_lists = std::int32_t(s.slots.size());
  args.has_new_scale = 1;
  args.new_scale = float(new_scale);
  detail::run_scaler_update(s.device, s.stream, s.state, args);
  s.end_iteration();
}

double GradScaler::get_scale() const {
  if (!impl_->enabled) return 1.0;
  return double(impl_->read().scale);
}

std::int64_t GradScaler::get_growth_tracker() const {
  if (!impl_->enabled) return 0;
  return impl_->read().growth_tracker;
}

std::int64_t GradScaler::skipped_steps() const { return std::int64_t(impl_->read().skipped_steps); }
std::int64_t GradScaler::updates() const { return std::int64_t(impl_->read().updates); }
const std::uint64_t* GradScaler::skipped_steps_device() const {
  return &impl_->state->skipped_steps;
}
const std::uint64_t* GradScaler::updates_device() const { return &impl_->state->updates; }

double GradScaler::get_growth_factor() const { return impl_->growth_factor; }
double GradScaler::get_backoff_factor() const { return impl_->backoff_factor; }
std::int64_t GradScaler::get_growth_interval() const { return impl_->growth_interval; }

void GradScaler::set_growth_factor(double growth_factor) {
  validate_factors(growth_factor, impl_->backoff_factor, impl_->growth_interval);
  impl_->growth_factor = growth_factor;
}
void GradScaler::set_backoff_factor(double backoff_factor) {
  validate_factors(impl_->growth_factor, backoff_factor, impl_->growth_interval);
  impl_->backoff_factor = backoff_factor;
}
void GradScaler::set_growth_interval(std::int64_t growth_interval) {
  validate_factors(impl_->growth_factor, impl_->backoff_factor, growth_interval);
  impl_->growth_interval = growth_interval;
}
bool GradScaler::is_enabled() const { return impl_->enabled; }

std::optional<GradScalerState> GradScaler::state_dict() const {
  const detail::GradScalerImpl& s = *impl_;
  if (!s.enabled) return std::nullopt;
  const amp::ScalerState device = s.read();
  GradScalerState out;
  out.scale = double(device.scale);
  out.growth_factor = s.growth_factor;
  out.backoff_factor = s.backoff_factor;
  out.growth_interval = s.growth_interval;
  out.growth_tracker = device.growth_tracker;
  return out;
}

void GradScaler::load_state_dict(const std::optional<GradScalerState>& state) {
  detail::GradScalerImpl& s = *impl_;
  if (!s.enabled) return;
  if (!state)
    detail::throw_error("GradScaler::load_state_dict: the state is empty, possibly because it was "
                        "saved from a disabled GradScaler");
  validate_scale("state.scale", state->scale);
  validate_factors(state->growth_factor, state->backoff_factor, state->growth_interval);
  if (state->growth_tracker < 0 || state->growth_tracker > std::numeric_limits<std::int32_t>::max())
    detail::throw_error("state.growth_tracker must be in [0, 2^31 - 1], got ", state->growth_tracker);
  detail::require_not_capturing(s.device, s.stream, "GradScaler::load_state_dict");
  struct {
    float scale;
    std::int32_t growth_tracker;
  } head{float(state->scale), std::int32_t(state->growth_tracker)};
  static_assert(offsetof(amp::ScalerState, growth_tracker) == sizeof(float));
  detail::copy_from_host(s.state, &head, sizeof head, s.device, s.stream);
  s.growth_factor = state->growth_factor;
  s.backoff_factor = state->backoff_factor;
  s.growth_interval = state->growth_interval;
}

Device GradScaler::device() const { return impl_->device; }
Stream GradScaler::stream() const { return impl_->stream; }

void GradScaler::set_stream(Stream stream) {
  detail::GradScalerImpl& s = *impl_;
  detail::require_not_capturing(s.device, s.stream, "GradScaler::set_stream");
  detail::synchronize(s.device, s.stream);
  s.stream = stream;
  s.buffer.bind_stream(stream);
}

void GradScaler::synchronize() const { detail::synchronize(impl_->device, impl_->stream); }

}  // namespace fusedopt
