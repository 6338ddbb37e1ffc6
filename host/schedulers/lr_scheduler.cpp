// LR schedulers: torch.optim.lr_scheduler (PyTorch 2.x) and swa_utils.SWALR. The arithmetic of
// every get_lr follows torch's expression order, so the lrs agree with torch to the last bit
// where libm agrees (tests/golden/ holds torch's values).
#include "fusedopt/lr_scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "fusedopt/error.hpp"

namespace fusedopt {

namespace {

constexpr double kPi = 3.141592653589793;  // Python's math.pi
constexpr double kMaxExactInteger = 9007199254740992.0;  // 2^53

using detail::throw_error;

void require_finite(const char* who, const char* argument, double value) {
  if (!std::isfinite(value)) throw_error(who, ": ", argument, " must be finite, got ", value);
}

void require_positive(const char* who, const char* argument, double value) {
  if (!(value > 0) || !std::isfinite(value))
    throw_error(who, ": ", argument, " must be finite and > 0, got ", value);
}

void require_non_negative(const char* who, const char* argument, double value) {
  if (!(value >= 0) || !std::isfinite(value))
    throw_error(who, ": ", argument, " must be finite and >= 0, got ", value);
}

void require_non_negative(const char* who, const char* argument, const std::vector<double>& values) {
  for (std::size_t i = 0; i < values.size(); ++i)
    if (!(values[i] >= 0) || !std::isfinite(values[i]))
      throw_error(who, ": ", argument, "[", i, "] must be finite and >= 0, got ", values[i]);
}

/// Python's // and % for a positive divisor.
std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}
std::int64_t floor_mod(std::int64_t a, std::int64_t b) { return a - floor_div(a, b) * b; }

/// The optimizer hyper-parameter momentum cycling drives: "momentum" where the optimizer has it
/// (SGD, RMSprop), else "beta1" (the Adam family, Lion, ...).
bool uses_beta1(const char* who, const Optimizer& optimizer) {
  if (optimizer.has("momentum")) return false;
  if (optimizer.has("beta1")) return true;
  throw_error(who, ": cycle_momentum = true needs an optimizer with momentum or beta1, and ",
              optimizer.name(), " has neither (pass cycle_momentum = false)");
}

/// Checks the momenta a CyclicLR / OneCycleLR will write, before anything is written.
void check_cycled_momenta(const char* who, const Optimizer& optimizer, bool use_beta1,
                          const std::vector<double>& base, const std::vector<double>& max) {
  require_non_negative(who, "base_momentum", base);
  require_non_negative(who, "max_momentum", max);
  for (std::size_t g = 0; g < base.size(); ++g) {
    if (use_beta1) {
      if (!(base[g] < 1)) throw_error(who, ": base_momentum[", g, "] (beta1) must be < 1, got ", base[g]);
      if (!(max[g] < 1)) throw_error(who, ": max_momentum[", g, "] (beta1) must be < 1, got ", max[g]);
    } else {
      // fusedopt fixes at construction whether a group keeps a momentum buffer; a cycled
      // momentum must therefore stay non-zero in groups that have one.
      const double current = optimizer.get(g, "momentum");
      if (current == 0)
        throw_error(who, ": cycle_momentum needs param_groups[", g, "] to have momentum != 0 (",
                    optimizer.name(),
                    " fixes whether a group keeps a momentum buffer when it is created); create "
                    "the optimizer with momentum > 0 or pass cycle_momentum = false");
      if (base[g] == 0) throw_error(who, ": base_momentum[", g, "] must be > 0 for ", optimizer.name(), ", got 0");
      if (max[g] == 0) throw_error(who, ": max_momentum[", g, "] must be > 0 for ", optimizer.name(), ", got 0");
    }
  }
}

/// Writes a cycled momentum / beta1 after checking it (so the error is the scheduler's).
void write_momentum(const char* who, Optimizer& optimizer, const char* name, std::size_t group,
                    double value, std::int64_t last_epoch) {
  if (!(value >= 0) || !std::isfinite(value))
    throw_error(who, ": the schedule gives ", name, " = ", value, " for param_groups[", group,
                "] at last_epoch = ", last_epoch, "; it must be finite and >= 0");
  optimizer.set(group, name, value);
}

void check_integral(const char* who, const char* argument, const std::vector<double>& values) {
  for (std::size_t i = 0; i < values.size(); ++i)
    if (!(std::abs(values[i]) <= kMaxExactInteger) || values[i] != std::floor(values[i]))
      throw_error(who, ": ", argument, "[", i, "] must be an integer, got ", values[i]);
}

}  // namespace

// ---- StateIO ---------------------------------------------------------------------------------

namespace detail {

StateIO::StateIO(SchedulerState& out) : out_(&out) {}

StateIO::StateIO(const SchedulerState& in, std::string scheduler,
                 std::optional<std::size_t> num_groups)
    : in_(&in), scheduler_(std::move(scheduler)), num_groups_(num_groups) {}

const std::vector<double>& StateIO::find(const std::string& key, std::size_t expected,
                                         bool per_group) const {
  const auto it = in_->find(prefix_ + key);
  if (it == in_->end()) throw_error(scheduler_, ": state_dict lacks \"", prefix_ + key, "\"");
  if (expected != std::size_t(-1) && it->second.size() != expected)
    throw_error(scheduler_, ": state_dict[\"", prefix_ + key, "\"] has ", it->second.size(),
                " value(s), expected ", expected,
                per_group ? " (one per param group it schedules): the state was saved by a "
                            "scheduler of a different number of param groups"
                          : "");
  return it->second;
}

void StateIO::field(const std::string& key, double& value) {
  if (!loading()) {
    (*out_)[prefix_ + key] = {value};
    return;
  }
  value = find(key, 1)[0];
}

void StateIO::field(const std::string& key, std::int64_t& value) {
  if (!loading()) {
    (*out_)[prefix_ + key] = {double(value)};
    return;
  }
  const double x = find(key, 1)[0];
  if (!(std::abs(x) <= kMaxExactInteger) || x != std::floor(x))
    throw_error(scheduler_, ": state_dict[\"", prefix_ + key, "\"] must be an integer, got ", x);
  value = std::int64_t(x);
}

void StateIO::field(const std::string& key, bool& value) {
  if (!loading()) {
    (*out_)[prefix_ + key] = {value ? 1.0 : 0.0};
    return;
  }
  const double x = find(key, 1)[0];
  if (x != 0 && x != 1)
    throw_error(scheduler_, ": state_dict[\"", prefix_ + key, "\"] must be 0 or 1, got ", x);
  value = x == 1;
}

void StateIO::field(const std::string& key, std::optional<double>& value) {
  if (!loading()) {
    (*out_)[prefix_ + key] = value ? std::vector<double>{*value} : std::vector<double>{};
    return;
  }
  const std::vector<double>& v = find(key, std::size_t(-1));
  if (v.size() > 1)
    throw_error(scheduler_, ": state_dict[\"", prefix_ + key, "\"] has ", v.size(),
                " values, expected 0 (None) or 1");
  value = v.empty() ? std::nullopt : std::optional<double>(v[0]);
}

void StateIO::field(const std::string& key, std::vector<double>& values) {
  if (!loading()) {
    (*out_)[prefix_ + key] = values;
    return;
  }
  values = find(key, std::size_t(-1));
}

void StateIO::per_group(const std::string& key, std::vector<double>& values) {
  if (!loading()) {
    (*out_)[prefix_ + key] = values;
    return;
  }
  values = find(key, num_groups_ ? *num_groups_ : std::size_t(-1), true);
}

void StateIO::check_index(const std::string& key, std::int64_t index, int count) const {
  if (index < 0 || index >= count)
    throw_error(scheduler_, ": state_dict[\"", prefix_ + key, "\"] = ", index,
                " is not one of the ", count, " allowed values");
}

StateIO StateIO::nested(const std::string& prefix) const {
  StateIO io = *this;
  io.prefix_ += prefix;
  return io;
}

}  // namespace detail

// ---- LRScheduler -----------------------------------------------------------------------------

LRScheduler::LRScheduler(Optimizer& optimizer, std::int64_t last_epoch)
    : last_epoch_(last_epoch),
      optimizer_(&optimizer),
      lifetime_(optimizer.lifetime()),
      num_groups_(optimizer.num_param_groups()) {
  // torch: with last_epoch == -1, group.setdefault("initial_lr", group["lr"]); otherwise every
  // group must have one. Nothing is written before the initial step has succeeded.
  const std::size_t n = num_groups_;
  pending_initial_lr_.resize(n);
  for (std::size_t g = 0; g < n; ++g) {
    const std::optional<double> initial = optimizer.initial_lr(g);
    if (initial) {
      base_lrs_.push_back(*initial);
      continue;
    }
    const double lr = optimizer.lr(g);
    base_lrs_.push_back(lr);
    if (last_epoch == -1)
      pending_initial_lr_[g] = lr;
    else if (!missing_initial_lr_)
      missing_initial_lr_ = g;
  }
  last_lr_ = group_lrs();
}

LRScheduler::LRScheduler(Optimizer& optimizer, std::int64_t last_epoch, Detached detached)
    : last_epoch_(last_epoch),
      optimizer_(&optimizer),
      lifetime_(optimizer.lifetime()),
      num_groups_(detached.num_groups.value_or(optimizer.num_param_groups())) {
  base_lrs_ = group_lrs();
  last_lr_ = base_lrs_;
}

LRScheduler::~LRScheduler() = default;

Optimizer& LRScheduler::live_optimizer() const {
  if (lifetime_.expired())
    throw_error(name(), ": its optimizer was destroyed; a scheduler that outlives its optimizer "
                "keeps only state_dict(), load_state_dict() and the accessors of its own state");
  return *optimizer_;
}

void LRScheduler::initial_step() {
  if (last_epoch_ < -1) throw_error(name(), ": last_epoch must be >= -1, got ", last_epoch_);
  if (missing_initial_lr_)
    throw_error(name(), ": last_epoch = ", last_epoch_, " resumes a schedule, which needs an "
                "initial_lr in every param group, and param_groups[", *missing_initial_lr_,
                "] has none (it is set by the scheduler that started the run, or by "
                "Optimizer::set_initial_lr)");
  Transaction transaction(*this);
  step_count_ = 0;
  is_initial_ = true;
  try {
    step();
  } catch (...) {
    is_initial_ = false;
    throw;
  }
  is_initial_ = false;
  for (std::size_t g = 0; g < pending_initial_lr_.size(); ++g)
    if (pending_initial_lr_[g]) live_optimizer().set_initial_lr(g, *pending_initial_lr_[g]);
  pending_initial_lr_.assign(pending_initial_lr_.size(), std::nullopt);
  transaction.commit();
}

void LRScheduler::step() {
  Transaction transaction(*this);
  ++step_count_;
  update_lr(std::nullopt);
  transaction.commit();
}

void LRScheduler::update_lr(std::optional<std::int64_t> epoch) {
  std::vector<double> lrs;
  if (!epoch) {
    ++last_epoch_;
    lrs = get_lr();
  } else {
    last_epoch_ = *epoch;
    std::optional<std::vector<double>> closed = closed_form_lr();
    lrs = closed ? std::move(*closed) : get_lr();
  }
  write_lrs(lrs);
}

void LRScheduler::write_lrs(const std::vector<double>& lrs) {
  // Groups added after the scheduler are not written (NOTE(scheduler-groups)).
  const std::size_t n = num_groups();
  if (lrs.size() != n)
    throw_error(name(), ": internal: the schedule gives ", lrs.size(), " lr(s) for ", n,
                " param group(s)");
  for (std::size_t g = 0; g < n; ++g)
    if (!(lrs[g] >= 0) || !std::isfinite(lrs[g]))
      throw_error(name(), ": the schedule gives lr = ", lrs[g], " for param_groups[", g,
                  "] at last_epoch = ", last_epoch_, "; an lr must be finite and >= 0");
  Optimizer& optimizer = live_optimizer();
  for (std::size_t g = 0; g < n; ++g) optimizer.set_lr(g, lrs[g]);
  last_lr_ = group_lrs();
}

std::vector<double> LRScheduler::group_lrs() const {
  const Optimizer& optimizer = live_optimizer();
  std::vector<double> lrs(num_groups());
  for (std::size_t g = 0; g < lrs.size(); ++g) lrs[g] = optimizer.lr(g);
  return lrs;
}

std::vector<double> LRScheduler::per_group(const PerGroup& value, const char* argument) const {
  const std::size_t n = num_groups();
  if (value.is_scalar()) return std::vector<double>(n, value.values()[0]);
  if (value.values().size() != n)
    throw_error(name(), ": ", argument, " has ", value.values().size(),
                " value(s) but the optimizer has ", n, " param group(s)");
  return value.values();
}

void LRScheduler::set_base_lrs(std::vector<double> base_lrs, bool write_initial_lr) {
  if (write_initial_lr)
    for (std::size_t g = 0; g < base_lrs.size(); ++g) pending_initial_lr_[g] = base_lrs[g];
  base_lrs_ = std::move(base_lrs);
}

bool LRScheduler::set_default_initial_lr(std::size_t group, double lr) {
  if (!pending_initial_lr_[group]) return false;
  pending_initial_lr_[group] = lr;
  return true;
}

SchedulerState LRScheduler::state_dict() const {
  SchedulerState state;
  detail::StateIO io(state);
  // A saving StateIO only reads the fields; transfer_state is non-const because loading shares it.
  const_cast<LRScheduler*>(this)->transfer_state(io);
  return state;
}

void LRScheduler::load_state_dict(const SchedulerState& state) {
  const SchedulerState backup = state_dict();
  try {
    detail::StateIO io(state, name(), num_groups());
    transfer_state(io);
    validate_state();
  } catch (...) {
    detail::StateIO restore(backup, name(), std::nullopt);
    transfer_state(restore);
    throw;
  }
}

void LRScheduler::transfer_state(detail::StateIO& io) {
  io.field("last_epoch", last_epoch_);
  io.field("_step_count", step_count_);
  io.per_group("base_lrs", base_lrs_);
  io.per_group("_last_lr", last_lr_);
}

void LRScheduler::validate_state() const {
  if (last_epoch_ < -1) throw_error(name(), ": last_epoch must be >= -1, got ", last_epoch_);
  if (step_count_ < 0) throw_error(name(), ": _step_count must be >= 0, got ", step_count_);
  require_non_negative(name(), "base_lrs", base_lrs_);
}

void LRScheduler::undo_initial_step() {
  const std::vector<LRScheduler*> kids = children();
  if (kids.empty()) {
    --last_epoch_;
    return;
  }
  for (LRScheduler* child : kids) child->undo_initial_step();
}

LRScheduler::Transaction::Transaction(LRScheduler& scheduler)
    : scheduler_(scheduler), state_(scheduler.state_dict()) {
  const Optimizer& optimizer = scheduler.live_optimizer();
  for (const char* name : {"lr", "momentum", "beta1"}) {
    if (std::string_view(name) != "lr" && !optimizer.has(name)) continue;
    for (std::size_t g = 0; g < scheduler.num_groups(); ++g)  // the only groups it writes
      values_.push_back({g, name, optimizer.get(g, name)});
  }
}

LRScheduler::Transaction::~Transaction() {
  if (committed_) return;
  for (auto it = values_.rbegin(); it != values_.rend(); ++it) {
    try {
      Optimizer& optimizer = scheduler_.live_optimizer();
      if (optimizer.get(it->group, it->name) != it->value)
        optimizer.set(it->group, it->name, it->value);
    } catch (...) {  // restoring a value the optimizer held cannot fail; never throw here
    }
  }
  try {
    detail::StateIO restore(state_, scheduler_.name(), std::nullopt);
    scheduler_.transfer_state(restore);
  } catch (...) {
  }
  scheduler_.is_initial_ = false;
}

// ---- LambdaLR, MultiplicativeLR --------------------------------------------------------------

namespace {
std::vector<LrLambda> checked_lambdas(const char* who, std::vector<LrLambda> lambdas,
                                      std::size_t num_groups) {
  if (lambdas.size() != num_groups)
    throw_error(who, ": expected ", num_groups, " lr_lambdas (one per param group), got ",
                lambdas.size());
  for (std::size_t g = 0; g < lambdas.size(); ++g)
    if (!lambdas[g]) throw_error(who, ": lr_lambdas[", g, "] is an empty std::function");
  return lambdas;
}
std::vector<LrLambda> one_lambda(const char* who, LrLambda lambda, std::size_t num_groups) {
  if (!lambda) throw_error(who, ": lr_lambda is an empty std::function");
  return std::vector<LrLambda>(num_groups, lambda);
}
}  // namespace

LambdaLR::LambdaLR(Optimizer& optimizer, LrLambda lr_lambda, std::int64_t last_epoch)
    : LRScheduler(optimizer, last_epoch),
      lambdas_(one_lambda("LambdaLR", std::move(lr_lambda), optimizer.num_param_groups())) {
  initial_step();
}

LambdaLR::LambdaLR(Optimizer& optimizer, std::vector<LrLambda> lr_lambdas, std::int64_t last_epoch)
    : LRScheduler(optimizer, last_epoch),
      lambdas_(checked_lambdas("LambdaLR", std::move(lr_lambdas), optimizer.num_param_groups())) {
  initial_step();
}

std::vector<double> LambdaLR::get_lr() {
  std::vector<double> lrs(base_lrs_.size());
  for (std::size_t g = 0; g < lrs.size(); ++g) lrs[g] = base_lrs_[g] * lambdas_[g](last_epoch_);
  return lrs;
}

MultiplicativeLR::MultiplicativeLR(Optimizer& optimizer, LrLambda lr_lambda,
                                   std::int64_t last_epoch)
    : LRScheduler(optimizer, last_epoch),
      lambdas_(one_lambda("MultiplicativeLR", std::move(lr_lambda), optimizer.num_param_groups())) {
  initial_step();
}

MultiplicativeLR::MultiplicativeLR(Optimizer& optimizer, std::vector<LrLambda> lr_lambdas,
                                   std::int64_t last_epoch)
    : LRScheduler(optimizer, last_epoch),
      lambdas_(checked_lambdas("MultiplicativeLR", std::move(lr_lambdas),
                               optimizer.num_param_groups())) {
  initial_step();
}

std::vector<double> MultiplicativeLR::get_lr() {
  std::vector<double> lrs = group_lrs();
  if (is_initial()) return lrs;
  for (std::size_t g = 0; g < lrs.size(); ++g) lrs[g] = lrs[g] * lambdas_[g](last_epoch_);
  return lrs;
}

// ---- StepLR ----------------------------------------------------------------------------------

StepLR::StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma, std::int64_t last_epoch)
    : LRScheduler(optimizer, last_epoch), step_size_(step_size), gamma_(gamma) {
  validate_state();
  initial_step();
}

std::vector<double> StepLR::get_lr() {
  std::vector<double> lrs = group_lrs();
  if (last_epoch_ == 0 || floor_mod(last_epoch_, step_size_) != 0) return lrs;
  for (double& lr : lrs) lr = lr * gamma_;
  return lrs;
}

std::optional<std::vector<double>> StepLR::closed_form_lr() const {
  std::vector<double> lrs(base_lrs_.size());
  const double decay = std::pow(gamma_, double(floor_div(last_epoch_, step_size_)));
  for (std::size_t g = 0; g < lrs.size(); ++g) lrs[g] = base_lrs_[g] * decay;
  return lrs;
}

void StepLR::transfer_state(detail::StateIO& io) {
  LRScheduler::transfer_state(io);
  io.field("step_size", step_size_);
  io.field("gamma", gamma_);
}

void StepLR::validate_state() const {
  if (step_size_ <= 0) throw_error("StepLR: step_size must be > 0, got ", step_size_);
  require_positive("StepLR", "gamma", gamma_);
  LRScheduler::validate_state();
}

// ---- MultiStepLR -----------------------------------------------------------------------------

MultiStepLR::MultiStepLR(Optimizer& optimizer, std::vector<std::int64_t> milestones, double gamma,
                         std::int64_t last_epoch)
    : LRScheduler(optimizer, last_epoch), gamma_(gamma) {
  for (std::size_t i = 0; i < milestones.size(); ++i) {
    if (milestones[i] < 0) throw_error("MultiStepLR: milestones[", i, "] must be >= 0, got ", milestones[i]);
    if (i > 0 && milestones[i] < milestones[i - 1])
      throw_error("MultiStepLR: milestones must be sorted, got milestones[", i, "] = ",
                  milestones[i], " after milestones[", i - 1, "] = ", milestones[i - 1]);
    milestones_.push_back(double(milestones[i]));
  }
  validate_state();
  initial_step();
}

std::vector<double> MultiStepLR::get_lr() {
  std::vector<double> lrs = group_lrs();
  const auto range = std::equal_range(milestones_.begin(), milestones_.end(), double(last_epoch_));
  const auto count = range.second - range.first;
  if (count == 0) return lrs;
  const double decay = std::pow(gamma_, double(count));
  for (double& lr : lrs) lr = lr * decay;
  return lrs;
}

std::optional<std::vector<double>> MultiStepLR::closed_form_lr() const {
  const auto passed =
      std::upper_bound(milestones_.begin(), milestones_.end(), double(last_epoch_)) -
      milestones_.begin();
  const double decay = std::pow(gamma_, double(passed));
  std::vector<double> lrs(base_lrs_.size());
  for (std::size_t g = 0; g < lrs.size(); ++g) lrs[g] = base_lrs_[g] * decay;
  return lrs;
}

void MultiStepLR::transfer_state(detail::StateIO& io) {
  LRScheduler::transfer_state(io);
  io.field("milestones", milestones_);
  io.field("gamma", gamma_);
}

void MultiStepLR::validate_state() const {
  check_integral("MultiStepLR", "milestones", milestones_);
  if (!std::is_sorted(milestones_.begin(), milestones_.end()))
    throw_error("MultiStepLR: milestones must be sorted");
  require_positive("MultiStepLR", "gamma", gamma_);
  LRScheduler::validate_state();
}

// ---- ConstantLR ------------------------------------------------------------------------------

ConstantLR::ConstantLR(Optimizer& optimizer, double factor, std::int64_t total_iters,
                       std::int64_t last_epoch)
    : LRScheduler(optimizer, last_epoch), factor_(factor), total_iters_(total_iters) {
  validate_state();
  initial_step();
}

std::vector<double> ConstantLR::get_lr() {
  std::vector<double> lrs = group_lrs();
  if (last_epoch_ == 0) {
    for (double& lr : lrs) lr = lr * factor_;
  } else if (last_epoch_ == total_iters_) {
    for (double& lr : lrs) lr = lr * (1.0 / factor_);
  }
  return lrs;
}

std::optional<std::vector<double>> ConstantLR::closed_form_lr() const {
  const double factor = factor_ + (last_epoch_ >= total_iters_ ? 1.0 - factor_ : 0.0);
  std::vector<double> lrs(base_lrs_.size());
  for (std::size_t g = 0; g < lrs.size(); ++g) lrs[g] = base_lrs_[g] * factor;
  return lrs;
}

void ConstantLR::transfer_state(detail::StateIO& io) {
  LRScheduler::transfer_state(io);
  io.field("factor", factor_);
  io.field("total_iters", total_iters_);
}

void ConstantLR::validate_state() const {
  if (!(factor_ > 0 && factor_ <= 1))
    throw_error("ConstantLR: factor must be in (0, 1], got ", factor_);
  if (total_iters_ <= 0) throw_error("ConstantLR: total_iters must be > 0, got ", total_iters_);
  LRScheduler::validate_state();
}

// ---- LinearLR --------------------------------------------------------------------------------

LinearLR::LinearLR(Optimizer& optimizer, double start_factor, double end_factor,
                   std::int64_t total_iters, std::int64_t last_epoch)
    : LRScheduler(optimizer, last_epoch),
      start_factor_(start_factor),
      end_factor_(end_factor),
      total_iters_(total_iters) {
  validate_state();
  initial_step();
}

std::vector<double> LinearLR::get_lr() {
  std::vector<double> lrs = group_lrs();
  if (last_epoch_ == 0) {
    for (double& lr : lrs) lr = lr * start_factor_;
    return lrs;
  }
  if (is_initial() || last_epoch_ > total_iters_) return lrs;
  const double delta = end_factor_ - start_factor_;
  const double factor =
      1.0 + delta / (double(total_iters_) * start_factor_ + double(last_epoch_ - 1) * delta);
  for (double& lr : lrs) lr = lr * factor;
  return lrs;
}

std::optional<std::vector<double>> LinearLR::closed_form_lr() const {
  const double progress = double(std::min(total_iters_, last_epoch_));
  const double factor =
      start_factor_ + (end_factor_ - start_factor_) * progress / double(total_iters_);
  std::vector<double> lrs(base_lrs_.size());
  for (std::size_t g = 0; g < lrs.size(); ++g) lrs[g] = base_lrs_[g] * factor;
  return lrs;
}

void LinearLR::transfer_state(detail::StateIO& io) {
  LRScheduler::transfer_state(io);
  io.field("start_factor", start_factor_);
  io.field("end_factor", end_factor_);
  io.field("total_iters", total_iters_);
}

void LinearLR::validate_state() const {
  if (!(start_factor_ > 0 && start_factor_ <= 1))
    throw_error("LinearLR: start_factor must be in (0, 1], got ", start_factor_);
  if (!(end_factor_ >= 0 && end_factor_ <= 1))
    throw_error("LinearLR: end_factor must be in [0, 1], got ", end_factor_);
  if (total_iters_ <= 0) throw_error("LinearLR: total_iters must be > 0, got ", total_iters_);
  LRScheduler::validate_state();
}

// ---- ExponentialLR ---------------------------------------------------------------------------

ExponentialLR::ExponentialLR(Optimizer& optimizer, double gamma, std::int64_t last_epoch)
    : LRScheduler(optimizer, last_epoch), gamma_(gamma) {
  validate_state();
  initial_step();
}

std::vector<double> ExponentialLR::get_lr() {
  std::vector<double> lrs = group_lrs();
  if (is_initial()) return lrs;  // resuming must not advance the lr one step ahead
  for (double& lr : lrs) lr = lr * gamma_;
  return lrs;
}

std::optional<std::vector<double>> ExponentialLR::closed_form_lr() const {
  const double decay = std::pow(gamma_, double(last_epoch_));
  std::vector<double> lrs(base_lrs_.size());
  for (std::size_t g = 0; g < lrs.size(); ++g) lrs[g] = base_lrs_[g] * decay;
  return lrs;
}

void ExponentialLR::transfer_state(detail::StateIO& io) {
  LRScheduler::transfer_state(io);
  io.field("gamma", gamma_);
}

void ExponentialLR::validate_state() const {
  require_positive("ExponentialLR", "gamma", gamma_);
  LRScheduler::validate_state();
}

// ---- PolynomialLR ----------------------------------------------------------------------------

PolynomialLR::PolynomialLR(Optimizer& optimizer, std::int64_t total_iters, double power,
                           std::int64_t last_epoch)
    : LRScheduler(optimizer, last_epoch), total_iters_(total_iters), power_(power) {
  validate_state();
  initial_step();
}

std::vector<double> PolynomialLR::get_lr() {
  std::vector<double> lrs = group_lrs();
  if (is_initial() || last_epoch_ > total_iters_) return lrs;
  const double total = double(total_iters_);
  const double decay = std::pow(
      (1.0 - double(last_epoch_) / total) / (1.0 - double(last_epoch_ - 1) / total), power_);
  for (double& lr : lrs) lr = lr * decay;
  return lrs;
}

std::optional<std::vector<double>> PolynomialLR::closed_form_lr() const {
  const double progress = double(std::min(total_iters_, last_epoch_)) / double(total_iters_);
  const double decay = std::pow(1.0 - progress, power_);
  std::vector<double> lrs(base_lrs_.size());
  for (std::size_t g = 0; g < lrs.size(); ++g) lrs[g] = base_lrs_[g] * decay;
  return lrs;
}

void PolynomialLR::transfer_state(detail::StateIO& io) {
  LRScheduler::transfer_state(io);
  io.field("total_iters", total_iters_);
  io.field("power", power_);
}

void PolynomialLR::validate_state() const {
  if (total_iters_ <= 0) throw_error("PolynomialLR: total_iters must be > 0, got ", total_iters_);
  require_non_negative("PolynomialLR", "power", power_);
  LRScheduler::validate_state();
}

// ---- CosineAnnealingLR -----------------------------------------------------------------------

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, std::int64_t T_max, double eta_min,
                                     std::int64_t last_epoch)
    : LRScheduler(optimizer, last_epoch), T_max_(T_max), eta_min_(eta_min) {
  validate_state();
  initial_step();
}

std::vector<double> CosineAnnealingLR::get_lr() {
  std::vector<double> lrs = group_lrs();
  if (is_initial()) return lrs;
  const double e = double(last_epoch_);
  const double T = double(T_max_);
  if (step_count() == 1 && last_epoch_ > 0) {
    for (std::size_t g = 0; g < lrs.size(); ++g)
      lrs[g] = eta_min_ + (base_lrs_[g] - eta_min_) * (1 + std::cos(e * kPi / T)) / 2;
  } else if (floor_mod(last_epoch_ - 1 - T_max_, 2 * T_max_) == 0) {
    // Restarting from eta_min (the recursion's denominator would be 0 here).
    for (std::size_t g = 0; g < lrs.size(); ++g)
      lrs[g] = lrs[g] + (base_lrs_[g] - eta_min_) * (1 - std::cos(kPi / T)) / 2;
  } else {
    const double ratio = (1 + std::cos(kPi * e / T)) / (1 + std::cos(kPi * (e - 1) / T));
    for (double& lr : lrs) lr = ratio * (lr - eta_min_) + eta_min_;
  }
  return lrs;
}

std::optional<std::vector<double>> CosineAnnealingLR::closed_form_lr() const {
  const double cosine = 1 + std::cos(kPi * double(last_epoch_) / double(T_max_));
  std::vector<double> lrs(base_lrs_.size());
  for (std::size_t g = 0; g < lrs.size(); ++g)
    lrs[g] = eta_min_ + (base_lrs_[g] - eta_min_) * cosine / 2;
  return lrs;
}

void CosineAnnealingLR::transfer_state(detail::StateIO& io) {
  LRScheduler::transfer_state(io);
  io.field("T_max", T_max_);
  io.field("eta_min", eta_min_);
}

void CosineAnnealingLR::validate_state() const {
  if (T_max_ <= 0) throw_error("CosineAnnealingLR: T_max must be > 0, got ", T_max_);
  require_non_negative("CosineAnnealingLR", "eta_min", eta_min_);
  LRScheduler::validate_state();
}

// ---- CosineAnnealingWarmRestarts -------------------------------------------------------------

CosineAnnealingWarmRestarts::CosineAnnealingWarmRestarts(Optimizer& optimizer, std::int64_t T_0,
                                                         std::int64_t T_mult, double eta_min,
                                                         std::int64_t last_epoch)
    : LRScheduler(optimizer, last_epoch),
      T_0_(T_0),
      T_i_(T_0),
      T_mult_(T_mult),
      eta_min_(eta_min),
      T_cur_(last_epoch) {
  validate_state();
  initial_step();
}

void CosineAnnealingWarmRestarts::step() {
  // torch overrides step() and, unlike LRScheduler.step, does not count _step_count.
  Transaction transaction(*this);
  if (last_epoch_ < 0) {  // torch: the first step is step(epoch=0)
    T_i_ = T_0_;
    T_cur_ = 0;
    last_epoch_ = 0;
  } else {
    ++last_epoch_;
    ++T_cur_;
    if (T_cur_ >= T_i_) {
      T_cur_ = T_cur_ % T_i_;
      T_i_ = T_i_ * T_mult_;
    }
  }
  write_lrs(get_lr());
  transaction.commit();
}

std::vector<double> CosineAnnealingWarmRestarts::get_lr() {
  const double cosine = 1 + std::cos(kPi * double(T_cur_) / double(T_i_));
  std::vector<double> lrs(base_lrs_.size());
  for (std::size_t g = 0; g < lrs.size(); ++g)
    lrs[g] = eta_min_ + (base_lrs_[g] - eta_min_) * cosine / 2;
  return lrs;
}

void CosineAnnealingWarmRestarts::transfer_state(detail::StateIO& io) {
  LRScheduler::transfer_state(io);
  io.field("T_0", T_0_);
  io.field("T_i", T_i_);
  io.field("T_mult", T_mult_);
  io.field("eta_min", eta_min_);
  io.field("T_cur", T_cur_);
}

void CosineAnnealingWarmRestarts::validate_state() const {
  const char* who = "CosineAnnealingWarmRestarts";
  if (T_0_ <= 0) throw_error(who, ": T_0 must be > 0, got ", T_0_);
  if (T_mult_ < 1) throw_error(who, ": T_mult must be >= 1, got ", T_mult_);
  if (T_i_ < T_0_) throw_error(who, ": T_i must be >= T_0 = ", T_0_, ", got ", T_i_);
  if (T_cur_ < -1) throw_error(who, ": T_cur must be >= -1, got ", T_cur_);
  require_non_negative(who, "eta_min", eta_min_);
  LRScheduler::validate_state();
}

// ---- ReduceLROnPlateau -----------------------------------------------------------------------

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, Mode mode, double factor,
                                     std::int64_t patience, double threshold,
                                     ThresholdMode threshold_mode, std::int64_t cooldown,
                                     PerGroup min_lr, double eps)
    : LRScheduler(optimizer, 0, Detached{}),
      factor_(factor),
      patience_(patience),
      cooldown_(cooldown),
      eps_(eps),
      mode_(mode),
      threshold_(threshold),
      threshold_mode_(threshold_mode) {
  min_lrs_ = per_group(min_lr, "min_lr");
  if (min_lr.is_scalar()) default_min_lr_ = min_lr.values()[0];
  mode_worse_ = mode == Mode::max ? -std::numeric_limits<double>::infinity()
                                  : std::numeric_limits<double>::infinity();
  best_ = mode_worse_;
  validate_state();
}

void ReduceLROnPlateau::step() {
  throw_error("ReduceLROnPlateau: step() needs the metric; call step(metric)");
}

void ReduceLROnPlateau::step(double metric) {
  Transaction transaction(*this);
  ++last_epoch_;
  if (is_better(metric, best_)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (in_cooldown()) {
    --cooldown_counter_;
    num_bad_epochs_ = 0;  // bad epochs in cooldown do not count
  }
  if (num_bad_epochs_ > patience_) {
    reduce_lr();
    cooldown_counter_ = cooldown_;
    num_bad_epochs_ = 0;
  }
  last_lr_ = group_lrs();
  transaction.commit();
}

void ReduceLROnPlateau::reduce_lr() {
  // torch extends a scalar min_lr to groups added later and reduces them too; fusedopt leaves
  // them alone (NOTE(scheduler-groups)), so default_min_lr is kept only as torch's state key.
  for (std::size_t g = 0; g < num_groups(); ++g) {
    const double old_lr = optimizer().lr(g);
    const double new_lr = std::max(old_lr * factor_, min_lrs_[g]);
    if (old_lr - new_lr > eps_) optimizer().set_lr(g, new_lr);
  }
}

bool ReduceLROnPlateau::is_better(double a, double best) const {
  if (mode_ == Mode::min) {
    return threshold_mode_ == ThresholdMode::rel ? a < best * (1.0 - threshold_)
                                                 : a < best - threshold_;
  }
  return threshold_mode_ == ThresholdMode::rel ? a > best * (threshold_ + 1.0)
                                               : a > best + threshold_;
}

std::vector<double> ReduceLROnPlateau::get_lr() { return group_lrs(); }

void ReduceLROnPlateau::transfer_state(detail::StateIO& io) {
  // Not the base's fields: torch's ReduceLROnPlateau has no _step_count.
  io.field("last_epoch", last_epoch_);
  io.per_group("_last_lr", last_lr_);
  io.per_group("base_lrs", base_lrs_);
  io.field("factor", factor_);
  io.per_group("min_lrs", min_lrs_);
  io.field("default_min_lr", default_min_lr_);
  io.field("patience", patience_);
  io.field("cooldown", cooldown_);
  io.field("cooldown_counter", cooldown_counter_);
  io.field("eps", eps_);
  io.field("mode", mode_, 2);
  io.field("threshold", threshold_);
  io.field("threshold_mode", threshold_mode_, 2);
  io.field("best", best_);
  io.field("num_bad_epochs", num_bad_epochs_);
  io.field("mode_worse", mode_worse_);
}

void ReduceLROnPlateau::validate_state() const {
  const char* who = "ReduceLROnPlateau";
  if (mode_ != Mode::min && mode_ != Mode::max)
    throw_error(who, ": mode must be Mode::min or Mode::max, got ", int(mode_));
  if (threshold_mode_ != ThresholdMode::rel && threshold_mode_ != ThresholdMode::abs)
    throw_error(who, ": threshold_mode must be ThresholdMode::rel or ThresholdMode::abs, got ",
                int(threshold_mode_));
  if (!(factor_ > 0 && factor_ < 1)) throw_error(who, ": factor must be in (0, 1), got ", factor_);
  if (patience_ < 0) throw_error(who, ": patience must be >= 0, got ", patience_);
  if (cooldown_ < 0) throw_error(who, ": cooldown must be >= 0, got ", cooldown_);
  if (cooldown_counter_ < 0)
    throw_error(who, ": cooldown_counter must be >= 0, got ", cooldown_counter_);
  if (num_bad_epochs_ < 0) throw_error(who, ": num_bad_epochs must be >= 0, got ", num_bad_epochs_);
  require_non_negative(who, "threshold", threshold_);
  require_non_negative(who, "eps", eps_);
  require_non_negative(who, "min_lr", min_lrs_);
  if (default_min_lr_) require_non_negative(who, "min_lr", *default_min_lr_);
  if (std::isnan(best_)) throw_error(who, ": best must not be NaN");
}

// ---- CyclicLR --------------------------------------------------------------------------------

CyclicLR::CyclicLR(Optimizer& optimizer, PerGroup base_lr, PerGroup max_lr,
                   std::int64_t step_size_up, std::optional<std::int64_t> step_size_down,
                   Mode mode, double gamma, ScaleFn scale_fn, ScaleMode scale_mode,
                   bool cycle_momentum, PerGroup base_momentum, PerGroup max_momentum,
                   std::int64_t last_epoch)
    : LRScheduler(optimizer, last_epoch),
      mode_(mode),
      gamma_(gamma),
      scale_fn_(std::move(scale_fn)),
      scale_mode_(scale_mode),
      cycle_momentum_(cycle_momentum) {
  const char* who = "CyclicLR";
  std::vector<double> base_lrs = per_group(base_lr, "base_lr");
  require_non_negative(who, "base_lr", base_lrs);
  max_lrs_ = per_group(max_lr, "max_lr");
  if (step_size_up < 1) throw_error(who, ": step_size_up must be >= 1, got ", step_size_up);
  if (step_size_down && *step_size_down < 0)
    throw_error(who, ": step_size_down must be >= 0, got ", *step_size_down);
  const double up = double(step_size_up);
  const double down = step_size_down ? double(*step_size_down) : up;
  total_size_ = up + down;
  step_ratio_ = up / total_size_;
  if (!scale_fn_) {  // torch's _init_scale_fn: the built-in modes fix their scale_mode
    if (mode != Mode::triangular && mode != Mode::triangular2 && mode != Mode::exp_range)
      throw_error(who, ": mode must be triangular, triangular2 or exp_range, got ", int(mode));
    scale_mode_ = mode == Mode::exp_range ? ScaleMode::iterations : ScaleMode::cycle;
  }
  if (cycle_momentum) {  // as torch, the momentum arguments are ignored without cycling
    base_momentums_ = per_group(base_momentum, "base_momentum");
    max_momentums_ = per_group(max_momentum, "max_momentum");
    use_beta1_ = uses_beta1(who, optimizer);
    check_cycled_momenta(who, optimizer, use_beta1_, base_momentums_, max_momentums_);
  } else {
    base_momentums_.assign(num_groups(), 0.0);
    max_momentums_.assign(num_groups(), 0.0);
  }
  validate_state();
  // NOTE(cyclic-initial-step): torch sets each lr to base_lr, runs LRScheduler.__init__ (whose
  // base_lrs are the groups' initial_lr, defaulting to that lr) including the initial step, and
  // only then sets base_lrs = base_lr. So the initial step cycles from a group's pre-existing
  // initial_lr where there is one (always when resuming with last_epoch >= 0), and from base_lr
  // otherwise; later steps use base_lr. Replicated as is.
  std::vector<double> initial_step_bases = base_lrs_;
  for (std::size_t g = 0; g < base_lrs.size(); ++g)
    if (set_default_initial_lr(g, base_lrs[g])) initial_step_bases[g] = base_lrs[g];
  set_base_lrs(std::move(initial_step_bases), false);
  initial_step();
  set_base_lrs(std::move(base_lrs), false);
}

const char* CyclicLR::momentum_name() const {
  return cycle_momentum_ ? (use_beta1_ ? "beta1" : "momentum") : "";
}

double CyclicLR::scale(double x) const {
  if (scale_fn_) return scale_fn_(x);
  switch (mode_) {
    case Mode::triangular: return 1.0;
    case Mode::triangular2: return 1 / std::pow(2.0, x - 1);
    case Mode::exp_range: return std::pow(gamma_, x);
  }
  return 1.0;
}

std::vector<double> CyclicLR::get_lr() {
  const double e = double(last_epoch_);
  const double cycle = std::floor(1 + e / total_size_);
  const double x = 1.0 + e / total_size_ - cycle;
  const double scale_factor = x <= step_ratio_ ? x / step_ratio_ : (x - 1) / (step_ratio_ - 1);
  const double scale_at = scale_mode_ == ScaleMode::cycle ? cycle : e;
  std::vector<double> lrs(base_lrs_.size());
  for (std::size_t g = 0; g < lrs.size(); ++g) {
    const double base_height = (max_lrs_[g] - base_lrs_[g]) * scale_factor;
    lrs[g] = base_lrs_[g] + base_height * scale(scale_at);
  }
  if (cycle_momentum_) {
    std::vector<double> momenta(base_momentums_.size());
    for (std::size_t g = 0; g < momenta.size(); ++g) {
      const double base_height = (max_momentums_[g] - base_momentums_[g]) * scale_factor;
      momenta[g] = max_momentums_[g] - base_height * scale(scale_at);
    }
    for (std::size_t g = 0; g < momenta.size(); ++g)
      write_momentum("CyclicLR", optimizer(), momentum_name(), g, momenta[g], last_epoch_);
  }
  return lrs;
}

void CyclicLR::transfer_state(detail::StateIO& io) {
  LRScheduler::transfer_state(io);
  io.per_group("max_lrs", max_lrs_);
  io.field("total_size", total_size_);
  io.field("step_ratio", step_ratio_);
  io.field("mode", mode_, 3);
  io.field("gamma", gamma_);
  io.field("scale_mode", scale_mode_, 2);
  io.field("cycle_momentum", cycle_momentum_);
  io.field("use_beta1", use_beta1_);
  io.per_group("base_momentums", base_momentums_);
  io.per_group("max_momentums", max_momentums_);
}

void CyclicLR::validate_state() const {
  const char* who = "CyclicLR";
  require_non_negative(who, "max_lr", max_lrs_);
  if (!(total_size_ > 0) || !std::isfinite(total_size_))
    throw_error(who, ": total_size must be > 0, got ", total_size_);
  if (!(step_ratio_ > 0 && step_ratio_ <= 1))
    throw_error(who, ": step_ratio must be in (0, 1], got ", step_ratio_);
  require_positive(who, "gamma", gamma_);
  if (cycle_momentum_) {
    require_non_negative(who, "base_momentum", base_momentums_);
    require_non_negative(who, "max_momentum", max_momentums_);
  }
  LRScheduler::validate_state();
}

// ---- OneCycleLR ------------------------------------------------------------------------------

OneCycleLR::OneCycleLR(Optimizer& optimizer, PerGroup max_lr, std::optional<std::int64_t> total_steps,
                       std::optional<std::int64_t> epochs,
                       std::optional<std::int64_t> steps_per_epoch, double pct_start,
                       AnnealStrategy anneal_strategy, bool cycle_momentum, PerGroup base_momentum,
                       PerGroup max_momentum, double div_factor, double final_div_factor,
                       bool three_phase, std::int64_t last_epoch)
    : LRScheduler(optimizer, last_epoch),
      anneal_strategy_(anneal_strategy),
      cycle_momentum_(cycle_momentum) {
  const char* who = "OneCycleLR";
  if (total_steps) {
    if (*total_steps <= 0) throw_error(who, ": total_steps must be > 0, got ", *total_steps);
    total_steps_ = *total_steps;
  } else if (epochs && steps_per_epoch) {
    if (*epochs <= 0) throw_error(who, ": epochs must be > 0, got ", *epochs);
    if (*steps_per_epoch <= 0)
      throw_error(who, ": steps_per_epoch must be > 0, got ", *steps_per_epoch);
    if (*epochs > std::numeric_limits<std::int64_t>::max() / *steps_per_epoch)
      throw_error(who, ": epochs * steps_per_epoch overflows (", *epochs, " * ", *steps_per_epoch, ")");
    total_steps_ = *epochs * *steps_per_epoch;
  } else {
    throw_error(who, ": pass total_steps, or both epochs and steps_per_epoch (got total_steps = "
                "none, epochs = ", epochs ? std::to_string(*epochs) : "none",
                ", steps_per_epoch = ", steps_per_epoch ? std::to_string(*steps_per_epoch) : "none", ")");
  }
  if (!(pct_start >= 0 && pct_start <= 1))
    throw_error(who, ": pct_start must be in [0, 1], got ", pct_start);
  if (anneal_strategy != AnnealStrategy::cos && anneal_strategy != AnnealStrategy::linear)
    throw_error(who, ": anneal_strategy must be cos or linear, got ", int(anneal_strategy));
  require_positive(who, "div_factor", div_factor);
  require_positive(who, "final_div_factor", final_div_factor);
  max_lrs_ = per_group(max_lr, "max_lr");
  require_non_negative(who, "max_lr", max_lrs_);
  if (cycle_momentum) {  // as torch, the momentum arguments are ignored without cycling
    max_momentums_ = per_group(max_momentum, "max_momentum");
    base_momentums_ = per_group(base_momentum, "base_momentum");
    use_beta1_ = uses_beta1(who, optimizer);
    check_cycled_momenta(who, optimizer, use_beta1_, base_momentums_, max_momentums_);
  } else {
    max_momentums_.assign(num_groups(), 0.0);
    base_momentums_.assign(num_groups(), 0.0);
  }

  const double total = double(total_steps_);
  if (three_phase)
    phase_end_steps_ = {pct_start * total - 1, 2 * pct_start * total - 2, total - 1};
  else
    phase_end_steps_ = {pct_start * total - 1, total - 1};

  // torch writes group["initial_lr"] = max_lr / div_factor when starting (last_epoch == -1)
  // and reads the groups' values when resuming.
  if (last_epoch == -1) {
    initial_lrs_.resize(max_lrs_.size());
    for (std::size_t g = 0; g < max_lrs_.size(); ++g) initial_lrs_[g] = max_lrs_[g] / div_factor;
    set_base_lrs(initial_lrs_, true);
  } else {
    initial_lrs_ = base_lrs_;
  }
  min_lrs_.resize(initial_lrs_.size());
  for (std::size_t g = 0; g < min_lrs_.size(); ++g) min_lrs_[g] = initial_lrs_[g] / final_div_factor;
  validate_state();
  initial_step();
}

const char* OneCycleLR::momentum_name() const {
  return cycle_momentum_ ? (use_beta1_ ? "beta1" : "momentum") : "";
}

double OneCycleLR::anneal(double start, double end, double pct) const {
  if (anneal_strategy_ == AnnealStrategy::cos) {
    const double cos_out = std::cos(kPi * pct) + 1;
    return end + (start - end) / 2.0 * cos_out;
  }
  return (end - start) * pct + start;
}

std::vector<double> OneCycleLR::get_lr() {
  const std::int64_t step_num = last_epoch_;
  if (step_num > total_steps_)
    throw_error("OneCycleLR: tried to step ", step_num, " times, beyond total_steps = ",
                total_steps_);
  const bool three = phase_end_steps_.size() == 3;
  std::vector<double> lrs(base_lrs_.size());
  for (std::size_t g = 0; g < lrs.size(); ++g) {
    // Each phase: {lr from, lr to, momentum from, momentum to}.
    const double initial = initial_lrs_[g], peak = max_lrs_[g], floor = min_lrs_[g];
    const double m_max = max_momentums_[g], m_base = base_momentums_[g];
    const double two[2][4] = {{initial, peak, m_max, m_base}, {peak, floor, m_base, m_max}};
    const double three_phases[3][4] = {
        {initial, peak, m_max, m_base}, {peak, initial, m_base, m_max}, {initial, floor, m_max, m_max}};
    double start_step = 0.0;
    for (std::size_t i = 0; i < phase_end_steps_.size(); ++i) {
      const double end_step = phase_end_steps_[i];
      if (double(step_num) <= end_step || i + 1 == phase_end_steps_.size()) {
        if (end_step == start_step)
          throw_error("OneCycleLR: step ", step_num, " falls in phase ", i + 1,
                      " of the schedule, which has zero length (total_steps = ", total_steps_,
                      "; choose pct_start so that every phase spans at least one step)");
        const double pct = (double(step_num) - start_step) / (end_step - start_step);
        const double* phase = three ? three_phases[i] : two[i];
        lrs[g] = anneal(phase[0], phase[1], pct);
        if (cycle_momentum_)
          write_momentum("OneCycleLR", optimizer(), momentum_name(), g,
                         anneal(phase[2], phase[3], pct), last_epoch_);
        break;
      }
      start_step = end_step;
    }
  }
  return lrs;
}

void OneCycleLR::transfer_state(detail::StateIO& io) {
  LRScheduler::transfer_state(io);
  io.field("total_steps", total_steps_);
  io.field("_schedule_phases", phase_end_steps_);
  io.field("_anneal_func_type", anneal_strategy_, 2);
  io.field("cycle_momentum", cycle_momentum_);
  io.field("use_beta1", use_beta1_);
  io.per_group("initial_lrs", initial_lrs_);
  io.per_group("max_lrs", max_lrs_);
  io.per_group("min_lrs", min_lrs_);
  io.per_group("max_momentums", max_momentums_);
  io.per_group("base_momentums", base_momentums_);
}

void OneCycleLR::validate_state() const {
  const char* who = "OneCycleLR";
  if (total_steps_ <= 0) throw_error(who, ": total_steps must be > 0, got ", total_steps_);
  if (phase_end_steps_.size() != 2 && phase_end_steps_.size() != 3)
    throw_error(who, ": _schedule_phases must have 2 or 3 phases, got ", phase_end_steps_.size());
  for (double end : phase_end_steps_) require_finite(who, "_schedule_phases end_step", end);
  require_non_negative(who, "initial_lr", initial_lrs_);
  require_non_negative(who, "max_lr", max_lrs_);
  require_non_negative(who, "min_lr", min_lrs_);
  if (cycle_momentum_) {
    require_non_negative(who, "base_momentum", base_momentums_);
    require_non_negative(who, "max_momentum", max_momentums_);
  }
  LRScheduler::validate_state();
}

// ---- SWALR -----------------------------------------------------------------------------------

SWALR::SWALR(Optimizer& optimizer, PerGroup swa_lr, std::int64_t anneal_epochs,
             AnnealStrategy anneal_strategy, std::int64_t last_epoch)
    : LRScheduler(optimizer, last_epoch),
      anneal_epochs_(anneal_epochs),
      anneal_strategy_(anneal_strategy) {
  swa_lrs_ = per_group(swa_lr, "swa_lr");
  if (anneal_strategy != AnnealStrategy::cos && anneal_strategy != AnnealStrategy::linear)
    throw_error("SWALR: anneal_strategy must be cos or linear, got ", int(anneal_strategy));
  validate_state();
  initial_step();
}

double SWALR::anneal(double t) const {
  return anneal_strategy_ == AnnealStrategy::cos ? (1 - std::cos(kPi * t)) / 2 : t;
}

std::vector<double> SWALR::get_lr() {
  // torch counts from _step_count (1 after the initial step), not from last_epoch.
  std::int64_t step = step_count() - 1;
  if (anneal_epochs_ == 0) step = std::max<std::int64_t>(1, step);
  const double span = double(std::max<std::int64_t>(1, anneal_epochs_));
  const double prev_t = std::max(0.0, std::min(1.0, double(step - 1) / span));
  const double prev_alpha = anneal(prev_t);
  const double t = std::max(0.0, std::min(1.0, double(step) / span));
  const double alpha = anneal(t);
  std::vector<double> lrs = group_lrs();
  for (std::size_t g = 0; g < lrs.size(); ++g) {
    // Recover the lr the annealing started from, then move alpha of the way to swa_lr.
    const double swa = swa_lrs_[g];
    const double start = prev_alpha == 1 ? swa : (lrs[g] - prev_alpha * swa) / (1 - prev_alpha);
    lrs[g] = swa * alpha + start * (1 - alpha);
  }
  return lrs;
}

void SWALR::transfer_state(detail::StateIO& io) {
  LRScheduler::transfer_state(io);
  io.per_group("swa_lrs", swa_lrs_);
  io.field("anneal_epochs", anneal_epochs_);
  io.field("_anneal_strategy", anneal_strategy_, 2);
}

void SWALR::validate_state() const {
  require_non_negative("SWALR", "swa_lr", swa_lrs_);
  if (anneal_epochs_ < 0) throw_error("SWALR: anneal_epochs must be >= 0, got ", anneal_epochs_);
  LRScheduler::validate_state();
}

// ---- SequentialLR, ChainedScheduler ----------------------------------------------------------

namespace {
/// torch's checks shared by the composites: no null, no ReduceLROnPlateau, one optimizer; and no
/// scheduler listed twice, all of the same param groups. Returns that number of groups, the
/// composite's (NOTE(scheduler-groups)).
std::size_t check_children(const char* who,
                           const std::vector<std::shared_ptr<LRScheduler>>& schedulers,
                           const Optimizer& optimizer) {
  if (schedulers.empty()) throw_error(who, ": expects at least one scheduler, got none");
  for (std::size_t i = 0; i < schedulers.size(); ++i) {
    const LRScheduler* s = schedulers[i].get();
    if (s == nullptr) throw_error(who, ": schedulers[", i, "] is null");
    if (dynamic_cast<const ReduceLROnPlateau*>(s) != nullptr)
      throw_error(who, ": schedulers[", i, "] is a ReduceLROnPlateau, which is not supported (its "
                  "step needs a metric)");
    if (&s->optimizer() != &optimizer)
      throw_error(who, ": schedulers[", i, "] (", s->name(),
                  ") belongs to a different optimizer than the ", optimizer.name(), " given");
    for (std::size_t j = 0; j < i; ++j)
      if (schedulers[j].get() == s)
        throw_error(who, ": schedulers[", i, "] is schedulers[", j, "] again");
    if (s->num_groups() != schedulers[0]->num_groups())
      throw_error(who, ": schedulers[", i, "] (", s->name(), ") schedules ", s->num_groups(),
                  " param group(s) and schedulers[0] (", schedulers[0]->name(), ") ",
                  schedulers[0]->num_groups(), " (a group was added between their creations)");
  }
  return schedulers[0]->num_groups();
}

Optimizer& chained_optimizer(const std::vector<std::shared_ptr<LRScheduler>>& schedulers,
                             Optimizer* optimizer) {
  if (optimizer != nullptr) return *optimizer;
  if (schedulers.empty())
    throw_error("ChainedScheduler: expects at least one scheduler to be chained, got none");
  if (!schedulers[0]) throw_error("ChainedScheduler: schedulers[0] is null");
  return schedulers[0]->optimizer();
}
}  // namespace

SequentialLR::SequentialLR(Optimizer& optimizer, std::vector<std::shared_ptr<LRScheduler>> schedulers,
                           std::vector<std::int64_t> milestones, std::int64_t last_epoch)
    : LRScheduler(optimizer, last_epoch + 1,
                  Detached{check_children("SequentialLR", schedulers, optimizer)}),
      schedulers_(std::move(schedulers)) {
  const char* who = "SequentialLR";
  if (last_epoch < -1) throw_error(who, ": last_epoch must be >= -1, got ", last_epoch);
  for (std::size_t i = 1; i < schedulers_.size(); ++i)
    if (!schedulers_[i]->children().empty())
      throw_error(who, ": schedulers[", i, "] is a ", schedulers_[i]->name(),
                  "; a composite can only come first (it cannot restart at a milestone)");
  if (milestones.size() + 1 != schedulers_.size())
    throw_error(who, ": expects one milestone fewer than schedulers, got ", schedulers_.size(),
                " scheduler(s) and ", milestones.size(), " milestone(s)");
  for (std::size_t i = 0; i < milestones.size(); ++i) {
    if (milestones[i] < 0) throw_error(who, ": milestones[", i, "] must be >= 0, got ", milestones[i]);
    if (i > 0 && milestones[i] <= milestones[i - 1])
      throw_error(who, ": milestones must be strictly increasing, got milestones[", i, "] = ",
                  milestones[i], " after ", milestones[i - 1]);
    milestones_.push_back(double(milestones[i]));
  }
  std::vector<double> initial_lrs(num_groups());
  for (std::size_t g = 0; g < initial_lrs.size(); ++g) {
    const std::optional<double> initial = optimizer.initial_lr(g);
    if (!initial)
      throw_error(who, ": param_groups[", g, "] has no initial_lr (the schedulers set one when "
                  "they are created; Optimizer::load_state_dict may have cleared it)");
    initial_lrs[g] = *initial;
  }

  Transaction transaction(*this);
  // Back to the initial lrs, undo the schedulers' initial steps, and start the first one.
  for (std::size_t g = 0; g < initial_lrs.size(); ++g) optimizer.set_lr(g, initial_lrs[g]);
  undo_initial_step();
  const std::size_t first =
      std::upper_bound(milestones_.begin(), milestones_.end(), 0.0) - milestones_.begin();
  schedulers_[first]->initial_step();
  last_lr_ = schedulers_[first]->get_last_lr();
  base_lrs_ = schedulers_[0]->base_lrs();
  transaction.commit();
}

void SequentialLR::step() {
  Transaction transaction(*this);
  ++last_epoch_;
  const std::size_t index =
      std::upper_bound(milestones_.begin(), milestones_.end(), double(last_epoch_)) -
      milestones_.begin();
  LRScheduler& scheduler = *schedulers_[index];
  if (index > 0 && milestones_[index - 1] == double(last_epoch_))
    scheduler.update_lr(0);  // restart at epoch 0 (closed form where torch has one)
  else
    scheduler.step();
  last_lr_ = scheduler.get_last_lr();
  transaction.commit();
}

std::vector<double> SequentialLR::get_lr() {
  throw_error("SequentialLR: has no get_lr of its own; use step()");
}

std::vector<LRScheduler*> SequentialLR::children() const {
  std::vector<LRScheduler*> out;
  for (const auto& s : schedulers_) out.push_back(s.get());
  return out;
}

void SequentialLR::transfer_state(detail::StateIO& io) {
  LRScheduler::transfer_state(io);
  io.field("_milestones", milestones_);
  for (std::size_t i = 0; i < schedulers_.size(); ++i) {
    detail::StateIO child = io.nested("_schedulers." + std::to_string(i) + ".");
    schedulers_[i]->transfer_state(child);
  }
}

void SequentialLR::validate_state() const {
  if (milestones_.size() + 1 != schedulers_.size())
    throw_error("SequentialLR: _milestones has ", milestones_.size(), " values, expected ",
                schedulers_.size() - 1);
  check_integral("SequentialLR", "_milestones", milestones_);
  for (std::size_t i = 1; i < milestones_.size(); ++i)
    if (!(milestones_[i] > milestones_[i - 1]))
      throw_error("SequentialLR: _milestones must be strictly increasing");
  for (const auto& s : schedulers_) s->validate_state();
  LRScheduler::validate_state();
}

ChainedScheduler::ChainedScheduler(std::vector<std::shared_ptr<LRScheduler>> schedulers,
                                   Optimizer* optimizer)
    : LRScheduler(chained_optimizer(schedulers, optimizer), 0,
                  Detached{check_children("ChainedScheduler", schedulers,
                                          chained_optimizer(schedulers, optimizer))}),
      schedulers_(std::move(schedulers)) {
  base_lrs_ = schedulers_[0]->base_lrs();
}

void ChainedScheduler::step() {
  Transaction transaction(*this);
  for (const auto& s : schedulers_) s->step();
  ++last_epoch_;
  last_lr_ = group_lrs();
  transaction.commit();
}

std::vector<double> ChainedScheduler::get_lr() {
  throw_error("ChainedScheduler: has no get_lr of its own; use step()");
}

std::vector<LRScheduler*> ChainedScheduler::children() const {
  std::vector<LRScheduler*> out;
  for (const auto& s : schedulers_) out.push_back(s.get());
  return out;
}

void ChainedScheduler::transfer_state(detail::StateIO& io) {
  LRScheduler::transfer_state(io);
  for (std::size_t i = 0; i < schedulers_.size(); ++i) {
    detail::StateIO child = io.nested("_schedulers." + std::to_string(i) + ".");
    schedulers_[i]->transfer_state(child);
  }
}

void ChainedScheduler::validate_state() const {
  for (const auto& s : schedulers_) s->validate_state();
  LRScheduler::validate_state();
}

}  // namespace fusedopt
