// Options structs: each option is written once, with its type and default, and gets a chained setter, so
// that `ResNetOptions().arch("resnet50").width_multiplier(0.5)` reads as a sentence.
//
//   struct ResNetOptions {
//     RESA_OPTION(std::string, arch, "resnet18");  // declares `std::string arch_ = "resnet18";`
//     RESA_FLAG(zero_init_residual, false);        // declares `bool zero_init_residual_ = false;`
//   };
//
// The field keeps its trailing underscore (`opts.arch_`), the setter is the plain name (`opts.arch("x")`);
// a flag's setter defaults to true (`.zero_init_residual()`). A setter that takes something other than the
// field's type (two numbers for a range, say) is written by hand with `set_field`.
#pragma once
#include <utility>

#define RESA_OPTION(T, name, ...)       \
  T name##_ = __VA_ARGS__;              \
  auto name(T value)->decltype(*this) { \
    name##_ = std::move(value);         \
    return *this;                       \
  }                                     \
  static_assert(true, "needs a semicolon")

#define RESA_FLAG(name, default_value)            \
  bool name##_ = default_value;                   \
  auto name(bool value = true)->decltype(*this) { \
    name##_ = value;                              \
    return *this;                                 \
  }                                               \
  static_assert(true, "needs a semicolon")

namespace resa {

// The body of a hand-written setter: assigns and returns the struct for the next call in the chain.
template <typename Self, typename Field, typename Value = Field>
Self& set_field(Self& self, Field& field, Value&& value) {
  field = std::forward<Value>(value);
  return self;
}

}  // namespace resa
