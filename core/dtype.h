// Element types. float32 is the working type; float64 serves gradient checks; int64 holds labels and
// indices; uint8 holds raw image bytes from the data loader.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "resa/core/error.h"

namespace resa {

enum class DType : uint8_t { Float32, Float64, Int64, UInt8 };

inline constexpr size_t dtype_size(DType t) {
  switch (t) {
    case DType::Float32:
      return 4;
    case DType::Float64:
      return 8;
    case DType::Int64:
      return 8;
    case DType::UInt8:
      return 1;
  }
  return 0;
}

inline constexpr std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::Float32:
      return "float32";
    case DType::Float64:
      return "float64";
    case DType::Int64:
      return "int64";
    case DType::UInt8:
      return "uint8";
  }
  return "?";
}

inline constexpr bool is_floating(DType t) { return t == DType::Float32 || t == DType::Float64; }

template <typename T>
struct dtype_of;
template <>
struct dtype_of<float> {
  static constexpr DType value = DType::Float32;
};
template <>
struct dtype_of<double> {
  static constexpr DType value = DType::Float64;
};
template <>
struct dtype_of<int64_t> {
  static constexpr DType value = DType::Int64;
};
template <>
struct dtype_of<uint8_t> {
  static constexpr DType value = DType::UInt8;
};

// Calls f.template operator()<T>() with T the C++ type of a floating dtype; `op` names the caller in errors.
#define RESA_DISPATCH_FLOAT(dtype, op, ...)                                                                       \
  [&] {                                                                                                           \
    switch (dtype) {                                                                                              \
      case ::resa::DType::Float32: {                                                                              \
        using scalar_t = float;                                                                                   \
        return __VA_ARGS__();                                                                                     \
      }                                                                                                           \
      case ::resa::DType::Float64: {                                                                              \
        using scalar_t = double;                                                                                  \
        return __VA_ARGS__();                                                                                     \
      }                                                                                                           \
      default:                                                                                                    \
        RESA_FAIL("[{}] dtype {} is not supported (float32 or float64 expected)", op, ::resa::dtype_name(dtype)); \
    }                                                                                                             \
  }()

// As RESA_DISPATCH_FLOAT, for every dtype.
#define RESA_DISPATCH_ALL(dtype, op, ...) \
  [&] {                                   \
    switch (dtype) {                      \
      case ::resa::DType::Float32: {      \
        using scalar_t = float;           \
        return __VA_ARGS__();             \
      }                                   \
      case ::resa::DType::Float64: {      \
        using scalar_t = double;          \
        return __VA_ARGS__();             \
      }                                   \
      case ::resa::DType::Int64: {        \
        using scalar_t = int64_t;         \
        return __VA_ARGS__();             \
      }                                   \
      case ::resa::DType::UInt8: {        \
        using scalar_t = uint8_t;         \
        return __VA_ARGS__();             \
      }                                   \
    }                                     \
    RESA_FAIL("[{}] unknown dtype", op);  \
  }()

}  // namespace resa
