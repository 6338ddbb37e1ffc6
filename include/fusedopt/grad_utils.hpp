#pragma once
// Gradient utilities with torch semantics, on the device and without host synchronisation:
// deterministic multi-tensor norms, torch.nn.utils' gradient clipping, and torch.amp's
// GradScaler (its check-and-unscale and scale-update kernels and the class).
//
// The whole of torch's GradScaler loop, with clipping, and no host synchronisation per step:
//
//   fo::AdamW opt(params);
//   fo::GradList grads(opt);          // every gradient of opt: plan and scratch built once
//   fo::GradScaler scaler(fo::Device::cuda(0));       // init_scale 65536, growth 2, backoff 0.5
//   for (auto& batch : data) {
//     opt.zero_grad();
//     engine.backward(batch, scaler.scale());   // the engine multiplies its loss by *scale()
//     scaler.unscale(grads);                    // torch: scaler.unscale_(opt)
//     fo::clip_grad_norm(grads, 1.0);           // torch: clip_grad_norm_(params, 1.0)
//     scaler.step(opt, grads);                  // torch: scaler.step(opt): skipped on the device
//     scaler.update();                          //   when grads held an inf/NaN; scaler.update()
//   }
//   scaler.skipped_steps();                     // now and then (synchronizes): steps skipped
//
// Without clipping, leave out unscale(): step() then only checks the gradients (a read-only
// pass) and the optimizer divides them by the scale as it reads them, as torch's fused
// optimizers do. Every call of the loop only launches kernels, so the loop can be captured in a
// CUDA graph (after one eager iteration, which registers the list with the scaler).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "fusedopt/error.hpp"
#include "fusedopt/optimizer.hpp"
#include "fusedopt/options.hpp"
#include "fusedopt/tensor.hpp"

namespace fusedopt {

namespace detail {
struct GradListImpl;
struct GradListAccess;
struct GradScalerImpl;
}  // namespace detail

/// NOTE(grad-list): a fixed list of gradient views with the plan and scratch memory of its
/// kernels, built once by the constructor (allocation and host-to-device copy), so that every
/// later operation only launches kernels on stream(): no allocation, no host copy, no
/// synchronisation unless the function says so, and capturable in a CUDA graph. The views may
/// have any length (0 included), alignment and dtype (f32, f16, bf16, mixed); they must be on
/// one device and must not overlap. fusedopt never frees what they point to.
class GradList {
 public:
  explicit GradList(std::vector<TensorView> grads, Stream stream = nullptr);
  /// Every gradient of `optimizer`, group by group in parameter order, on its stream; a
  /// gradient not bound yet (null data, NOTE(absent-grad)) is left out, as torch's
  /// clip_grad_norm_ leaves out a grad that is None.
  explicit GradList(const Optimizer& optimizer);
  ~GradList();
  GradList(GradList&&) noexcept;
  GradList& operator=(GradList&&) noexcept;
  GradList(const GradList&) = delete;
  GradList& operator=(const GradList&) = delete;

  std::size_t size() const;
  const std::vector<TensorView>& views() const;
  /// The views' device (the CPU for an empty list).
  Device device() const;
  Stream stream() const;
  /// Later launches go to `stream`; waits for work queued on the previous one.
  void set_stream(Stream stream);
  /// Waits for the work queued on stream() (no-op on the CPU).
  void synchronize() const;

  /// size() fp32 values on device(): each view's norm from the latest get_total_norm or
  /// clip_grad_norm on this list, in the order of views() (LAMB's per-tensor norms).
  const float* tensor_norms() const;
  /// The latest total norm (the scalar get_total_norm returned) and the per-tensor norms,
  /// copied to the host (synchronize).
  float read_total_norm() const;
  std::vector<float> read_tensor_norms() const;

 private:
  friend struct detail::GradListAccess;
  std::unique_ptr<detail::GradListImpl> impl_;
};

/// torch.nn.utils.get_total_norm(grads, norm_type, error_if_nonfinite): the norm of the
/// per-tensor norms (torch.linalg.vector_norm of their stack), norm_type any p > 0 or INFINITY.
/// Deterministic (NOTE(grad-norm) in kernels/grad/grad_norm.h): fp32 accumulation in a fixed
/// order, the same bits on the CPU, the emulated device and CUDA, run after run. A NaN anywhere
/// gives NaN. Returns an fp32 scalar on grads.device(), in the list's scratch: valid until the
/// next norm of this list. error_if_nonfinite = true synchronizes and throws Error if the norm
/// is NaN or inf. (torch computes f16/bf16 norms in their dtype; fusedopt in fp32.)
const float* get_total_norm(GradList& grads, double norm_type = 2.0,
                            bool error_if_nonfinite = false);
/// torch.nn.utils.clip_grads_with_norm_(grads, max_norm, total_norm): every gradient times
/// min(1, max_norm / (*total_norm + 1e-6)) in place (fp32 coefficient, torch's float
/// arithmetic: NaN stays NaN). `total_norm`: an fp32 scalar on grads.device(). Launches only.
void clip_grads_with_norm(GradList& grads, double max_norm, const float* total_norm);
/// torch.nn.utils.clip_grad_norm_(grads, max_norm, norm_type=2.0, error_if_nonfinite=False):
/// get_total_norm then clip_grads_with_norm; returns the total norm (device scalar). With
/// error_if_nonfinite, a NaN/inf norm throws Error (after a synchronisation) and changes
/// nothing.
const float* clip_grad_norm(GradList& grads, double max_norm, double norm_type = 2.0,
                            bool error_if_nonfinite = false);
/// torch.nn.utils.clip_grad_value_(grads, clip_value): every element clamped into
/// [-clip_value, clip_value] in place (NaN stays NaN). clip_value >= 0.
void clip_grad_value(GradList& grads, double clip_value);

/// torch._amp_foreach_non_finite_check_and_unscale_(grads, found_inf, inv_scale): sets
/// *found_inf = 1 if any element is inf or NaN (never clears it) and multiplies every element by
/// *inv_scale in place (nothing is written when *inv_scale == 1). Both are fp32 scalars on
/// grads.device(). Launches only.
void amp_foreach_non_finite_check_and_unscale(GradList& grads, float* found_inf,
                                              const float* inv_scale);
/// torch._amp_update_scale_(scale, growth_tracker, found_inf, growth_factor, backoff_factor,
/// growth_interval), one device thread: if *found_inf != 0, scale *= backoff_factor and the
/// tracker resets; otherwise the tracker counts the successful step and, when it reaches
/// growth_interval, scale *= growth_factor (unless that overflows to inf) and it resets. Every
/// pointer is on `device`; launches on `stream`.
void amp_update_scale(float* scale, std::int32_t* growth_tracker, const float* found_inf,
                      double growth_factor, double backoff_factor, std::int64_t growth_interval,
                      Device device, Stream stream = nullptr);

/// torch.amp.GradScaler(init_scale=2**16, growth_factor=2.0, backoff_factor=0.5,
/// growth_interval=2000, enabled=True). Validated: init_scale > 0 and finite, growth_factor > 1
/// and finite, 0 < backoff_factor < 1, 1 <= growth_interval < 2^31.
class GradScalerOptions {
  FUSEDOPT_OPTION(GradScalerOptions, double, init_scale, 65536.0)
  FUSEDOPT_OPTION(GradScalerOptions, double, growth_factor, 2.0)
  FUSEDOPT_OPTION(GradScalerOptions, double, backoff_factor, 0.5)
  FUSEDOPT_OPTION(GradScalerOptions, std::int64_t, growth_interval, 2000)
  FUSEDOPT_OPTION(GradScalerOptions, bool, enabled, true)
};

/// torch's GradScaler.state_dict() of an enabled scaler (a disabled one has none: nullopt).
struct GradScalerState {
  double scale = 65536.0;
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  std::int64_t growth_interval = 2000;
  std::int64_t growth_tracker = 0;  // torch's "_growth_tracker"
};

/// NOTE(grad-scaler): torch.amp.GradScaler with its state on the device: the scale (fp32), the
/// growth tracker (int32) and one found_inf flag (fp32) per gradient list, as torch keeps one
/// per optimizer, so that each optimizer skips only its own overflowing step. unscale(),
/// check(), step() and update() only launch kernels; nothing is read back until a getter that
/// says it synchronizes. update() combines the flags, runs torch's _amp_update_scale_, counts
/// skipped iterations, and clears the flags for the next iteration.
///
/// A disabled scaler (enabled(false)) does nothing: scale() points to 1.0, found_inf() to 0,
/// step() just steps, state_dict() is nullopt, as in torch.
///
/// torch's rules are kept, per list: unscale() at most once per iteration and not after step()
/// nor check(); step() once per iteration; update() needs a check (unscale, check or step) of
/// some list since the previous update() unless given a new scale. Unlike torch, f16 gradients
/// may be unscaled (torch's unscale_ refuses them).
///
/// All work is stream-ordered: unscale() and check() run on grads.stream(), step() on the
/// optimizer's, update() on stream(); give them one stream (or order them yourself).
class GradScaler {
 public:
  /// On a CUDA device where none is available (or in a build without CUDA), the scaler is
  /// disabled with a warning on stderr, as torch.amp.GradScaler("cuda") is; it then lives on
  /// the CPU (device() is the CPU, scale() points to 1.0 in host memory).
  explicit GradScaler(Device device = Device::cuda(), GradScalerOptions options = {},
                      Stream stream = nullptr);
  ~GradScaler();
  GradScaler(GradScaler&&) noexcept;
  GradScaler& operator=(GradScaler&&) noexcept;
  GradScaler(const GradScaler&) = delete;
  GradScaler& operator=(const GradScaler&) = delete;

  /// The scale, an fp32 scalar on device() (1.0 when disabled): what the loss is multiplied by
  /// (torch's scaler.scale(loss) is loss * *scale()), and the grad_scale a fused step divides
  /// by (Optimizer::set_grad_scaling).
  const float* scale() const;
  /// The found_inf flag of `grads` (fp32 on device(), 1 after a check that found an inf/NaN,
  /// 0 after update()); the pointer stays valid for the scaler's lifetime. An engine may write
  /// it too (stream-ordered, before step(): 1 skips the step; update() backs off), as torch's
  /// found_inf_per_device can be preset. At most 32 lists that exist at once: the flag of a
  /// destroyed list is reused after the next update(), so a list built every iteration is fine.
  float* found_inf(const GradList& grads);
  /// Presets the found_inf flag of `grads` (an overflow the engine detected itself, e.g. in
  /// its own all-reduce): stream-ordered, before step(); counts as this iteration's check.
  void set_found_inf(const GradList& grads, bool found);

  /// torch's scaler.unscale_(optimizer): every gradient times 1 / scale (computed in double,
  /// as torch), and the list's found_inf set if any element is inf or NaN.
  void unscale(GradList& grads);
  /// torch's GradScaler._check_inf_per_device: found_inf only, gradients not written (what
  /// step() does before a step that divides by the scale).
  void check(GradList& grads);
  /// torch's scaler.step(optimizer) for the optimizer whose gradients `grads` are: check()s them
  /// unless unscale() ran this iteration, then optimizer.step() with
  /// set_grad_scaling(unscaled ? nullptr : scale(), found_inf(grads)) (reset to nullptr after):
  /// the step divides by the scale as it reads the gradients (unless they were unscaled) and is
  /// skipped on the device when found_inf != 0. No synchronisation.
  void step(Optimizer& optimizer, GradList& grads);
  /// torch's scaler.update(): _amp_update_scale_ with the combined found_inf of every list.
  void update();
  /// torch's scaler.update(new_scale): the scale becomes new_scale (> 0, finite), the tracker
  /// is kept. Launches only (the value travels as a kernel argument).
  void update(double new_scale);

  /// torch's get_scale() (1.0 when disabled) and _get_growth_tracker(): synchronize.
  double get_scale() const;
  std::int64_t get_growth_tracker() const;
  /// Iterations whose update() saw an inf/NaN in some list (their steps were skipped), and
  /// update() calls so far: synchronize. The device counters (uint64) are at
  /// skipped_steps_device() and updates_device() for an engine that copies them itself.
  std::int64_t skipped_steps() const;
  std::int64_t updates() const;
  const std::uint64_t* skipped_steps_device() const;
  const std::uint64_t* updates_device() const;

  double get_growth_factor() const;
  double get_backoff_factor() const;
  std::int64_t get_growth_interval() const;
  /// Validated as in GradScalerOptions; host values passed to the next update().
  void set_growth_factor(double growth_factor);
  void set_backoff_factor(double backoff_factor);
  void set_growth_interval(std::int64_t growth_interval);
  bool is_enabled() const;

  /// torch's state_dict() (synchronizes) and load_state_dict() (stream-ordered copy; a no-op
  /// when disabled; nullopt for an enabled scaler throws, as torch's empty dict does).
  std::optional<GradScalerState> state_dict() const;
  void load_state_dict(const std::optional<GradScalerState>& state);

  Device device() const;
  Stream stream() const;
  void set_stream(Stream stream);
  void synchronize() const;

 private:
  std::unique_ptr<detail::GradScalerImpl> impl_;
};

}  // namespace fusedopt
