#pragma once
// Option structs with torch.optim's names and defaults and chainable setters.
//
// NOTE(option-inheritance): as in torch.optim, a param group inherits every option it does not
// set from the optimizer's defaults. Each option therefore remembers whether it was set
// explicitly; `inherit(defaults)` fills the rest.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include "fusedopt/error.hpp"

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

/// One entry of an options struct's `fields()` table: its torch name and member. Pair-valued
/// options (betas, etas, step_sizes) also name their halves ("beta1", "beta2") for get/set.
template <class Owner, class T>
struct Field {
  const char* name;
  Setting<T> Owner::*member;
  const char* first = nullptr;
  const char* second = nullptr;
};
template <class Owner, class T>
Field(const char*, Setting<T> Owner::*) -> Field<Owner, T>;
template <class Owner, class T>
Field(const char*, Setting<T> Owner::*, const char*, const char*) -> Field<Owner, T>;

/// One hyper-parameter as torch.optim keeps it in a param group: a number, a flag or a pair
/// (betas, etas, step_sizes).
using HyperValue = std::variant<double, bool, std::pair<double, double>>;
/// A param group's options by torch name ("lr", "betas", "amsgrad", ...).
using HyperMap = std::map<std::string, HyperValue>;

/// Generic option handling over an options struct's `static auto fields()` table.
/// NOTE(option-inheritance) is implemented by inherit_options.
namespace detail {
template <class Options>
void inherit_options(Options& options, const Options& defaults) {
  std::apply([&](auto... f) { ((options.*(f.member)).inherit(defaults.*(f.member)), ...); },
             Options::fields());
}

template <class Options>
std::optional<double> get_option(const Options& options, std::string_view name) {
  std::optional<double> out;
  std::apply(
      [&](auto... f) {
        auto one = [&](auto field) {
          const auto& value = (options.*(field.member)).get();
          using T = std::decay_t<decltype(value)>;
          if constexpr (std::is_same_v<T, double>) {
            if (name == field.name) out = value;
          } else if constexpr (std::is_same_v<T, std::pair<double, double>>) {
            if (name == field.first) out = value.first;
            if (name == field.second) out = value.second;
          }
        };
        (one(f), ...);
      },
      Options::fields());
  return out;
}

template <class Options>
bool set_option(Options& options, std::string_view name, double v) {
  bool found = false;
  std::apply(
      [&](auto... f) {
        auto one = [&](auto field) {
          auto& setting = options.*(field.member);
          using T = std::decay_t<decltype(setting.get())>;
          if constexpr (std::is_same_v<T, double>) {
            if (name == field.name) setting.set(v), found = true;
          } else if constexpr (std::is_same_v<T, std::pair<double, double>>) {
            if (name == field.first) setting.set({v, setting.get().second}), found = true;
            if (name == field.second) setting.set({setting.get().first, v}), found = true;
          }
        };
        (one(f), ...);
      },
      Options::fields());
  return found;
}

/// Every option of `options` by torch name.
template <class Options>
HyperMap options_to_map(const Options& options) {
  HyperMap out;
  std::apply([&](auto... f) { ((out[f.name] = HyperValue((options.*(f.member)).get())), ...); },
             Options::fields());
  return out;
}

/// The options `map` describes: it must hold every option of Options, each with its type, and
/// nothing else. Throws Error naming `where` and the key. Every option comes out set
/// explicitly. Not validated: call validate().
template <class Options>
Options options_from_map(const HyperMap& map, const std::string& where) {
  Options options;
  std::size_t known = 0;
  std::apply(
      [&](auto... f) {
        auto one = [&](auto field) {
          using T = std::decay_t<decltype((options.*(field.member)).get())>;
          const auto it = map.find(field.name);
          if (it == map.end()) throw_error(where, ": option \"", field.name, "\" is missing");
          const T* value = std::get_if<T>(&it->second);
          if (value == nullptr)
            throw_error(where, ": option \"", field.name, "\" must be ",
                        std::is_same_v<T, bool>     ? "a bool"
                        : std::is_same_v<T, double> ? "a number"
                                                    : "a pair of numbers");
          (options.*(field.member)).set(*value);
          ++known;
        };
        (one(f), ...);
      },
      Options::fields());
  if (known != map.size())
    for (const auto& entry : map) {
      bool ours = false;
      std::apply([&](auto... f) { ours = ((entry.first == f.name) || ...); }, Options::fields());
      if (!ours)
        throw_error(where, ": ", printable(entry.first), " is not an option of ", Options::kOptimizer);
    }
  return options;
}
}  // namespace detail

// Declares the members every options struct has; Self lists its options in fields().
// Self also defines `static constexpr const char* kOptimizer` (torch's class name).
#define FUSEDOPT_OPTIONS_COMMON(Self)                                                            \
 public:                                                                                        \
  /** Fills every option not set explicitly from `defaults` (NOTE(option-inheritance)). */      \
  void inherit(const Self& defaults) {                                                         \
    ::fusedopt::detail::inherit_options(static_cast<Self&>(*this), defaults);                   \
  }                                                                                            \
  /** Numeric options by torch name (pairs by their halves, e.g. "beta1"). */                 \
  std::optional<double> get(std::string_view name) const {                                     \
    return ::fusedopt::detail::get_option(static_cast<const Self&>(*this), name);               \
  }                                                                                            \
  /** Returns false when `name` is not a numeric option. */                                   \
  bool set(std::string_view name, double value) {                                              \
    return ::fusedopt::detail::set_option(static_cast<Self&>(*this), name, value);              \
  }                                                                                            \
  /** Throws Error "<where>: <option> must be ..., got <value>". */                            \
  void validate(const std::string& where) const;

/// (beta1, beta2) of the Adam family and Lion.
using Pair = std::pair<double, double>;
using Betas = Pair;
inline constexpr Betas kDefaultBetas{0.9, 0.999};

}  // namespace fusedopt
