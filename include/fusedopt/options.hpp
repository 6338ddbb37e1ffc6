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

/// A pair-valued option (betas, etas, step_sizes).
using Pair = std::pair<double, double>;
using Betas = Pair;
inline constexpr Betas kDefaultBetas{0.9, 0.999};

/// NOTE(option-rules): the rule an option's value must satisfy. validate() checks every option
/// against its rule and throws Error "<where>: <option> must be <rule>, got <value>"; a pair has
/// a rule per half, named "<option>.first (<half>)".
enum class Rule {
  any,             // flags; numbers without a constraint
  finite,          // "finite"
  non_negative,    // "finite and >= 0"
  unit_interval,   // "in [0, 1]"
  beta,            // "in [0, 1)", as torch checks betas
  open_unit,       // "in (0, 1)"
  above_one,       // "finite and > 1"
  at_least_first,  // a pair's second half: ">= <first half> and finite"
};

/// One entry of an options struct's `fields()` table: its torch name, member and rule. Pair
/// options also name their halves ("beta1", "beta2") for get/set, and give the second's rule.
template <class Owner, class T>
struct Field {
  const char* name;
  Setting<T> Owner::*member;
  Rule rule = Rule::any;  // a pair: its first half's
  const char* first = nullptr;
  const char* second = nullptr;
  Rule second_rule = Rule::any;
};

/// One hyper-parameter as torch.optim keeps it in a param group: a number, a flag or a pair
/// (betas, etas, step_sizes).
using HyperValue = std::variant<double, bool, std::pair<double, double>>;
/// A param group's options by torch name ("lr", "betas", "amsgrad", ...).
using HyperMap = std::map<std::string, HyperValue>;

/// Generic option handling over an options struct's `static auto fields()` table.
/// NOTE(option-inheritance) is implemented by inherit_options.
namespace detail {
/// Calls f(field) for each entry of Options::fields(), in declaration order.
template <class Options, class F>
void for_each_field(F&& f) {
  std::apply([&](auto... field) { (f(field), ...); }, Options::fields());
}

template <class Options>
void inherit_options(Options& options, const Options& defaults) {
  for_each_field<Options>(
      [&](auto field) { (options.*(field.member)).inherit(defaults.*(field.member)); });
}

template <class Options>
std::optional<double> get_option(const Options& options, std::string_view name) {
  std::optional<double> out;
  for_each_field<Options>([&](auto field) {
    const auto& value = (options.*(field.member)).get();
    using T = std::decay_t<decltype(value)>;
    if constexpr (std::is_same_v<T, double>) {
      if (name == field.name) out = value;
    } else if constexpr (std::is_same_v<T, std::pair<double, double>>) {
      if (name == field.first) out = value.first;
      if (name == field.second) out = value.second;
    }
  });
  return out;
}

template <class Options>
bool set_option(Options& options, std::string_view name, double v) {
  bool found = false;
  for_each_field<Options>([&](auto field) {
    auto& setting = options.*(field.member);
    using T = std::decay_t<decltype(setting.get())>;
    if constexpr (std::is_same_v<T, double>) {
      if (name == field.name) setting.set(v), found = true;
    } else if constexpr (std::is_same_v<T, std::pair<double, double>>) {
      if (name == field.first) setting.set({v, setting.get().second}), found = true;
      if (name == field.second) setting.set({setting.get().first, v}), found = true;
    }
  });
  return found;
}

/// Every option of `options` by torch name.
template <class Options>
HyperMap options_to_map(const Options& options) {
  HyperMap out;
  for_each_field<Options>(
      [&](auto field) { out[field.name] = HyperValue((options.*(field.member)).get()); });
  return out;
}

/// The options `map` describes: it must hold every option of Options, each with its type, and
/// nothing else. Throws Error naming `where` and the key. Every option comes out set
/// explicitly. Not validated: call validate().
template <class Options>
Options options_from_map(const HyperMap& map, const std::string& where) {
  Options options;
  std::size_t known = 0;
  for_each_field<Options>([&](auto field) {
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
  });
  if (known != map.size())
    for (const auto& entry : map) {
      bool ours = false;
      for_each_field<Options>([&](auto field) { ours = ours || entry.first == field.name; });
      if (!ours)
        throw_error(where, ": ", printable(entry.first), " is not an option of ", Options::kOptimizer);
    }
  return options;
}

/// The text of `rule` when `value` breaks it, else nothing. `first`, `first_name`: the pair's
/// first half, for Rule::at_least_first.
std::optional<std::string> broken_rule(Rule rule, double value, double first = 0.0,
                                       const char* first_name = "");
[[noreturn]] void throw_broken_rule(const std::string& where, const std::string& name,
                                    const std::string& rule, double value);

template <class Options, class = void>
struct HasCheck : std::false_type {};
template <class Options>
struct HasCheck<Options, std::void_t<decltype(std::declval<const Options&>().check(
                             std::declval<const std::string&>()))>> : std::true_type {};

/// Checks every option against its rule (NOTE(option-rules)), then the rules between options
/// where Options has them (`void check(const std::string& where) const`, e.g. SGD's nesterov).
template <class Options>
void validate_options(const Options& options, const std::string& where) {
  for_each_field<Options>([&](auto field) {
    const auto& value = (options.*(field.member)).get();
    using T = std::decay_t<decltype(value)>;
    if constexpr (std::is_same_v<T, double>) {
      if (auto rule = broken_rule(field.rule, value))
        throw_broken_rule(where, field.name, *rule, value);
    } else if constexpr (std::is_same_v<T, Pair>) {
      const auto half = [&](const char* which, const char* name) {
        return std::string(field.name) + which + " (" + name + ")";
      };
      if (auto rule = broken_rule(field.rule, value.first))
        throw_broken_rule(where, half(".first", field.first), *rule, value.first);
      if (auto rule = broken_rule(field.second_rule, value.second, value.first, field.first))
        throw_broken_rule(where, half(".second", field.second), *rule, value.second);
    }
  });
  if constexpr (HasCheck<Options>::value) options.check(where);
}
}  // namespace detail

// Declares the members every options struct has; Self lists its options with
// FUSEDOPT_DECLARE_OPTIONS. Self also defines `static constexpr const char* kOptimizer`
// (torch's class name).
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
  /** Throws Error "<where>: <option> must be ..., got <value>" (NOTE(option-rules)). */       \
  void validate(const std::string& where) const {                                              \
    ::fusedopt::detail::validate_options(static_cast<const Self&>(*this), where);               \
  }

// NOTE(options-once): an options struct declares each option once, in a list macro
//   #define FUSEDOPT_X_OPTIONS(OPTION, PAIR)
//     OPTION(double, lr, 1e-3, non_negative)             type, torch name, default, Rule
//     PAIR(betas, kDefaultBetas, beta1, beta, beta2, beta)  name, default, halves and rules
// and FUSEDOPT_DECLARE_OPTIONS(Self, Owner, FUSEDOPT_X_OPTIONS) turns it into the chainable
// setters, the getters, the stored Settings and `fields()`, the table that inheritance,
// get/set by name, validation, checkpoints and the functor's slots (NOTE(slots)) iterate.
// Owner is the class that holds the options (Self, or a base shared by several Selfs). A
// default containing a comma must be a named constant.
#define FUSEDOPT_DECLARE_OPTIONS(Self, Owner, LIST)                                        \
 public:                                                                                 \
  using DeclaredSelf_ = Self;                                                            \
  LIST(FUSEDOPT_OPTION_MEMBER_, FUSEDOPT_PAIR_MEMBER_)                                    \
 public:                                                                                 \
  static auto fields() {                                                                 \
    using Owner_ = Owner;                                                                \
    return std::tuple_cat(LIST(FUSEDOPT_OPTION_FIELD_, FUSEDOPT_PAIR_FIELD_) std::tuple<>()); \
  }                                                                                      \
  FUSEDOPT_OPTIONS_COMMON(Self)

#define FUSEDOPT_OPTION_MEMBER_(T, name, default_value, rule) \
  FUSEDOPT_OPTION(DeclaredSelf_, T, name, default_value)
#define FUSEDOPT_PAIR_MEMBER_(name, default_value, first, first_rule, second, second_rule) \
  FUSEDOPT_OPTION(DeclaredSelf_, ::fusedopt::Pair, name, default_value)
#define FUSEDOPT_OPTION_FIELD_(T, name, default_value, rule) \
  std::make_tuple(::fusedopt::Field<Owner_, T>{#name, &Owner_::name##_, ::fusedopt::Rule::rule}),
#define FUSEDOPT_PAIR_FIELD_(name, default_value, first, first_rule, second, second_rule)       \
  std::make_tuple(::fusedopt::Field<Owner_, ::fusedopt::Pair>{                                 \
      #name, &Owner_::name##_, ::fusedopt::Rule::first_rule, #first, #second,                 \
      ::fusedopt::Rule::second_rule}),

}  // namespace fusedopt
