// Frozen features for evaluation: a labelled split, un-augmented and normalised, through an encoder in
// eval mode. kNN, the linear probe and the clustering analysis all read features made here, so every
// evaluation sees the images the same way.
#pragma once
#include <cstdint>
#include <vector>

#include "resa/core/tensor.h"
#include "resa/data/dataset.h"
#include "resa/nn/module.h"

namespace resa {

// A labelled split ready for evaluation: the dataset and how to turn its images into network inputs.
struct EvalData {
  data::DatasetPtr train, test;
  std::vector<float> mean, std;
  int64_t image_size = 0;
};

// One image as an evaluation input: pixels / 255, resized bilinearly to size x size when it has another
// size, normalised with mean / std (one per channel; img must have that many channels). Writes
// (C, size, size) floats to dst. extract_features() and resa::Encoder both prepare images with it.
void image_to_input(const data::Image& img, int64_t size, const std::vector<float>& mean, const std::vector<float>& std,
                    float* dst);

// Encoder features (N, d) of images [0, n) of `ds`, un-augmented and normalised, in eval mode and
// batches of `batch`, on `device`. The result is on the CPU. The encoder's train/eval mode is restored.
Tensor extract_features(nn::Module& encoder, const data::Dataset& ds, const std::vector<float>& mean,
                        const std::vector<float>& std, int64_t image_size, Device device, int64_t batch = 256);
// The labels of every image of `ds`: int64 (N).
Tensor dataset_labels(const data::Dataset& ds);

}  // namespace resa
