// A trained encoder, ready to use: the one header a C++ tool includes to turn images into features.
//
//   auto enc = resa::Encoder::load("runs/fashion_mnist_resa/encoder.safetensors");   // or Device cuda
//   resa::Tensor h = enc.embed(images);        // (N, C, S, S) floats in [0, 1] -> (N, d) features
//   resa::Tensor g = enc.embed_hwc(pixels, n, height, width, channels);   // raw uint8 HWC, any size
//
// The file holds the weights (torchvision names) and, in its metadata, everything else the encoder
// needs: architecture, input channels, stem padding, image size and the normalisation of training
// (encoder_metadata() writes it; resa_cifar saves it with every encoder). Inputs are prepared exactly as
// the trainer prepares its evaluation images (resa/eval/features.h: channels converted, resized
// bilinearly to the image size, normalised), so embed() of a dataset equals the trainer's features.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "resa/core/tensor.h"
#include "resa/data/dataset.h"
#include "resa/nn/resnet.h"

namespace resa {

struct EncoderInfo {
  std::string arch;                    // resnet18 | resnet34 | resnet50 | resnet_small
  int64_t in_channels = 0;             // 1 (grayscale) or 3 (RGB)
  int64_t width = 0;                   // channels of the stem
  int64_t stem_padding = 1;            // the CIFAR stem conv's padding
  int64_t image_size = 0;              // inputs are resized to image_size x image_size
  std::vector<float> mean, std;        // per channel, on pixels / 255
  std::string role;                    // "teacher" | "online" | "" (unknown)
  std::vector<std::string> defaulted;  // the metadata keys the file lacked, filled with defaults
};

// The metadata a file needs so that Encoder::load can rebuild and feed the encoder.
std::map<std::string, std::string> encoder_metadata(const EncoderInfo& info);

class Encoder {
 public:
  // Reads `path` (safetensors): rebuilds the ResNet from the metadata and the stem's weight shape and
  // loads the weights strictly. A file without "arch" is refused with a message that says so; a file
  // from an older run without image size or normalisation loads with defaults (28 / 32 pixels for
  // 1 / 3 channels, the Fashion-MNIST / CIFAR-10 statistics), listed in info().defaulted and printed
  // to stderr once as a warning.
  static Encoder load(const std::string& path, Device device = kCPU);
  // An encoder already in memory with its description (e.g. the trainer's own).
  Encoder(std::shared_ptr<nn::ResNet> net, EncoderInfo info, Device device = kCPU);

  // images: (N, C, S, S) floats in [0, 1] on any device, C = in_channels, S = image_size -> (N, d) on
  // the CPU. Normalised here; run in eval mode, without gradients, in batches of `batch`.
  Tensor embed(const Tensor& images, int64_t batch = 256) const;
  // n raw images of height x width x channels uint8 (HWC, rows contiguous), any size and 1, 3 or 4
  // channels (alpha dropped, gray <-> RGB converted to what the encoder takes) -> (n, d) on the CPU.
  Tensor embed_hwc(const uint8_t* pixels, int64_t n, int64_t height, int64_t width, int64_t channels,
                   int64_t batch = 256) const;
  // Decoded images of any size and layout -> (n, d).
  Tensor embed_images(const std::vector<data::Image>& images, int64_t batch = 256) const;
  // Every image of a dataset -> (N, d): the same numbers as the trainer's extract_features().
  Tensor embed(const data::Dataset& ds, int64_t batch = 256) const;

  const EncoderInfo& info() const { return info_; }
  int64_t feature_dim() const { return net_->feature_dim(); }
  Device device() const { return device_; }
  nn::ResNet& module() const { return *net_; }

 private:
  std::shared_ptr<nn::ResNet> net_;
  EncoderInfo info_;
  Device device_;
};

// Every PNG / JPEG (by extension, any case) under `dir`, recursively, embedded by `encoder`, in path
// order. A file that cannot be decoded is skipped and listed with the reason; nothing else stops the
// walk. `progress(done, total)` is called after each batch.
struct FolderEmbedding {
  std::vector<std::string> files;                            // relative to dir, '/'-separated
  Tensor features;                                           // (files.size(), d) float32
  std::vector<std::pair<std::string, std::string>> skipped;  // file, why
};
FolderEmbedding embed_folder(const Encoder& encoder, const std::string& dir, int64_t batch = 256,
                             const std::function<void(int64_t, int64_t)>& progress = {});

// The k rows of `features` (N, d) most similar to `query` (d) by cosine similarity, best first, as
// (row, similarity); rows equal to `exclude` (e.g. the query's own row) are left out.
std::vector<std::pair<int64_t, double>> nearest_cosine(const Tensor& features, const Tensor& query, int64_t k,
                                                       int64_t exclude = -1);

}  // namespace resa
