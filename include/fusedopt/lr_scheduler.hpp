#pragma once
// Learning-rate schedulers with torch.optim.lr_scheduler's names, arguments, defaults and
// results (and torch.optim.swa_utils.SWALR), driving a fusedopt optimizer's device-scalar lrs.
//
//   fo::SGD opt(params, fo::SGDOptions().lr(0.1).momentum(0.9));
//   auto warmup = std::make_shared<fo::LinearLR>(opt, 0.1, 1.0, 5);
//   auto cosine = std::make_shared<fo::CosineAnnealingLR>(opt, 95);
//   fo::SequentialLR sched(opt, {warmup, cosine}, {5});
//   for (int epoch = 0; epoch < 100; ++epoch) {
//     for (...) { opt.zero_grad(); ...; opt.step(); }   // optimizer.step() per batch
//     sched.step();                                        // scheduler.step() per epoch
//   }
//
// NOTE(scheduler-semantics): every scheduler follows torch 2.x exactly, including its
// "chainable" forms: most schedulers compute the next lr from the group's *current* lr
// (optimizer.lr(g)), so changes made from outside (another scheduler, set_lr) compose as in torch.
// Closed forms are used only where torch uses them (a SequentialLR milestone restarts the next
// scheduler at epoch 0). A scheduler writes lrs (and momentum / beta1 for CyclicLR and
// OneCycleLR) with Optimizer::set: a host-side update plus a stream-ordered device-scalar write,
// never a synchronization.
//
// NOTE(scheduler-groups): a scheduler schedules the param groups its optimizer had when the
// scheduler was created, [0, num_groups()) (a composite: its children's), for its whole life.
// Groups added later by add_param_group keep the lr (and momentum / beta1) they are given:
// step() writes only the scheduled groups, get_last_lr() and the per-group vectors of
// state_dict() have num_groups() values, and load_state_dict() accepts only states with that
// many. So a run that unfreezes layers mid-training resumes by building the optimizer and the
// scheduler as at the start, adding the groups, then loading both states. torch zips base_lrs
// with param_groups, so its LambdaLR, CyclicLR and closed forms also leave later groups alone
// (OneCycleLR and SWALR fail on them); but its chainable forms (StepLR, MultiStepLR, ConstantLR,
// LinearLR, ExponentialLR, PolynomialLR, most CosineAnnealingLR steps) iterate over every group
// and would scale a later group's lr too, its ReduceLROnPlateau extends a scalar min_lr to later
// groups and reduces them, and its _last_lr lists every group. fusedopt does none of that.
//
// NOTE(scheduler-errors): as everywhere in fusedopt, a call that throws fusedopt::Error leaves the
// optimizer and the scheduler as they were. Constructors validate every argument before
// touching the optimizer, and step() is transactional: if a schedule produces an invalid value
// (a negative or non-finite lr, a momentum the optimizer rejects) or OneCycleLR is stepped past
// total_steps, the lrs, momenta and the scheduler's counters are restored before the error
// propagates. (torch leaves last_epoch advanced in that case; fusedopt does not.)
//
// A scheduler may outlive its optimizer: then whatever needs the optimizer (step(),
// optimizer()) throws fusedopt::Error, and state_dict(), load_state_dict() and the accessors of
// the scheduler's own state still work. Schedulers are not copyable; composites (SequentialLR,
// ChainedScheduler) share ownership of their children.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "fusedopt/optimizer.hpp"

namespace fusedopt {

/// A scheduler's state as plain numbers: torch's state_dict() keys, every value a vector of
/// doubles (scalars have size 1; enumerations are their index; integers are exact up to 2^53).
/// Composites nest their children's states under "_schedulers.<i>.<key>".
using SchedulerState = std::map<std::string, std::vector<double>>;

/// One value for every param group, or one value per group (torch's "float or list"):
/// `0.1` or `{0.1, 0.05}`.
class PerGroup {
 public:
  PerGroup(double value) : values_{value}, scalar_(true) {}  // NOLINT: implicit by design
  PerGroup(std::vector<double> values) : values_(std::move(values)) {}  // NOLINT
  PerGroup(std::initializer_list<double> values) : values_(values) {}    // NOLINT
  bool is_scalar() const { return scalar_; }
  const std::vector<double>& values() const { return values_; }

 private:
  std::vector<double> values_;
  bool scalar_ = false;
};

/// OneCycleLR's and SWALR's anneal_strategy: "cos" or "linear".
enum class AnnealStrategy : std::uint8_t { cos, linear };

namespace detail {
/// Writes a scheduler's fields into a SchedulerState, or reads them back (validating presence,
/// sizes and integrality). Used by LRScheduler::state_dict() / load_state_dict().
class StateIO {
 public:
  /// Saving into `out`.
  explicit StateIO(SchedulerState& out);
  /// Loading from `in`; errors name `scheduler`; per-group vectors must have `num_groups` values,
  /// the scheduler's num_groups() (not checked when nullopt: restoring a state this scheduler
  /// saved itself).
  StateIO(const SchedulerState& in, std::string scheduler, std::optional<std::size_t> num_groups);

  bool loading() const { return in_ != nullptr; }
  void field(const std::string& key, double& value);
  void field(const std::string& key, std::int64_t& value);
  void field(const std::string& key, bool& value);
  /// nullopt is saved as an empty vector (torch's None).
  void field(const std::string& key, std::optional<double>& value);
  /// Any number of values.
  void field(const std::string& key, std::vector<double>& values);
  /// One value per param group.
  void per_group(const std::string& key, std::vector<double>& values);
  /// An enumeration with `count` values, saved as its index.
  template <class Enum, class = std::enable_if_t<std::is_enum_v<Enum>>>
  void field(const std::string& key, Enum& value, int count) {
    std::int64_t index = static_cast<std::int64_t>(value);
    field(key, index);
    if (loading()) {
      check_index(key, index, count);
      value = static_cast<Enum>(index);
    }
  }
  /// The same kind of IO under "<prefix><key>" (a composite's child).
  StateIO nested(const std::string& prefix) const;

 private:
  const std::vector<double>& find(const std::string& key, std::size_t expected,
                                  bool per_group = false) const;
  void check_index(const std::string& key, std::int64_t index, int count) const;
  SchedulerState* out_ = nullptr;
  const SchedulerState* in_ = nullptr;
  std::string scheduler_;
  std::optional<std::size_t> num_groups_;
  std::string prefix_;
};
}  // namespace detail

/// torch.optim.lr_scheduler.LRScheduler: one lr per param group from get_lr(), written to the
/// optimizer by step(). See NOTE(scheduler-semantics) and NOTE(scheduler-errors).
class LRScheduler {
 public:
  virtual ~LRScheduler();
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  /// torch's class name: "StepLR", "OneCycleLR", ...
  virtual const char* name() const = 0;
  /// torch's step() (without the deprecated epoch argument): advances last_epoch and writes
  /// the next lr of every scheduled group (NOTE(scheduler-groups)). Call it after
  /// optimizer.step().
  virtual void step();
  /// The lrs the last step() (or the constructor) left in the optimizer.
  const std::vector<double>& get_last_lr() const { return last_lr_; }
  /// torch's last_epoch: -1 before the constructor's initial step, then the number of steps.
  std::int64_t last_epoch() const { return last_epoch_; }
  /// torch's base_lrs: each group's initial_lr when the scheduler was created (CyclicLR: its
  /// base_lr; OneCycleLR: max_lr / div_factor). ReduceLROnPlateau (which has none in torch)
  /// reports the lrs it started from; composites report their first scheduler's.
  const std::vector<double>& base_lrs() const { return base_lrs_; }

  /// torch's state_dict() as numbers (see SchedulerState). Functions (LambdaLR's lambdas,
  /// CyclicLR's scale_fn) are not part of it, as in torch.
  virtual SchedulerState state_dict() const;
  /// Restores a state_dict() of a scheduler of the same kind and options, validated (missing
  /// keys, sizes, ranges) and atomically. Like torch, it restores the scheduler only: the
  /// optimizer's lrs (and momenta) belong to the optimizer's checkpoint, e.g.
  /// `opt.set_lr(g, state["_last_lr"][g])`.
  virtual void load_state_dict(const SchedulerState& state);
  /// state_dict() as a file, written atomically: a safetensors file of 1-d F64 tensors named by
  /// key, the class name in the metadata. load() checks the kind, then load_state_dict().
  void save(const std::string& path) const;
  void load(const std::string& path);
  /// The optimizer it drives; throws Error when that was destroyed.
  Optimizer& optimizer() const { return live_optimizer(); }
  /// The param groups it schedules: [0, num_groups()), the optimizer's groups when it was
  /// created (NOTE(scheduler-groups)).
  std::size_t num_groups() const { return num_groups_; }

 protected:
  /// torch's LRScheduler.__init__: with last_epoch == -1 each group's initial_lr defaults to its
  /// lr (written to the optimizer once the initial step succeeded); otherwise every group must
  /// already have an initial_lr (a resumed run). base_lrs are the initial_lrs.
  LRScheduler(Optimizer& optimizer, std::int64_t last_epoch);
  /// For schedulers that, as in torch, skip LRScheduler.__init__ (ReduceLROnPlateau and the
  /// composites): no initial_lr handling, last_epoch = `last_epoch`, last lrs = current lrs.
  /// A composite passes its children's num_groups (default: the optimizer's).
  struct Detached {
    std::optional<std::size_t> num_groups;
  };
  LRScheduler(Optimizer& optimizer, std::int64_t last_epoch, Detached);

  /// torch's _initial_step(): _step_count = 0 and one step() in "initial" mode. Derived
  /// constructors call it last, after validating their arguments.
  void initial_step();
  /// The next lr of every group, at last_epoch (already advanced).
  virtual std::vector<double> get_lr() = 0;
  /// torch's _get_closed_form_lr, for the schedulers that have one.
  virtual std::optional<std::vector<double>> closed_form_lr() const { return std::nullopt; }
  /// torch's _update_lr(epoch): advance (or set) last_epoch, compute and write the lrs.
  void update_lr(std::optional<std::int64_t> epoch);
  /// Reads or writes every field of the state (derived classes call the base first).
  virtual void transfer_state(detail::StateIO& io);
  /// Throws when the fields (after construction or load_state_dict) are inconsistent.
  virtual void validate_state() const;

  /// The optimizer's current lr of every scheduled group.
  std::vector<double> group_lrs() const;
  /// Validates `lrs` (one per scheduled group, finite, >= 0), writes them and records them as
  /// last lrs.
  void write_lrs(const std::vector<double>& lrs);
  /// Resolves a PerGroup argument to one value per scheduled group (throws on a length
  /// mismatch).
  std::vector<double> per_group(const PerGroup& value, const char* argument) const;
  bool is_initial() const { return is_initial_; }
  std::int64_t step_count() const { return step_count_; }
  /// Replaces the base lrs; `write_initial_lr` also makes them the groups' initial_lr (written
  /// when the initial step succeeds), as OneCycleLR does.
  void set_base_lrs(std::vector<double> base_lrs, bool write_initial_lr);
  /// The initial_lr a group gets, when it has none, once the initial step succeeds; false (and
  /// no effect) when the group has one or the scheduler resumes (last_epoch != -1).
  bool set_default_initial_lr(std::size_t group, double lr);

  /// Restores the optimizer's lr / momentum / beta1 and this scheduler's state unless
  /// commit() is called (see NOTE(scheduler-errors)).
  class Transaction {
   public:
    explicit Transaction(LRScheduler& scheduler);
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    void commit() { committed_ = true; }

   private:
    struct Saved {
      std::size_t group;
      const char* name;
      double value;
    };
    LRScheduler& scheduler_;
    SchedulerState state_;
    std::vector<Saved> values_;
    bool committed_ = false;
  };

  std::int64_t last_epoch_ = -1;
  std::int64_t step_count_ = 0;
  std::vector<double> base_lrs_;
  std::vector<double> last_lr_;

 private:
  friend class SequentialLR;
  friend class ChainedScheduler;
  /// The children of a composite (empty for a plain scheduler).
  virtual std::vector<LRScheduler*> children() const { return {}; }
  /// SequentialLR's recursive_undo.
  void undo_initial_step();
  /// The optimizer, or Error "<name>: its optimizer was destroyed ..."; every use goes through it.
  Optimizer& live_optimizer() const;

  Optimizer* optimizer_;
  std::weak_ptr<const void> lifetime_;  // Optimizer::lifetime()
  std::size_t num_groups_;              // NOTE(scheduler-groups)
  bool is_initial_ = false;
  /// A group without initial_lr when resuming (last_epoch != -1): reported by initial_step().
  std::optional<std::size_t> missing_initial_lr_;
  /// initial_lr values to write when the initial step succeeds (nullopt: leave the group's).
  std::vector<std::optional<double>> pending_initial_lr_;
};

/// A function of the epoch (LambdaLR, MultiplicativeLR).
using LrLambda = std::function<double(std::int64_t)>;

/// torch LambdaLR: lr = base_lr * lr_lambda(last_epoch). One function, or one per group.
class LambdaLR : public LRScheduler {
 public:
  LambdaLR(Optimizer& optimizer, LrLambda lr_lambda, std::int64_t last_epoch = -1);
  LambdaLR(Optimizer& optimizer, std::vector<LrLambda> lr_lambdas, std::int64_t last_epoch = -1);
  const char* name() const override { return "LambdaLR"; }

 protected:
  std::vector<double> get_lr() override;

 private:
  std::vector<LrLambda> lambdas_;
};

/// torch MultiplicativeLR: lr *= lr_lambda(last_epoch) each step (not at construction).
class MultiplicativeLR : public LRScheduler {
 public:
  MultiplicativeLR(Optimizer& optimizer, LrLambda lr_lambda, std::int64_t last_epoch = -1);
  MultiplicativeLR(Optimizer& optimizer, std::vector<LrLambda> lr_lambdas,
                   std::int64_t last_epoch = -1);
  const char* name() const override { return "MultiplicativeLR"; }

 protected:
  std::vector<double> get_lr() override;

 private:
  std::vector<LrLambda> lambdas_;
};

/// torch StepLR: lr *= gamma every step_size epochs. step_size > 0, gamma > 0.
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma = 0.1,
         std::int64_t last_epoch = -1);
  const char* name() const override { return "StepLR"; }

 protected:
  std::vector<double> get_lr() override;
  std::optional<std::vector<double>> closed_form_lr() const override;
  void transfer_state(detail::StateIO& io) override;
  void validate_state() const override;

 private:
  std::int64_t step_size_;
  double gamma_;
};

/// torch MultiStepLR: lr *= gamma at each milestone (a milestone listed twice applies twice).
/// Milestones must be >= 0 and sorted.
class MultiStepLR : public LRScheduler {
 public:
  MultiStepLR(Optimizer& optimizer, std::vector<std::int64_t> milestones, double gamma = 0.1,
              std::int64_t last_epoch = -1);
  const char* name() const override { return "MultiStepLR"; }

 protected:
  std::vector<double> get_lr() override;
  std::optional<std::vector<double>> closed_form_lr() const override;
  void transfer_state(detail::StateIO& io) override;
  void validate_state() const override;

 private:
  std::vector<double> milestones_;  // sorted, with repeats (torch's Counter, expanded)
  double gamma_;
};

/// torch ConstantLR: lr = base_lr * factor until total_iters. factor in (0, 1] (torch allows 0
/// and then fails dividing by it at total_iters), total_iters > 0.
class ConstantLR : public LRScheduler {
 public:
  explicit ConstantLR(Optimizer& optimizer, double factor = 1.0 / 3, std::int64_t total_iters = 5,
                      std::int64_t last_epoch = -1);
  const char* name() const override { return "ConstantLR"; }

 protected:
  std::vector<double> get_lr() override;
  std::optional<std::vector<double>> closed_form_lr() const override;
  void transfer_state(detail::StateIO& io) override;
  void validate_state() const override;

 private:
  double factor_;
  std::int64_t total_iters_;
};

/// torch LinearLR: the factor goes linearly from start_factor (in (0, 1]) to end_factor (in
/// [0, 1]) over total_iters (> 0) steps.
class LinearLR : public LRScheduler {
 public:
  explicit LinearLR(Optimizer& optimizer, double start_factor = 1.0 / 3, double end_factor = 1.0,
                    std::int64_t total_iters = 5, std::int64_t last_epoch = -1);
  const char* name() const override { return "LinearLR"; }

 protected:
  std::vector<double> get_lr() override;
  std::optional<std::vector<double>> closed_form_lr() const override;
  void transfer_state(detail::StateIO& io) override;
  void validate_state() const override;

 private:
  double start_factor_;
  double end_factor_;
  std::int64_t total_iters_;
};

/// torch ExponentialLR: lr *= gamma every step. gamma > 0.
class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(Optimizer& optimizer, double gamma, std::int64_t last_epoch = -1);
  const char* name() const override { return "ExponentialLR"; }

 protected:
  std::vector<double> get_lr() override;
  std::optional<std::vector<double>> closed_form_lr() const override;
  void transfer_state(detail::StateIO& io) override;
  void validate_state() const override;

 private:
  double gamma_;
};

/// torch PolynomialLR: lr = base_lr * (1 - t / total_iters)^power, then constant.
/// total_iters > 0, power >= 0.
class PolynomialLR : public LRScheduler {
 public:
  explicit PolynomialLR(Optimizer& optimizer, std::int64_t total_iters = 5, double power = 1.0,
                        std::int64_t last_epoch = -1);
  const char* name() const override { return "PolynomialLR"; }

 protected:
  std::vector<double> get_lr() override;
  std::optional<std::vector<double>> closed_form_lr() const override;
  void transfer_state(detail::StateIO& io) override;
  void validate_state() const override;

 private:
  std::int64_t total_iters_;
  double power_;
};

/// torch CosineAnnealingLR, in torch's recursive (chainable) form: a half cosine from base_lr to
/// eta_min over T_max steps, then back up (period 2 * T_max). T_max > 0, eta_min >= 0.
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, std::int64_t T_max, double eta_min = 0.0,
                    std::int64_t last_epoch = -1);
  const char* name() const override { return "CosineAnnealingLR"; }

 protected:
  std::vector<double> get_lr() override;
  std::optional<std::vector<double>> closed_form_lr() const override;
  void transfer_state(detail::StateIO& io) override;
  void validate_state() const override;

 private:
  std::int64_t T_max_;
  double eta_min_;
};

/// torch CosineAnnealingWarmRestarts (SGDR): cosine from base_lr to eta_min over T_i steps, then
/// restart with T_i *= T_mult. T_0 > 0, T_mult >= 1, eta_min >= 0.
class CosineAnnealingWarmRestarts : public LRScheduler {
 public:
  CosineAnnealingWarmRestarts(Optimizer& optimizer, std::int64_t T_0, std::int64_t T_mult = 1,
                              double eta_min = 0.0, std::int64_t last_epoch = -1);
  const char* name() const override { return "CosineAnnealingWarmRestarts"; }
  void step() override;
  std::int64_t T_cur() const { return T_cur_; }
  std::int64_t T_i() const { return T_i_; }

 protected:
  std::vector<double> get_lr() override;
  void transfer_state(detail::StateIO& io) override;
  void validate_state() const override;

 private:
  std::int64_t T_0_;
  std::int64_t T_i_;
  std::int64_t T_mult_;
  double eta_min_;
  std::int64_t T_cur_;
};

/// torch ReduceLROnPlateau: lr = max(lr * factor, min_lr) after more than `patience` epochs
/// without improvement of the metric passed to step(metric), then `cooldown` epochs of rest.
/// factor in (0, 1), patience, cooldown >= 0, threshold, eps >= 0, min_lr >= 0.
class ReduceLROnPlateau : public LRScheduler {
 public:
  enum class Mode : std::uint8_t { min, max };
  enum class ThresholdMode : std::uint8_t { rel, abs };

  explicit ReduceLROnPlateau(Optimizer& optimizer, Mode mode = Mode::min, double factor = 0.1,
                             std::int64_t patience = 10, double threshold = 1e-4,
                             ThresholdMode threshold_mode = ThresholdMode::rel,
                             std::int64_t cooldown = 0, PerGroup min_lr = 0.0, double eps = 1e-8);
  const char* name() const override { return "ReduceLROnPlateau"; }
  /// One epoch's metric (a NaN never counts as an improvement, as in torch).
  void step(double metric);
  /// Throws: ReduceLROnPlateau needs the metric, step(metric).
  void step() override;

  double best() const { return best_; }
  std::int64_t num_bad_epochs() const { return num_bad_epochs_; }
  std::int64_t cooldown_counter() const { return cooldown_counter_; }
  bool in_cooldown() const { return cooldown_counter_ > 0; }

 protected:
  std::vector<double> get_lr() override;
  void transfer_state(detail::StateIO& io) override;
  void validate_state() const override;

 private:
  bool is_better(double a, double best) const;
  void reduce_lr();

  double factor_;
  std::vector<double> min_lrs_;
  std::optional<double> default_min_lr_;
  std::int64_t patience_;
  std::int64_t cooldown_;
  std::int64_t cooldown_counter_ = 0;
  double eps_;
  Mode mode_;
  double threshold_;
  ThresholdMode threshold_mode_;
  double best_;
  std::int64_t num_bad_epochs_ = 0;
  double mode_worse_;
};

/// torch CyclicLR: the lr cycles between base_lr and max_lr (step_size_up steps up,
/// step_size_down down), scaled per cycle or per iteration; with cycle_momentum the optimizer's
/// "momentum" (SGD, RMSprop) or else "beta1" (Adam family) cycles inversely between
/// max_momentum and base_momentum. Call step() after every batch.
class CyclicLR : public LRScheduler {
 public:
  enum class Mode : std::uint8_t { triangular, triangular2, exp_range };
  enum class ScaleMode : std::uint8_t { cycle, iterations };
  /// Custom scaling policy, 0 <= scale_fn(x) <= 1; replaces `mode`.
  using ScaleFn = std::function<double(double)>;

  CyclicLR(Optimizer& optimizer, PerGroup base_lr, PerGroup max_lr,
           std::int64_t step_size_up = 2000, std::optional<std::int64_t> step_size_down = {},
           Mode mode = Mode::triangular, double gamma = 1.0, ScaleFn scale_fn = nullptr,
           ScaleMode scale_mode = ScaleMode::cycle, bool cycle_momentum = true,
           PerGroup base_momentum = 0.8, PerGroup max_momentum = 0.9,
           std::int64_t last_epoch = -1);
  const char* name() const override { return "CyclicLR"; }
  /// The hyper-parameter momentum cycling writes ("momentum" or "beta1"); empty without it.
  const char* momentum_name() const;

 protected:
  std::vector<double> get_lr() override;
  void transfer_state(detail::StateIO& io) override;
  void validate_state() const override;

 private:
  double scale(double x) const;

  std::vector<double> max_lrs_;
  double total_size_;
  double step_ratio_;
  Mode mode_;
  double gamma_;
  ScaleFn scale_fn_;
  ScaleMode scale_mode_;
  bool cycle_momentum_;
  bool use_beta1_ = false;
  std::vector<double> base_momentums_;
  std::vector<double> max_momentums_;
};

/// torch OneCycleLR (1cycle): warm up from max_lr / div_factor to max_lr over pct_start of
/// total_steps, then anneal to initial_lr / final_div_factor (three_phase: back to initial_lr,
/// then down), momentum cycling inversely as CyclicLR. total_steps, or epochs * steps_per_epoch.
/// Stepping beyond total_steps throws, as in torch.
class OneCycleLR : public LRScheduler {
 public:
  OneCycleLR(Optimizer& optimizer, PerGroup max_lr, std::optional<std::int64_t> total_steps = {},
             std::optional<std::int64_t> epochs = {},
             std::optional<std::int64_t> steps_per_epoch = {}, double pct_start = 0.3,
             AnnealStrategy anneal_strategy = AnnealStrategy::cos, bool cycle_momentum = true,
             PerGroup base_momentum = 0.85, PerGroup max_momentum = 0.95,
             double div_factor = 25.0, double final_div_factor = 1e4, bool three_phase = false,
             std::int64_t last_epoch = -1);
  const char* name() const override { return "OneCycleLR"; }
  std::int64_t total_steps() const { return total_steps_; }
  const char* momentum_name() const;

 protected:
  std::vector<double> get_lr() override;
  void transfer_state(detail::StateIO& io) override;
  void validate_state() const override;

 private:
  double anneal(double start, double end, double pct) const;

  std::int64_t total_steps_;
  std::vector<double> phase_end_steps_;  // torch's _schedule_phases[i]["end_step"]
  AnnealStrategy anneal_strategy_;
  bool cycle_momentum_;
  bool use_beta1_ = false;
  // torch keeps these in the param groups ("initial_lr", "max_lr", "min_lr", "max_momentum",
  // "base_momentum"); fusedopt param groups hold only the optimizer's hyper-parameters.
  std::vector<double> initial_lrs_;
  std::vector<double> max_lrs_;
  std::vector<double> min_lrs_;
  std::vector<double> max_momentums_;
  std::vector<double> base_momentums_;
};

/// torch.optim.swa_utils.SWALR: anneals each group's lr to swa_lr over anneal_epochs epochs
/// (cos or linear), then holds it. anneal_epochs >= 0, swa_lr >= 0.
class SWALR : public LRScheduler {
 public:
  SWALR(Optimizer& optimizer, PerGroup swa_lr, std::int64_t anneal_epochs = 10,
        AnnealStrategy anneal_strategy = AnnealStrategy::cos, std::int64_t last_epoch = -1);
  const char* name() const override { return "SWALR"; }

 protected:
  std::vector<double> get_lr() override;
  void transfer_state(detail::StateIO& io) override;
  void validate_state() const override;

 private:
  double anneal(double t) const;

  std::vector<double> swa_lrs_;  // torch keeps them in the param groups ("swa_lr")
  std::int64_t anneal_epochs_;
  AnnealStrategy anneal_strategy_;
};

/// torch SequentialLR: schedulers[i] runs from milestones[i - 1] on; at a milestone the next
/// scheduler restarts at epoch 0 (its closed form where torch has one). Every scheduler must use
/// `optimizer`; milestones strictly increasing and >= 0, one fewer than schedulers. Neither
/// ReduceLROnPlateau nor (past the first position) a composite, which torch fails on at the
/// milestone, is accepted.
class SequentialLR : public LRScheduler {
 public:
  SequentialLR(Optimizer& optimizer, std::vector<std::shared_ptr<LRScheduler>> schedulers,
               std::vector<std::int64_t> milestones, std::int64_t last_epoch = -1);
  const char* name() const override { return "SequentialLR"; }
  void step() override;
  const std::vector<std::shared_ptr<LRScheduler>>& schedulers() const { return schedulers_; }

 protected:
  std::vector<double> get_lr() override;
  void transfer_state(detail::StateIO& io) override;
  void validate_state() const override;

 private:
  std::vector<LRScheduler*> children() const override;
  std::vector<std::shared_ptr<LRScheduler>> schedulers_;
  std::vector<double> milestones_;
};

/// torch ChainedScheduler: step() steps every scheduler in order, so their (chainable) effects
/// compose. All must use the same optimizer (`optimizer`, when given, or the first's). torch
/// keeps no last_epoch here; fusedopt counts step() calls from 0.
class ChainedScheduler : public LRScheduler {
 public:
  explicit ChainedScheduler(std::vector<std::shared_ptr<LRScheduler>> schedulers,
                            Optimizer* optimizer = nullptr);
  const char* name() const override { return "ChainedScheduler"; }
  void step() override;
  const std::vector<std::shared_ptr<LRScheduler>>& schedulers() const { return schedulers_; }

 protected:
  std::vector<double> get_lr() override;
  void transfer_state(detail::StateIO& io) override;
  void validate_state() const override;

 private:
  std::vector<LRScheduler*> children() const override;
  std::vector<std::shared_ptr<LRScheduler>> schedulers_;
};

}  // namespace fusedopt
