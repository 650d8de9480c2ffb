// Checkpoints: named tensors (models' state, optimizers' state) and run metadata in one safetensors
// file. Saving writes "<path>.tmp", fsyncs it and renames it over <path>, so a crash mid-save leaves the
// previous checkpoint intact; loading a corrupt or truncated file throws naming the file and the problem.
#pragma once
#include <map>
#include <string>

#include "resa/nn/module.h"

namespace resa::nn {

struct Checkpoint {
  std::map<std::string, Tensor> tensors;  // e.g. "model.layer1.0.conv1.weight", "optim.0.3.momentum_buffer"
  int64_t epoch = 0;
  int64_t step = 0;
  uint64_t rng_seed = 0, rng_offset = 0;     // core/rng.h Generator state
  std::string config = "{}";                 // the run configuration as a JSON string
  std::map<std::string, std::string> extra;  // any other string metadata

  // Adds every entry of `state` under "<prefix>.<name>".
  void put(const std::string& prefix, const std::map<std::string, Tensor>& state);
  // The entries under "<prefix>." with the prefix removed.
  std::map<std::string, Tensor> get(const std::string& prefix) const;
};

void save_checkpoint(const std::string& path, const Checkpoint& ckpt);
Checkpoint load_checkpoint(const std::string& path);

// Writes bytes to "<path>.tmp", fsyncs, renames over <path> and fsyncs the directory.
void atomic_write_file(const std::string& path, const std::vector<uint8_t>& bytes);

// An encoder's state_dict alone, keys as torchvision's (loads with strict=True into the matching
// torchvision model), float32 on the CPU; metadata may describe the architecture.
void save_state_dict(const std::string& path, const Module& m, const std::map<std::string, std::string>& metadata = {});
// Loads a file written by save_state_dict (or by PyTorch) into `m` (strict by default).
void load_state_dict_file(const std::string& path, Module& m, bool strict = true);

}  // namespace resa::nn
