// Augmentations for self-supervised views, following torchvision's semantics (the tensor path of
// torchvision.transforms.functional on float images in [0, 1]).
//
// Each augmentation is a fixed-parameter kernel (crop box, factor, flag) over a float (C, H, W) image in
// [0, 1], and a random version that draws the parameters from a Generator the way torchvision's
// transform classes do, then calls the kernel. A view (ViewConfig) chains them in the order of the
// official ReSA CIFAR recipe:
//   RandomResizedCrop -> RandomHorizontalFlip -> RandomApply(ColorJitter, p) -> RandomGrayscale
//   -> GaussianBlur (off by default) -> RandomSolarize -> Normalize
//
// Differences from torchvision (see tests/test_augment.cpp for the measured tolerances):
// - Resize is torch.nn.functional.interpolate without antialias (torchvision's tensor path with
//   antialias=False): bilinear, or bicubic with a = -0.75 and replicated borders. PIL's resize (the path
//   of a PIL image) antialiases when it shrinks and uses a = -0.5 for bicubic; when enlarging, its bilinear
//   equals ours. For CIFAR-sized RandomResizedCrop (crop <= image, output = image size) resize always
//   enlarges, so only bicubic differs from PIL there.
// - The pipeline stays in float between steps; torchvision on uint8 images rounds/truncates after every
//   step, so results differ from a uint8 pipeline by about 1/255 per step.
// - Bicubic output is clamped to [0, 1] (as uint8/PIL output is); torch's float interpolate is not.
// - Grayscale uses torchvision's tensor weights 0.2989, 0.587, 0.114 (PIL: 299/1000, 587/1000, 114/1000).
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "resa/core/rng.h"
#include "resa/data/dataset.h"

namespace resa::data {

enum class Interp { Bilinear, Bicubic };

// A crop of the source image: rows [top, top + height), columns [left, left + width).
struct CropBox {
  int64_t top = 0, left = 0, height = 0, width = 0;
};

// ---- fixed-parameter kernels ----
// src: uint8 image (C, H, W) or (H, W, C) per img.layout; box inside it -> dst: (C, out_h, out_w) float in [0, 1].
void resized_crop(const Image& img, const CropBox& box, int64_t out_h, int64_t out_w, Interp interp, float* dst);
// img: (C, H, W) float, in place.
void hflip(float* img, int64_t c, int64_t h, int64_t w);
void adjust_brightness(float* img, int64_t c, int64_t h, int64_t w, double factor);
void adjust_contrast(float* img, int64_t c, int64_t h, int64_t w, double factor);
void adjust_saturation(float* img, int64_t c, int64_t h, int64_t w, double factor);
void adjust_hue(float* img, int64_t c, int64_t h, int64_t w, double hue_factor);  // hue_factor in [-0.5, 0.5]
// Replaces every channel with the luma (keeps C channels, as RandomGrayscale does).
void rgb_to_grayscale(float* img, int64_t c, int64_t h, int64_t w);
// x >= threshold -> 1 - x (threshold 128/255 is torchvision's 128 on uint8).
void solarize(float* img, int64_t c, int64_t h, int64_t w, float threshold);
// Separable Gaussian blur with reflect padding (torchvision gaussian_blur); ksize odd.
void gaussian_blur(float* img, int64_t c, int64_t h, int64_t w, int64_t ksize, double sigma);
// x = (x - mean[c]) / std[c].
void normalize(float* img, int64_t c, int64_t h, int64_t w, const std::vector<float>& mean,
               const std::vector<float>& std);

// ---- parameter sampling (torchvision's get_params) ----
// RandomResizedCrop: 10 tries of (scale, log-uniform ratio), then the center-crop fallback.
CropBox sample_resized_crop(Generator& g, int64_t height, int64_t width, std::array<double, 2> scale,
                            std::array<double, 2> ratio);

struct JitterParams {
  std::array<int, 4> order{0, 1, 2, 3};  // 0 brightness, 1 contrast, 2 saturation, 3 hue
  double brightness = 1, contrast = 1, saturation = 1, hue = 0;
};
struct JitterConfig {
  double brightness = 0.4, contrast = 0.4, saturation = 0.2, hue = 0.1;
};
// Random order (a permutation of the four) and factors uniform in [max(0, 1 - x), 1 + x], hue in [-h, h].
JitterParams sample_jitter(Generator& g, const JitterConfig& cfg);
void apply_jitter(float* img, int64_t c, int64_t h, int64_t w, const JitterParams& p);

// ---- views ----
struct ViewConfig {
  RESA_OPTION(int64_t, size, 32);
  std::array<double, 2> scale_{0.2, 1.0};
  std::array<double, 2> ratio_{3.0 / 4.0, 4.0 / 3.0};
  RESA_OPTION(Interp, interp, Interp::Bilinear);
  RESA_OPTION(double, flip_p, 0.5);
  double jitter_p_ = 0.0;
  JitterConfig jitter_{};
  RESA_OPTION(double, gray_p, 0.0);
  double blur_p_ = 0.0;
  int64_t blur_ksize_ = 3;
  std::array<double, 2> blur_sigma_{0.1, 2.0};
  double solarize_p_ = 0.0;
  float solarize_threshold_ = 128.0f / 255.0f;
  std::vector<float> mean_, std_;  // empty: no normalization

  ViewConfig& scale(double lo, double hi) { return set_field(*this, scale_, {lo, hi}); }
  ViewConfig& ratio(double lo, double hi) { return set_field(*this, ratio_, {lo, hi}); }
  ViewConfig& jitter(double p, JitterConfig j = {}) {
    jitter_p_ = p;
    jitter_ = j;
    return *this;
  }
  ViewConfig& blur(double p, int64_t ksize, double sigma_lo = 0.1, double sigma_hi = 2.0) {
    blur_p_ = p;
    blur_ksize_ = ksize;
    blur_sigma_ = {sigma_lo, sigma_hi};
    return *this;
  }
  ViewConfig& solarize_p(double p, float threshold = 128.0f / 255.0f) {
    solarize_p_ = p;
    solarize_threshold_ = threshold;
    return *this;
  }
  ViewConfig& normalize(std::vector<float> mean, std::vector<float> std) {
    mean_ = std::move(mean);
    std_ = std::move(std);
    return *this;
  }

  void validate(int64_t channels) const;

  // Crop + flip, bilinear.
  static ViewConfig weak(int64_t size);
  // Crop (bicubic) + flip + jitter(0.4, 0.4, 0.2, 0.1) with p 0.8 + grayscale p 0.2 + solarize p 0.2.
  static ViewConfig strong(int64_t size);
};

// Multi-crop: `global` views followed by n_local copies of a smaller view (size local_size, scale range).
std::vector<ViewConfig> multi_crop(const std::vector<ViewConfig>& global, int64_t n_local, int64_t local_size,
                                   std::array<double, 2> local_scale = {0.05, 0.2});

// What a random view did (for tests and debugging).
struct ViewRecord {
  CropBox box;
  bool flipped = false, jittered = false, gray = false, blurred = false, solarized = false;
  JitterParams jitter;
  double sigma = 0;
};

// Draws one view of img into dst: (C, size, size) float (normalized if the config says so).
ViewRecord apply_view(const Image& img, const ViewConfig& cfg, Generator& g, float* dst);

// The Generator of one sample's view: a key mixed from (seed, epoch, index, view), offset 0, so the
// draws do not depend on which thread or in which order the samples are processed.
Generator view_generator(uint64_t seed, int64_t epoch, int64_t index, int64_t view);

// Standard statistics (of pixels / 255) for Normalize.
inline const std::vector<float> kCifar10Mean{0.4914f, 0.4822f, 0.4465f};
inline const std::vector<float> kCifar10Std{0.2470f, 0.2435f, 0.2616f};
inline const std::vector<float> kCifar100Mean{0.5071f, 0.4865f, 0.4409f};
inline const std::vector<float> kCifar100Std{0.2673f, 0.2564f, 0.2762f};

}  // namespace resa::data
