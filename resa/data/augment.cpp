#include "resa/data/augment.h"

#include <algorithm>
#include <cmath>

namespace resa::data {

namespace {

inline float clamp01(float v) { return v < 0.f ? 0.f : (v > 1.f ? 1.f : v); }

// Taps of one output coordinate along one axis (torch.nn.functional.interpolate, align_corners=False).
struct Taps {
  int64_t idx[4];
  float w[4];
  int n;
};

inline double cubic1(double x, double a) { return ((a + 2) * x - (a + 3)) * x * x + 1; }
inline double cubic2(double x, double a) { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a; }

// in_size source pixels -> out_size outputs; indices are relative to the crop start.
std::vector<Taps> make_taps(int64_t in_size, int64_t out_size, Interp interp) {
  std::vector<Taps> taps(static_cast<size_t>(out_size));
  // torch computes the scale as in/out in float (area_pixel_compute_scale) for align_corners=False.
  const float scale = static_cast<float>(in_size) / static_cast<float>(out_size);
  for (int64_t o = 0; o < out_size; ++o) {
    Taps& t = taps[static_cast<size_t>(o)];
    float src = scale * (static_cast<float>(o) + 0.5f) - 0.5f;
    if (interp == Interp::Bilinear) {
      if (src < 0) src = 0;
      auto i0 = static_cast<int64_t>(src);
      float l1 = src - static_cast<float>(i0);
      int64_t i1 = i0 < in_size - 1 ? i0 + 1 : i0;
      t.n = 2;
      t.idx[0] = i0;
      t.idx[1] = i1;
      t.w[0] = 1.f - l1;
      t.w[1] = l1;
    } else {
      float fl = std::floor(src);
      auto i0 = static_cast<int64_t>(fl);
      double x = src - fl;
      const double a = -0.75;
      double c[4] = {cubic2(x + 1, a), cubic1(x, a), cubic1(1 - x, a), cubic2(2 - x, a)};
      t.n = 4;
      for (int k = 0; k < 4; ++k) {
        t.idx[k] = std::clamp<int64_t>(i0 - 1 + k, 0, in_size - 1);
        t.w[k] = static_cast<float>(c[k]);
      }
    }
  }
  return taps;
}

inline float luma(float r, float g, float b) { return 0.2989f * r + 0.587f * g + 0.114f * b; }

}  // namespace

// img: uint8 (C, H, W) or (H, W, C), box inside -> dst: (C, out_h, out_w) float in [0, 1]
void resized_crop(const Image& img, const CropBox& box, int64_t out_h, int64_t out_w, Interp interp, float* dst) {
  RESA_CHECK(box.height > 0 && box.width > 0 && box.top >= 0 && box.left >= 0 && box.top + box.height <= img.height &&
                 box.left + box.width <= img.width,
             "[resized_crop] box (top {}, left {}, {} x {}) is not inside an image of {} x {}", box.top, box.left,
             box.height, box.width, img.height, img.width);
  RESA_CHECK(out_h > 0 && out_w > 0, "[resized_crop] output size {} x {} must be positive", out_h, out_w);
  RESA_CHECK(img.pixels.size() == static_cast<size_t>(img.channels * img.height * img.width),
             "[resized_crop] image has {} bytes for ({}, {}, {})", img.pixels.size(), img.channels, img.height,
             img.width);
  const int64_t C = img.channels, H = img.height, W = img.width;
  auto tx = make_taps(box.width, out_w, interp);
  auto ty = make_taps(box.height, out_h, interp);
  // Horizontal pass over the crop's rows: tmp (C, box.height, out_w), still on the 0..255 scale.
  thread_local std::vector<float> tmp;
  tmp.resize(static_cast<size_t>(C * box.height * out_w));
  const uint8_t* px = img.pixels.data();
  const int nt = interp == Interp::Bilinear ? 2 : 4;
  // Element stride between neighbouring columns, and the address of (c, y, 0) of the crop.
  const int64_t xs = img.layout == Layout::CHW ? 1 : C;
  for (int64_t c = 0; c < C; ++c)
    for (int64_t y = 0; y < box.height; ++y) {
      const uint8_t* row = img.layout == Layout::CHW ? px + (c * H + box.top + y) * W + box.left
                                                     : px + ((box.top + y) * W + box.left) * C + c;
      float* o = tmp.data() + (c * box.height + y) * out_w;
      if (nt == 2) {
        for (int64_t x = 0; x < out_w; ++x) {
          const Taps& t = tx[static_cast<size_t>(x)];
          o[x] = t.w[0] * static_cast<float>(row[t.idx[0] * xs]) + t.w[1] * static_cast<float>(row[t.idx[1] * xs]);
        }
      } else {
        for (int64_t x = 0; x < out_w; ++x) {
          const Taps& t = tx[static_cast<size_t>(x)];
          o[x] = t.w[0] * static_cast<float>(row[t.idx[0] * xs]) + t.w[1] * static_cast<float>(row[t.idx[1] * xs]) +
                 t.w[2] * static_cast<float>(row[t.idx[2] * xs]) + t.w[3] * static_cast<float>(row[t.idx[3] * xs]);
        }
      }
    }
  // Vertical pass: each output row is a weighted sum of nt rows of tmp (vectorizes over x).
  const float inv = 1.0f / 255.0f;
  const bool clamp = interp == Interp::Bicubic;
  for (int64_t c = 0; c < C; ++c)
    for (int64_t y = 0; y < out_h; ++y) {
      const Taps& t = ty[static_cast<size_t>(y)];
      float* o = dst + (c * out_h + y) * out_w;
      const float* base = tmp.data() + c * box.height * out_w;
      const float* r0 = base + t.idx[0] * out_w;
      const float* r1 = base + t.idx[1] * out_w;
      const float w0 = t.w[0] * inv, w1 = t.w[1] * inv;
      if (nt == 2) {
        for (int64_t x = 0; x < out_w; ++x) o[x] = w0 * r0[x] + w1 * r1[x];
      } else {
        const float* r2 = base + t.idx[2] * out_w;
        const float* r3 = base + t.idx[3] * out_w;
        const float w2 = t.w[2] * inv, w3 = t.w[3] * inv;
        for (int64_t x = 0; x < out_w; ++x) o[x] = w0 * r0[x] + w1 * r1[x] + w2 * r2[x] + w3 * r3[x];
        if (clamp)
          for (int64_t x = 0; x < out_w; ++x) o[x] = clamp01(o[x]);
      }
    }
}

// img: (C, H, W)
void hflip(float* img, int64_t c, int64_t h, int64_t w) {
  for (int64_t r = 0; r < c * h; ++r) std::reverse(img + r * w, img + (r + 1) * w);
}

// img: (C, H, W); torchvision _blend with a black image.
void adjust_brightness(float* img, int64_t c, int64_t h, int64_t w, double factor) {
  RESA_CHECK(factor >= 0, "[adjust_brightness] factor {} must be non-negative", factor);
  const float f = static_cast<float>(factor);
  for (int64_t i = 0; i < c * h * w; ++i) img[i] = clamp01(img[i] * f);
}

// img: (C, H, W); blends with the mean of the grayscale image.
void adjust_contrast(float* img, int64_t c, int64_t h, int64_t w, double factor) {
  RESA_CHECK(factor >= 0, "[adjust_contrast] factor {} must be non-negative", factor);
  RESA_CHECK(c == 1 || c == 3, "[adjust_contrast] expects 1 or 3 channels, got {}", c);
  const int64_t n = h * w;
  double sum = 0;
  if (c == 3) {
    for (int64_t i = 0; i < n; ++i) sum += luma(img[i], img[n + i], img[2 * n + i]);
  } else {
    for (int64_t i = 0; i < n; ++i) sum += img[i];
  }
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float f = static_cast<float>(factor), bias = (1.f - f) * mean;
  for (int64_t i = 0; i < c * n; ++i) img[i] = clamp01(f * img[i] + bias);
}

// img: (3, H, W); blends with the per-pixel grayscale. A 1-channel image is left as is (torchvision).
void adjust_saturation(float* img, int64_t c, int64_t h, int64_t w, double factor) {
  RESA_CHECK(factor >= 0, "[adjust_saturation] factor {} must be non-negative", factor);
  if (c == 1) return;
  RESA_CHECK(c == 3, "[adjust_saturation] expects 1 or 3 channels, got {}", c);
  const int64_t n = h * w;
  const float f = static_cast<float>(factor), g1 = 1.f - f;
  float *r = img, *g = img + n, *b = img + 2 * n;
  for (int64_t i = 0; i < n; ++i) {
    float l = g1 * luma(r[i], g[i], b[i]);
    r[i] = clamp01(f * r[i] + l);
    g[i] = clamp01(f * g[i] + l);
    b[i] = clamp01(f * b[i] + l);
  }
}

// img: (3, H, W); RGB -> HSV, shift hue, HSV -> RGB with torchvision's formulas.
void adjust_hue(float* img, int64_t c, int64_t h, int64_t w, double hue_factor) {
  RESA_CHECK(hue_factor >= -0.5 && hue_factor <= 0.5, "[adjust_hue] hue_factor {} is not in [-0.5, 0.5]", hue_factor);
  if (c == 1) return;
  RESA_CHECK(c == 3, "[adjust_hue] expects 1 or 3 channels, got {}", c);
  const int64_t n = h * w;
  const float hf = static_cast<float>(hue_factor);
  float *R = img, *G = img + n, *B = img + 2 * n;
  // Written without branches (selects only) so the compiler can vectorize it; same arithmetic as
  // torchvision's _rgb2hsv / _hsv2rgb.
  for (int64_t i = 0; i < n; ++i) {
    float r = R[i], g = G[i], b = B[i];
    float maxc = std::max(r, std::max(g, b)), minc = std::min(r, std::min(g, b));
    bool eqc = maxc == minc;
    float cr = maxc - minc;
    float s = cr / (eqc ? 1.f : maxc);
    float div = eqc ? 1.f : cr;
    float rc = (maxc - r) / div, gc = (maxc - g) / div, bc = (maxc - b) / div;
    float hh = maxc == r ? bc - gc : (maxc == g ? 2.f + rc - bc : 4.f + gc - rc);
    hh = hh / 6.f + 1.f;  // in [5/6, 2): torch.fmod(x, 1) is x - 1 from 1 on
    hh = hh >= 1.f ? hh - 1.f : hh;
    // torch's `%` (remainder) takes the sign of the divisor: bring hh + hf from [-0.5, 1.5) to [0, 1).
    hh = hh + hf;
    hh = hh < 0.f ? hh + 1.f : (hh >= 1.f ? hh - 1.f : hh);
    float v = maxc;
    int k = static_cast<int>(hh * 6.f);  // floor, as hh * 6 >= 0
    float f = hh * 6.f - static_cast<float>(k);
    k = k >= 6 ? k - 6 : k;
    float p = clamp01(v * (1.f - s)), q = clamp01(v * (1.f - s * f)), t = clamp01(v * (1.f - s * (1.f - f)));
    // (r, g, b) for k = 0..5: (v,t,p) (q,v,p) (p,v,t) (p,q,v) (t,p,v) (v,p,q)
    R[i] = (k == 0 || k == 5) ? v : (k == 1 ? q : (k == 4 ? t : p));
    G[i] = k == 0 ? t : ((k == 1 || k == 2) ? v : (k == 3 ? q : p));
    B[i] = (k == 0 || k == 1) ? p : (k == 2 ? t : (k == 5 ? q : v));
  }
}

// img: (C, H, W); every channel becomes the luma.
void rgb_to_grayscale(float* img, int64_t c, int64_t h, int64_t w) {
  if (c == 1) return;
  RESA_CHECK(c == 3, "[rgb_to_grayscale] expects 1 or 3 channels, got {}", c);
  const int64_t n = h * w;
  for (int64_t i = 0; i < n; ++i) {
    float l = luma(img[i], img[n + i], img[2 * n + i]);
    img[i] = img[n + i] = img[2 * n + i] = l;
  }
}

// img: (C, H, W)
void solarize(float* img, int64_t c, int64_t h, int64_t w, float threshold) {
  for (int64_t i = 0; i < c * h * w; ++i)
    if (img[i] >= threshold) img[i] = 1.f - img[i];
}

// img: (C, H, W); kernel exp(-x^2 / (2 sigma^2)) on x = -(k-1)/2 .. (k-1)/2, normalized; reflect padding.
void gaussian_blur(float* img, int64_t c, int64_t h, int64_t w, int64_t ksize, double sigma) {
  RESA_CHECK(ksize > 0 && ksize % 2 == 1, "[gaussian_blur] kernel size {} must be odd and positive", ksize);
  RESA_CHECK(sigma > 0, "[gaussian_blur] sigma {} must be positive", sigma);
  const int64_t r = ksize / 2;
  RESA_CHECK(r < h && r < w, "[gaussian_blur] kernel size {} needs an image larger than {} x {} (reflect padding)",
             ksize, h, w);
  std::vector<float> k(static_cast<size_t>(ksize));
  float sum = 0;
  for (int64_t i = 0; i < ksize; ++i) {
    float x = static_cast<float>(i - r);
    k[i] = std::exp(-0.5f * (x / static_cast<float>(sigma)) * (x / static_cast<float>(sigma)));
    sum += k[i];
  }
  for (auto& v : k) v /= sum;
  auto reflect = [](int64_t i, int64_t n) { return i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i); };
  std::vector<float> tmp(static_cast<size_t>(h * w));
  for (int64_t ch = 0; ch < c; ++ch) {
    float* p = img + ch * h * w;
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        float acc = 0;
        for (int64_t j = 0; j < ksize; ++j) acc += k[j] * p[y * w + reflect(x + j - r, w)];
        tmp[y * w + x] = acc;
      }
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        float acc = 0;
        for (int64_t j = 0; j < ksize; ++j) acc += k[j] * tmp[reflect(y + j - r, h) * w + x];
        p[y * w + x] = acc;
      }
  }
}

// img: (C, H, W)
void normalize(float* img, int64_t c, int64_t h, int64_t w, const std::vector<float>& mean,
               const std::vector<float>& std) {
  RESA_CHECK(static_cast<int64_t>(mean.size()) == c && static_cast<int64_t>(std.size()) == c,
             "[normalize] {} means and {} stds for an image of {} channels", mean.size(), std.size(), c);
  for (int64_t ch = 0; ch < c; ++ch) {
    RESA_CHECK(std[ch] > 0, "[normalize] std[{}] = {} must be positive", ch, std[ch]);
    const float m = mean[ch], inv = 1.f / std[ch];
    float* p = img + ch * h * w;
    for (int64_t i = 0; i < h * w; ++i) p[i] = (p[i] - m) * inv;
  }
}

CropBox sample_resized_crop(Generator& g, int64_t height, int64_t width, std::array<double, 2> scale,
                            std::array<double, 2> ratio) {
  RESA_CHECK(height > 0 && width > 0, "[random_resized_crop] image size {} x {} must be positive", height, width);
  RESA_CHECK(scale[0] <= scale[1] && ratio[0] <= ratio[1] && scale[0] > 0 && ratio[0] > 0,
             "[random_resized_crop] bad scale ({}, {}) or ratio ({}, {})", scale[0], scale[1], ratio[0], ratio[1]);
  const double area = static_cast<double>(height * width);
  const double lr0 = std::log(ratio[0]), lr1 = std::log(ratio[1]);
  for (int attempt = 0; attempt < 10; ++attempt) {
    double target = area * (scale[0] + (scale[1] - scale[0]) * g.uniform());
    double ar = std::exp(lr0 + (lr1 - lr0) * g.uniform());
    // Python's round() rounds halves to even, as nearbyint does in the default rounding mode.
    auto w = static_cast<int64_t>(std::nearbyint(std::sqrt(target * ar)));
    auto h = static_cast<int64_t>(std::nearbyint(std::sqrt(target / ar)));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      auto i = static_cast<int64_t>(g.randint(static_cast<uint64_t>(height - h + 1)));
      auto j = static_cast<int64_t>(g.randint(static_cast<uint64_t>(width - w + 1)));
      return {i, j, h, w};
    }
  }
  double in_ratio = static_cast<double>(width) / static_cast<double>(height);
  int64_t w, h;
  if (in_ratio < ratio[0]) {
    w = width;
    h = static_cast<int64_t>(std::nearbyint(static_cast<double>(w) / ratio[0]));
  } else if (in_ratio > ratio[1]) {
    h = height;
    w = static_cast<int64_t>(std::nearbyint(static_cast<double>(h) * ratio[1]));
  } else {
    w = width;
    h = height;
  }
  return {(height - h) / 2, (width - w) / 2, h, w};
}

JitterParams sample_jitter(Generator& g, const JitterConfig& cfg) {
  JitterParams p;
  for (int i = 3; i > 0; --i) std::swap(p.order[i], p.order[g.randint(static_cast<uint64_t>(i + 1))]);
  auto factor = [&](double x) {
    double lo = std::max(0.0, 1.0 - x), hi = 1.0 + x;
    return lo + (hi - lo) * g.uniform();
  };
  p.brightness = cfg.brightness > 0 ? factor(cfg.brightness) : 1.0;
  p.contrast = cfg.contrast > 0 ? factor(cfg.contrast) : 1.0;
  p.saturation = cfg.saturation > 0 ? factor(cfg.saturation) : 1.0;
  p.hue = cfg.hue > 0 ? -cfg.hue + 2 * cfg.hue * g.uniform() : 0.0;
  return p;
}

void apply_jitter(float* img, int64_t c, int64_t h, int64_t w, const JitterParams& p) {
  for (int op : p.order) {
    switch (op) {
      case 0:
        if (p.brightness != 1.0) adjust_brightness(img, c, h, w, p.brightness);
        break;
      case 1:
        if (p.contrast != 1.0) adjust_contrast(img, c, h, w, p.contrast);
        break;
      case 2:
        if (p.saturation != 1.0) adjust_saturation(img, c, h, w, p.saturation);
        break;
      default:
        if (p.hue != 0.0) adjust_hue(img, c, h, w, p.hue);
        break;
    }
  }
}

void ViewConfig::validate(int64_t channels) const {
  RESA_CHECK(size_ > 0, "[view] size {} must be positive", size_);
  RESA_CHECK(mean_.size() == std_.size(), "[view] {} means but {} stds", mean_.size(), std_.size());
  RESA_CHECK(mean_.empty() || static_cast<int64_t>(mean_.size()) == channels,
             "[view] normalization has {} channels, the images have {}", mean_.size(), channels);
  RESA_CHECK(blur_p_ == 0 || (blur_ksize_ % 2 == 1 && blur_ksize_ / 2 < size_),
             "[view] blur kernel {} must be odd and smaller than twice the view size {}", blur_ksize_, size_);
  for (double p : {flip_p_, jitter_p_, gray_p_, blur_p_, solarize_p_})
    RESA_CHECK(p >= 0 && p <= 1, "[view] probability {} is not in [0, 1]", p);
}

ViewConfig ViewConfig::weak(int64_t size) { return ViewConfig().size(size); }

ViewConfig ViewConfig::strong(int64_t size) {
  return ViewConfig().size(size).interp(Interp::Bicubic).jitter(0.8).gray_p(0.2).solarize_p(0.2);
}

std::vector<ViewConfig> multi_crop(const std::vector<ViewConfig>& global, int64_t n_local, int64_t local_size,
                                   std::array<double, 2> local_scale) {
  std::vector<ViewConfig> out = global;
  RESA_CHECK(!global.empty(), "[multi_crop] needs at least one global view");
  for (int64_t i = 0; i < n_local; ++i) {
    ViewConfig v = global[static_cast<size_t>(i) % global.size()];
    v.size(local_size).scale(local_scale[0], local_scale[1]);
    out.push_back(v);
  }
  return out;
}

ViewRecord apply_view(const Image& img, const ViewConfig& cfg, Generator& g, float* dst) {
  ViewRecord rec;
  const int64_t C = img.channels, S = cfg.size_;
  rec.box = sample_resized_crop(g, img.height, img.width, cfg.scale_, cfg.ratio_);
  resized_crop(img, rec.box, S, S, cfg.interp_, dst);
  // A step with probability 0 draws nothing, so turning it off leaves the other draws unchanged.
  if (g.uniform() < cfg.flip_p_) {
    rec.flipped = true;
    hflip(dst, C, S, S);
  }
  if (cfg.jitter_p_ > 0 && g.uniform() < cfg.jitter_p_) {
    rec.jittered = true;
    rec.jitter = sample_jitter(g, cfg.jitter_);
    apply_jitter(dst, C, S, S, rec.jitter);
  }
  if (cfg.gray_p_ > 0 && g.uniform() < cfg.gray_p_) {
    rec.gray = true;
    rgb_to_grayscale(dst, C, S, S);
  }
  if (cfg.blur_p_ > 0 && g.uniform() < cfg.blur_p_) {
    rec.blurred = true;
    rec.sigma = cfg.blur_sigma_[0] + (cfg.blur_sigma_[1] - cfg.blur_sigma_[0]) * g.uniform();
    gaussian_blur(dst, C, S, S, cfg.blur_ksize_, rec.sigma);
  }
  if (cfg.solarize_p_ > 0 && g.uniform() < cfg.solarize_p_) {
    rec.solarized = true;
    solarize(dst, C, S, S, cfg.solarize_threshold_);
  }
  if (!cfg.mean_.empty()) normalize(dst, C, S, S, cfg.mean_, cfg.std_);
  return rec;
}

namespace {
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
}  // namespace

Generator view_generator(uint64_t seed, int64_t epoch, int64_t index, int64_t view) {
  uint64_t k = splitmix64(seed);
  k = splitmix64(k ^ static_cast<uint64_t>(epoch));
  k = splitmix64(k ^ static_cast<uint64_t>(index));
  k = splitmix64(k ^ static_cast<uint64_t>(view));
  return Generator(k);
}

}  // namespace resa::data
