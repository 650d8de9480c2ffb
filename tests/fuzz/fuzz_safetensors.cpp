// libFuzzer entry: the in-memory safetensors reader must either parse or throw resa::Error, never
// crash or read out of bounds; whatever parses must serialize and parse back to the same tensors.
#include <cstring>

#include "resa/nn/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto st = resa::nn::parse_safetensors(data, size, "<fuzz>");
    auto bytes = resa::nn::serialize_safetensors(st.tensors, st.metadata);
    auto again = resa::nn::parse_safetensors(bytes.data(), bytes.size(), "<fuzz-roundtrip>");
    if (again.tensors.size() != st.tensors.size() || again.metadata != st.metadata) __builtin_trap();
    for (auto& [k, t] : st.tensors) {
      auto& u = again.tensors.at(k);
      if (u.shape() != t.shape() || u.dtype() != t.dtype() ||
          (t.nbytes() > 0 && std::memcmp(u.raw_data(), t.raw_data(), t.nbytes()) != 0))
        __builtin_trap();
    }
  } catch (const resa::Error&) {
  }
  return 0;
}
