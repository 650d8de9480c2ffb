// The safetensors format (the one PyTorch users exchange weights in): an 8-byte little-endian header
// length N, N bytes of JSON {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
// "__metadata__": {"key": "value"}} padded with spaces to a multiple of 8, then the tensors' bytes in
// C order, packed with no holes or overlaps. Readers reject any malformed file with a message that
// names the file and the problem, and never read outside the buffer.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "resa/core/tensor.h"

namespace resa::nn {

struct SafetensorsData {
  std::map<std::string, Tensor> tensors;  // CPU, contiguous
  std::map<std::string, std::string> metadata;
};

// Headers larger than this are rejected (the reference implementation's limit).
inline constexpr uint64_t kSafetensorsMaxHeader = 100ull * 1000 * 1000;

// Parses a whole file held in memory; `name` appears in error messages (a path, or "<memory>").
SafetensorsData parse_safetensors(const uint8_t* data, size_t size, const std::string& name = "<memory>");
SafetensorsData load_safetensors(const std::string& path);

// The bytes of a file holding `tensors` (F32, F64, I64, U8; any device, any strides) and `metadata`.
std::vector<uint8_t> serialize_safetensors(const std::map<std::string, Tensor>& tensors,
                                           const std::map<std::string, std::string>& metadata = {});
// Writes the file directly (no temporary; see nn/io/checkpoint.h for the crash-safe variant).
void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// safetensors' dtype code for ours ("F32", ...), and back (throws for codes we do not hold).
std::string safetensors_dtype_code(DType t);

}  // namespace resa::nn
