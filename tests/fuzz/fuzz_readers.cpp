// Feeds arbitrary bytes to the CIFAR and IDX parsers (and gunzip through IDX). The first byte picks the
// parser; any input must either parse or throw resa::Error, never read out of bounds or crash.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "resa/data/dataset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t which = data[0] % 4;
  const uint8_t* p = data + 1;
  const size_t n = size - 1;
  try {
    if (which == 3) {
      auto a = resa::data::parse_idx(p, n, "fuzz.idx");
      // Touch every element the header claims, so a short buffer would be caught by ASan.
      size_t total = 1;
      for (auto d : a.dims) total *= static_cast<size_t>(d);
      volatile uint8_t sink = 0;
      for (size_t i = 0; i < total; ++i) sink ^= a.data[i];
      (void)sink;
    } else {
      auto kind = which == 0   ? resa::data::CifarKind::Cifar10
                  : which == 1 ? resa::data::CifarKind::Cifar100Fine
                               : resa::data::CifarKind::Cifar100Coarse;
      std::vector<uint8_t> pixels;
      std::vector<int64_t> labels;
      resa::data::parse_cifar(p, n, kind, "fuzz.bin", pixels, labels);
      if (pixels.size() != labels.size() * 3072) __builtin_trap();
    }
  } catch (const resa::Error&) {
  }
  return 0;
}
