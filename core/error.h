// Errors: every failure in the library is an exception that names the op and the shapes involved.
#pragma once
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <stdexcept>
#include <string>

namespace resa {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws resa::Error with a fmt-formatted message when `cond` is false.
#define RESA_CHECK(cond, ...)                                     \
  do {                                                            \
    if (!(cond)) throw ::resa::Error(::fmt::format(__VA_ARGS__)); \
  } while (0)

#define RESA_FAIL(...) throw ::resa::Error(::fmt::format(__VA_ARGS__))

}  // namespace resa
