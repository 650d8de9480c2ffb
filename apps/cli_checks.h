// CLI11 validators shared by the apps, so that every flag is checked where it is parsed, with a message
// that names the flag and what it accepts ("--threads: value -3 must be >= 0").
#pragma once
#include <CLI/CLI.hpp>
#include <filesystem>
#include <string>

#include <fmt/format.h>

#include "resa/core/device.h"

namespace resa::app {

// A number >= lo.
inline CLI::Validator at_least(double lo) {
  return CLI::Validator(
      [lo](std::string& s) -> std::string {
        double v = 0;
        try {
          size_t used = 0;
          v = std::stod(s, &used);
          if (used != s.size()) return fmt::format("value '{}' is not a number", s);
        } catch (const std::exception&) {
          return fmt::format("value '{}' is not a number", s);
        }
        return v >= lo ? std::string() : fmt::format("value {} must be >= {}", s, lo);
      },
      fmt::format(">= {}", lo));
}

// cpu, cuda or cuda:N.
inline CLI::Validator device_name() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        try {
          Device::parse(s);
          return "";
        } catch (const std::exception&) {
          return fmt::format("'{}' must be cpu, cuda or cuda:N", s);
        }
      },
      "DEVICE");
}

// An existing regular file.
inline CLI::Validator existing_file() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        return std::filesystem::is_regular_file(s) ? std::string() : fmt::format("'{}' is not a file", s);
      },
      "FILE");
}

}  // namespace resa::app
