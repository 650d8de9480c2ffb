// Reads the JSON fixtures written by tests/scripts/fixture_io.py (reference values from PyTorch).
#pragma once
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "resa/core/tensor.h"

namespace resa::test {

struct Fixture {
  nlohmann::json meta;
  std::map<std::string, Tensor> tensors;
  // The tensor `name`, converted to `dtype` (fixtures store exact float64 values).
  Tensor get(const std::string& name, DType dtype = DType::Float32) const {
    auto it = tensors.find(name);
    RESA_CHECK(it != tensors.end(), "[fixture] no tensor '{}'", name);
    return it->second.to(dtype);
  }
};

inline Fixture load_fixture(const std::string& name) {
  std::string path = std::string(RESA_TEST_DATA) + "/" + name + ".json";
  std::ifstream f(path);
  RESA_CHECK(f.good(), "[fixture] cannot open {} (regenerate with tests/scripts/gen_*.py)", path);
  nlohmann::json j = nlohmann::json::parse(f);
  Fixture fx;
  fx.meta = j["meta"];
  for (auto& [key, v] : j["tensors"].items()) {
    Shape shape = v["shape"].get<Shape>();
    std::string dt = v["dtype"];
    if (dt == "int64") {
      auto data = v["data"].get<std::vector<int64_t>>();
      fx.tensors[key] = from_vector<int64_t>(data, shape);
    } else if (dt == "uint8") {
      auto data = v["data"].get<std::vector<uint8_t>>();
      fx.tensors[key] = from_vector<uint8_t>(data, shape);
    } else {
      auto data = v["data"].get<std::vector<double>>();
      fx.tensors[key] = from_vector<double>(data, shape);
    }
  }
  return fx;
}

}  // namespace resa::test
