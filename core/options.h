// The one-line body of an options struct's chained setter:
//   ResNetOptions& arch(std::string v) { return set_field(*this, arch_, std::move(v)); }
// so that `ResNetOptions().arch("resnet18").width_multiplier(0.5)` reads as a sentence and each setter
// stays one line.
#pragma once
#include <utility>

namespace resa {

template <typename Self, typename Field, typename Value = Field>
Self& set_field(Self& self, Field& field, Value&& value) {
  field = std::forward<Value>(value);
  return self;
}

}  // namespace resa
