// Where a tensor's bytes live.
#pragma once
#include <string>

#include "resa/core/error.h"

namespace resa {

enum class DeviceType : uint8_t { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  bool operator==(const Device&) const = default;
  std::string str() const { return is_cpu() ? "cpu" : fmt::format("cuda:{}", index); }

  // Parses "cpu", "cuda" or "cuda:N".
  static Device parse(const std::string& s);
};

inline Device kCPU{DeviceType::CPU, 0};
inline Device cuda_device(int index = 0) { return Device{DeviceType::CUDA, index}; }

// True when the library was built with the CUDA backend and a device is present.
bool cuda_available();
int cuda_device_count();

}  // namespace resa
