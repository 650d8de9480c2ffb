// Augmentations against torchvision.transforms.functional (fixtures from tests/scripts/gen_augment.py),
// and the random versions checked statistically.
//
// Tolerances: against torchvision on float images (uint8 / 255): 1e-5 absolute (float32 rounding; our
// resize interpolates on the 0..255 scale and divides once). Against torchvision on uint8 images:
// at most 1 level of 255, because torchvision rounds (resize, blur) or truncates (blend, grayscale, hue)
// back to uint8 after each op while the C++ pipeline stays in float (1.5 for contrast, whose uint8 mean
// is taken over the truncated grayscale).
#include <cmath>
#include <set>

#include "resa/data/augment.h"
#include "test_util.h"

using namespace resa;
using namespace resa::data;

namespace {

Image fixture_image(const test::Fixture& fx) {
  Tensor x = fx.get("x", DType::UInt8);
  Image img;
  img.channels = x.size(0);
  img.height = x.size(1);
  img.width = x.size(2);
  img.layout = Layout::CHW;
  img.pixels = x.to_vector<uint8_t>();
  return img;
}

Image to_hwc(const Image& chw) {
  Image out = chw;
  out.layout = Layout::HWC;
  for (int64_t c = 0; c < chw.channels; ++c)
    for (int64_t y = 0; y < chw.height; ++y)
      for (int64_t x = 0; x < chw.width; ++x) out.pixels[(y * chw.width + x) * chw.channels + c] = chw.at(c, y, x);
  return out;
}

std::vector<float> as_float(const Image& img) {
  std::vector<float> v(img.pixels.size());
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(img.pixels[i]) / 255.0f;
  return v;
}

double max_abs(const std::vector<float>& a, const std::vector<double>& b, double scale = 1.0) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] * scale - b[i]));
  return m;
}

}  // namespace

TEST_CASE("resized_crop matches torchvision (bilinear and bicubic, CHW and HWC sources)") {
  auto fx = test::load_fixture("augment_resize");
  Image chw = fixture_image(fx), hwc = to_hwc(chw);
  for (const auto& c : fx.meta["resize"]) {
    std::string name = c["name"];
    CropBox box{c["box"][0], c["box"][1], c["box"][2], c["box"][3]};
    int64_t oh = c["out"][0], ow = c["out"][1];
    Interp interp = c["interp"] == "bicubic" ? Interp::Bicubic : Interp::Bilinear;
    for (const Image* src : {&chw, &hwc}) {
      std::vector<float> out(static_cast<size_t>(3 * oh * ow));
      resized_crop(*src, box, oh, ow, interp, out.data());
      INFO(name << (src == &chw ? " CHW" : " HWC"));
      CHECK(max_abs(out, fx.get(name + "_f", DType::Float64).to_vector<double>()) <= 1e-5);
      CHECK(max_abs(out, fx.get(name + "_u8", DType::Float64).to_vector<double>(), 255.0) <= 1.0);
    }
  }
}

TEST_CASE("resized_crop rejects a box outside the image") {
  Image img;
  img.channels = 1;
  img.height = 4;
  img.width = 5;
  img.pixels.assign(20, 0);
  std::vector<float> out(16);
  RESA_CHECK_THROWS_WITH_SUBSTR(resized_crop(img, CropBox{1, 1, 4, 2}, 4, 4, Interp::Bilinear, out.data()),
                                "not inside an image of 4 x 5");
}

TEST_CASE("colour and geometry ops match torchvision") {
  auto fx = test::load_fixture("augment_color");
  Image img = fixture_image(fx);
  const int64_t C = img.channels, H = img.height, W = img.width;
  struct Op {
    std::string name;
    std::function<void(float*)> fn;
    double tol_f;
  };
  std::vector<Op> ops = {
      {"hflip", [&](float* p) { hflip(p, C, H, W); }, 0},
      {"brightness_1.3", [&](float* p) { adjust_brightness(p, C, H, W, 1.3); }, 1e-6},
      {"brightness_0.6", [&](float* p) { adjust_brightness(p, C, H, W, 0.6); }, 1e-6},
      {"contrast_1.35", [&](float* p) { adjust_contrast(p, C, H, W, 1.35); }, 1e-5},
      {"contrast_0.62", [&](float* p) { adjust_contrast(p, C, H, W, 0.62); }, 1e-5},
      {"saturation_1.2", [&](float* p) { adjust_saturation(p, C, H, W, 1.2); }, 1e-5},
      {"saturation_0.0", [&](float* p) { adjust_saturation(p, C, H, W, 0.0); }, 1e-5},
      {"saturation_0.8", [&](float* p) { adjust_saturation(p, C, H, W, 0.8); }, 1e-5},
      {"hue_0.1", [&](float* p) { adjust_hue(p, C, H, W, 0.1); }, 1e-5},
      {"hue_-0.07", [&](float* p) { adjust_hue(p, C, H, W, -0.07); }, 1e-5},
      {"hue_0.5", [&](float* p) { adjust_hue(p, C, H, W, 0.5); }, 1e-5},
      {"gray", [&](float* p) { rgb_to_grayscale(p, C, H, W); }, 1e-6},
      {"solarize", [&](float* p) { solarize(p, C, H, W, 128.0f / 255.0f); }, 0},
      {"blur_3_0.7", [&](float* p) { gaussian_blur(p, C, H, W, 3, 0.7); }, 1e-5},
      {"blur_5_1.5", [&](float* p) { gaussian_blur(p, C, H, W, 5, 1.5); }, 1e-5},
  };
  for (const auto& op : ops) {
    INFO(op.name);
    auto v = as_float(img);
    op.fn(v.data());
    CHECK(max_abs(v, fx.get(op.name + "_f", DType::Float64).to_vector<double>()) <= op.tol_f + 1e-7);
    // uint8 contrast also takes the mean of the *truncated* uint8 grayscale, up to 1 level lower: 1.5.
    double tol_u8 = op.name.rfind("contrast", 0) == 0 ? 1.5 : 1.0 + 1e-4;
    CHECK(max_abs(v, fx.get(op.name + "_u8", DType::Float64).to_vector<double>(), 255.0) <= tol_u8);
  }
  auto v = as_float(img);
  std::vector<float> mean, sd;
  for (auto m : fx.meta["mean"]) mean.push_back(m.get<float>());
  for (auto s : fx.meta["std"]) sd.push_back(s.get<float>());
  normalize(v.data(), C, H, W, mean, sd);
  CHECK(max_abs(v, fx.get("normalize_f", DType::Float64).to_vector<double>()) <= 1e-5);
}

TEST_CASE("bad augmentation arguments are rejected with the op's name") {
  std::vector<float> v(3 * 4 * 4, 0.5f);
  RESA_CHECK_THROWS_WITH_SUBSTR(adjust_hue(v.data(), 3, 4, 4, 0.7), "[adjust_hue]");
  RESA_CHECK_THROWS_WITH_SUBSTR(adjust_brightness(v.data(), 3, 4, 4, -1), "[adjust_brightness]");
  RESA_CHECK_THROWS_WITH_SUBSTR(gaussian_blur(v.data(), 3, 4, 4, 4, 1.0), "must be odd");
  RESA_CHECK_THROWS_WITH_SUBSTR(normalize(v.data(), 3, 4, 4, {0.5f}, {0.5f}), "[normalize]");
}

TEST_CASE("RandomResizedCrop sampling: area distribution as torchvision's, boxes inside, ratio in range") {
  auto fx = test::load_fixture("augment_crop_stats");
  for (auto [h, w] : std::vector<std::pair<int64_t, int64_t>>{{32, 32}, {20, 40}}) {
    auto st = fx.meta[fmt::format("{}x{}", h, w)];
    double ref_mean = st["mean_area"], ref_std = st["std_area"];
    const int n = 20000;
    double sum = 0;
    for (int k = 0; k < n; ++k) {
      Generator g = view_generator(11, 0, k, 0);
      CropBox b = sample_resized_crop(g, h, w, {0.2, 1.0}, {3.0 / 4, 4.0 / 3});
      REQUIRE(b.top >= 0);
      REQUIRE(b.left >= 0);
      REQUIRE(b.top + b.height <= h);
      REQUIRE(b.left + b.width <= w);
      double ar = static_cast<double>(b.width) / static_cast<double>(b.height);
      // Rounding w and h to integers can move the ratio a little outside [3/4, 4/3].
      CHECK(ar >= 0.75 * 0.85);
      CHECK(ar <= 4.0 / 3 / 0.85);
      sum += static_cast<double>(b.height * b.width) / static_cast<double>(h * w);
    }
    double mean = sum / n;
    // Both means come from n draws: the difference has std ref_std * sqrt(2 / n); allow 5 sigma.
    double tol = 5 * ref_std * std::sqrt(2.0 / n);
    INFO(h << "x" << w << " mean " << mean << " torchvision " << ref_mean << " tol " << tol);
    CHECK(std::abs(mean - ref_mean) <= tol);
  }
}

TEST_CASE("RandomResizedCrop fallback: center crop with the ratio clamped") {
  // A 10 x 100 image: no (scale, ratio) draw fits, so every sample takes the fallback: h = 10,
  // w = round(10 * 4/3) = 13, centered.
  for (int k = 0; k < 50; ++k) {
    Generator g(k);
    CropBox b = sample_resized_crop(g, 10, 100, {0.2, 1.0}, {3.0 / 4, 4.0 / 3});
    CHECK(b.height == 10);
    CHECK(b.width == 13);
    CHECK(b.top == 0);
    CHECK(b.left == (100 - 13) / 2);
  }
}

TEST_CASE("random views: application rates within 5 sigma, jitter factors in range") {
  Image img;
  img.channels = 3;
  img.height = 12;
  img.width = 12;
  img.layout = Layout::HWC;
  img.pixels.resize(3 * 144);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>((i * 37) % 256);
  ViewConfig strong = ViewConfig::strong(8);
  const int n = 6000;
  int flips = 0, jit = 0, gray = 0, sol = 0;
  int first_op[4] = {0, 0, 0, 0};
  double bsum = 0, hsum = 0;
  std::vector<float> out(3 * 64);
  for (int k = 0; k < n; ++k) {
    Generator g = view_generator(3, 1, k, 1);
    ViewRecord r = apply_view(img, strong, g, out.data());
    flips += r.flipped;
    gray += r.gray;
    sol += r.solarized;
    if (r.jittered) {
      ++jit;
      std::set<int> ops(r.jitter.order.begin(), r.jitter.order.end());
      CHECK(ops.size() == 4);
      first_op[r.jitter.order[0]]++;
      CHECK(r.jitter.brightness >= 0.6);
      CHECK(r.jitter.brightness <= 1.4);
      CHECK(r.jitter.contrast >= 0.6);
      CHECK(r.jitter.contrast <= 1.4);
      CHECK(r.jitter.saturation >= 0.8);
      CHECK(r.jitter.saturation <= 1.2);
      CHECK(std::abs(r.jitter.hue) <= 0.1);
      bsum += r.jitter.brightness;
      hsum += r.jitter.hue;
    }
    for (float v : out) {
      REQUIRE(v >= 0.0f);
      REQUIRE(v <= 1.0f);
    }
  }
  auto within = [&](int count, int trials, double p) {
    double sigma = std::sqrt(p * (1 - p) / trials);
    double rate = static_cast<double>(count) / trials;
    INFO("rate " << rate << " expected " << p << " sigma " << sigma);
    CHECK(std::abs(rate - p) <= 5 * sigma);
  };
  within(flips, n, 0.5);
  within(jit, n, 0.8);
  within(gray, n, 0.2);
  within(sol, n, 0.2);
  for (int op = 0; op < 4; ++op) within(first_op[op], jit, 0.25);
  // Uniform on [0.6, 1.4]: mean 1, std 0.8 / sqrt(12); hue uniform on [-0.1, 0.1]: mean 0.
  CHECK(std::abs(bsum / jit - 1.0) <= 5 * 0.8 / std::sqrt(12.0 * jit));
  CHECK(std::abs(hsum / jit) <= 5 * 0.2 / std::sqrt(12.0 * jit));
}

TEST_CASE("a random view is the fixed-parameter ops applied with the recorded parameters") {
  Image img;
  img.channels = 3;
  img.height = 15;
  img.width = 17;
  img.layout = Layout::CHW;
  img.pixels.resize(3 * 15 * 17);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>((i * 91 + 7) % 256);
  ViewConfig cfg = ViewConfig::strong(9).blur(0.5, 3).normalize(kCifar10Mean, kCifar10Std);
  int checked_all = 0;
  for (int k = 0; k < 1500; ++k) {
    Generator g = view_generator(5, 2, k, 0);
    std::vector<float> a(3 * 81), b(3 * 81);
    ViewRecord r = apply_view(img, cfg, g, a.data());
    resized_crop(img, r.box, 9, 9, Interp::Bicubic, b.data());
    if (r.flipped) hflip(b.data(), 3, 9, 9);
    if (r.jittered) apply_jitter(b.data(), 3, 9, 9, r.jitter);
    if (r.gray) rgb_to_grayscale(b.data(), 3, 9, 9);
    if (r.blurred) gaussian_blur(b.data(), 3, 9, 9, 3, r.sigma);
    if (r.solarized) solarize(b.data(), 3, 9, 9, 128.0f / 255.0f);
    normalize(b.data(), 3, 9, 9, kCifar10Mean, kCifar10Std);
    REQUIRE(a == b);
    checked_all += r.flipped && r.jittered && r.gray && r.blurred && r.solarized;
  }
  CHECK(checked_all > 0);
}

TEST_CASE("multi_crop appends local views of the asked size and scale") {
  auto v = multi_crop({ViewConfig::weak(32), ViewConfig::strong(32)}, 4, 16, {0.05, 0.3});
  REQUIRE(v.size() == 6);
  CHECK(v[1].interp_ == Interp::Bicubic);
  CHECK(v[3].size_ == 16);
  CHECK(v[5].scale_[1] == 0.3);
}
