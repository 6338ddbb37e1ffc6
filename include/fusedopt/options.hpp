#pragma once
// Option structs with torch.optim's names and defaults and chainable setters.
//
// NOTE(option-inheritance): as in torch.optim, a param group inherits every option it does not
// set from the optimizer's defaults. Each option therefore remembers whether it was set
// explicitly; `inherit(defaults)` fills the rest.
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace fusedopt {

/// One option value plus whether the user set it (see NOTE(option-inheritance)).
template <class T>
class Setting {
 public:
  constexpr Setting(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  const T& get() const { return value_; }
  void set(T value) {
    value_ = std::move(value);
    explicit_ = true;
  }
  bool is_set() const { return explicit_; }
  void inherit(const Setting& defaults) {
    if (!explicit_) value_ = defaults.value_;
  }

 private:
  T value_;
  bool explicit_ = false;
};

// Declares `Self& name(T)` (chainable setter), `T name() const` and the stored Setting.
#define FUSEDOPT_OPTION(Self, T, name, default_value)  \
 public:                                               \
  Self& name(T value) {                                \
    name##_.set(std::move(value));                     \
    return static_cast<Self&>(*this);                  \
  }                                                    \
  const T& name() const { return name##_.get(); }      \
                                                       \
 protected:                                            \
  ::fusedopt::Setting<T> name##_{default_value};       \
                                                       \
 public:

/// torch.optim.SGD(lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False,
/// maximize=False).
class SGDOptions {
  FUSEDOPT_OPTION(SGDOptions, double, lr, 1e-3)
  FUSEDOPT_OPTION(SGDOptions, double, momentum, 0.0)
  FUSEDOPT_OPTION(SGDOptions, double, dampening, 0.0)
  FUSEDOPT_OPTION(SGDOptions, double, weight_decay, 0.0)
  FUSEDOPT_OPTION(SGDOptions, bool, nesterov, false)
  FUSEDOPT_OPTION(SGDOptions, bool, maximize, false)
 public:
  static constexpr const char* kOptimizer = "SGD";
  void inherit(const SGDOptions& defaults);
  /// Throws Error naming `where` + the option when a value is out of range.
  void validate(const std::string& where) const;
  /// Numeric options by torch name ("lr", "momentum", "dampening", "weight_decay").
  std::optional<double> get(std::string_view name) const;
  /// Returns false when `name` is not a numeric option of SGD.
  bool set(std::string_view name, double value);
};

/// (beta1, beta2) of the Adam family.
using Betas = std::pair<double, double>;
inline constexpr Betas kDefaultBetas{0.9, 0.999};

/// Shared by Adam and AdamW: they differ only in the default weight_decay and in how weight
/// decay is applied (L2 in the gradient vs decoupled).
template <class Self>
class AdamFamilyOptions {
  FUSEDOPT_OPTION(Self, double, lr, 1e-3)
  FUSEDOPT_OPTION(Self, Betas, betas, kDefaultBetas)
  FUSEDOPT_OPTION(Self, double, eps, 1e-8)
  FUSEDOPT_OPTION(Self, double, weight_decay, 0.0)
  FUSEDOPT_OPTION(Self, bool, amsgrad, false)
  FUSEDOPT_OPTION(Self, bool, maximize, false)
 public:
  void inherit(const Self& defaults);
  void validate(const std::string& where) const;
  /// "lr", "beta1", "beta2", "eps", "weight_decay".
  std::optional<double> get(std::string_view name) const;
  bool set(std::string_view name, double value);

 protected:
  explicit AdamFamilyOptions(double default_weight_decay) { weight_decay_ = default_weight_decay; }
};

/// torch.optim.Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
/// maximize=False). weight_decay is an L2 term added to the gradient.
class AdamOptions : public AdamFamilyOptions<AdamOptions> {
 public:
  static constexpr const char* kOptimizer = "Adam";
  AdamOptions() : AdamFamilyOptions(0.0) {}
};

/// torch.optim.AdamW(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
/// amsgrad=False, maximize=False). weight_decay is decoupled: p *= 1 - lr * weight_decay.
class AdamWOptions : public AdamFamilyOptions<AdamWOptions> {
 public:
  static constexpr const char* kOptimizer = "AdamW";
  AdamWOptions() : AdamFamilyOptions(1e-2) {}
};

extern template class AdamFamilyOptions<AdamOptions>;
extern template class AdamFamilyOptions<AdamWOptions>;

}  // namespace fusedopt
