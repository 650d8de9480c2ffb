#include "resa/encoder.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "resa/autograd/functions.h"
#include "resa/core/parallel.h"
#include "resa/data/augment.h"
#include "resa/eval/features.h"
#include "resa/nn/io/safetensors.h"

namespace resa {
namespace {

// Comma-separated; 9 significant digits give back the same float when parsed.
std::string join(const std::vector<float>& v, int digits = 9) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    s += fmt::format("{:.{}g}", v[i], digits);
  }
  return s;
}

std::vector<float> parse_floats(const std::string& s, const std::string& path, const char* key) {
  std::vector<float> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      out.push_back(std::stof(item, &used));
      RESA_CHECK(used == item.size(), "trailing characters");
    } catch (const std::exception&) {
      RESA_FAIL("[Encoder] {}: metadata '{}' = '{}' is not a comma-separated list of numbers", path, key, s);
    }
  }
  return out;
}

int64_t parse_int(const std::string& s, const std::string& path, const char* key) {
  try {
    size_t used = 0;
    int64_t v = std::stoll(s, &used);
    if (used == s.size()) return v;
  } catch (const std::exception&) {
  }
  RESA_FAIL("[Encoder] {}: metadata '{}' = '{}' is not an integer", path, key, s);
}

// The image with `channels` channels: gray replicated to RGB, RGB(A) to gray by the same integer luma
// the image decoder uses (stb_image: (77 r + 150 g + 29 b) >> 8), alpha dropped.
data::Image with_channels(const data::Image& img, int64_t channels) {
  const int64_t c = img.channels;
  RESA_CHECK(c >= 1 && c <= 4, "[Encoder] images have 1 to 4 channels, got {}", c);
  if (c == channels) return img;
  data::Image out;
  out.channels = channels;
  out.height = img.height;
  out.width = img.width;
  out.layout = data::Layout::HWC;
  out.pixels.resize(static_cast<size_t>(channels * img.height * img.width));
  const bool color = c >= 3;
  for (int64_t y = 0; y < img.height; ++y)
    for (int64_t x = 0; x < img.width; ++x) {
      uint8_t* px = &out.pixels[static_cast<size_t>((y * img.width + x) * channels)];
      if (channels == 1) {
        px[0] = color ? static_cast<uint8_t>((77 * img.at(0, y, x) + 150 * img.at(1, y, x) + 29 * img.at(2, y, x)) >> 8)
                      : img.at(0, y, x);
      } else {
        for (int64_t ch = 0; ch < 3; ++ch) px[ch] = img.at(color ? ch : 0, y, x);
      }
    }
  return out;
}

}  // namespace

std::map<std::string, std::string> encoder_metadata(const EncoderInfo& info) {
  std::map<std::string, std::string> meta{{"arch", info.arch},
                                          {"in_channels", std::to_string(info.in_channels)},
                                          {"stem_padding", std::to_string(info.stem_padding)},
                                          {"image_size", std::to_string(info.image_size)},
                                          {"mean", join(info.mean)},
                                          {"std", join(info.std)}};
  if (!info.role.empty()) meta["role"] = info.role;
  return meta;
}

Encoder::Encoder(std::shared_ptr<nn::ResNet> net, EncoderInfo info, Device device)
    : net_(std::move(net)), info_(std::move(info)), device_(device) {
  RESA_CHECK(net_ != nullptr, "[Encoder] no network given");
  RESA_CHECK(info_.mean.size() == static_cast<size_t>(info_.in_channels) &&
                 info_.std.size() == static_cast<size_t>(info_.in_channels),
             "[Encoder] {} input channels but {} means and {} stds", info_.in_channels, info_.mean.size(),
             info_.std.size());
  RESA_CHECK(info_.image_size >= 1, "[Encoder] image size must be >= 1, got {}", info_.image_size);
  net_->to(device_);
  net_->eval();
}

Encoder Encoder::load(const std::string& path, Device device) {
  auto file = nn::load_safetensors(path);
  auto meta = [&](const char* key) {
    auto it = file.metadata.find(key);
    return it == file.metadata.end() ? std::string() : it->second;
  };
  EncoderInfo info;
  info.arch = meta("arch");
  RESA_CHECK(!info.arch.empty(),
             "[Encoder] {} has no 'arch' metadata, so the network it belongs to is unknown (files written by "
             "resa_cifar have it; for another file, build the ResNet yourself and use the Encoder constructor)",
             path);
  auto w = file.tensors.find("conv1.weight");
  RESA_CHECK(w != file.tensors.end() && w->second.dim() == 4,
             "[Encoder] {} has no 4-D conv1.weight: not a ResNet encoder state dict", path);
  // Width and input channels come from the stem's weight: (width, channels, k, k).
  info.width = w->second.size(0);
  info.in_channels = w->second.size(1);
  if (!meta("in_channels").empty())
    RESA_CHECK(parse_int(meta("in_channels"), path, "in_channels") == info.in_channels,
               "[Encoder] {}: metadata says {} input channels, conv1.weight has {}", path, meta("in_channels"),
               info.in_channels);
  RESA_CHECK(info.in_channels == 1 || info.in_channels == 3, "[Encoder] {}: {} input channels (1 or 3 supported)", path,
             info.in_channels);
  const bool gray = info.in_channels == 1;
  auto fill = [&](const char* key, auto set_default) {
    if (meta(key).empty()) {
      set_default();
      info.defaulted.push_back(key);
      return false;
    }
    return true;
  };
  // Files written before the stem padding was recorded were trained with padding 1.
  if (fill("stem_padding", [&] { info.stem_padding = 1; }))
    info.stem_padding = parse_int(meta("stem_padding"), path, "stem_padding");
  if (fill("image_size", [&] { info.image_size = gray ? 28 : 32; }))
    info.image_size = parse_int(meta("image_size"), path, "image_size");
  if (fill("mean", [&] { info.mean = gray ? std::vector<float>{0.2860f} : data::kCifar10Mean; }))
    info.mean = parse_floats(meta("mean"), path, "mean");
  if (fill("std", [&] { info.std = gray ? std::vector<float>{0.3530f} : data::kCifar10Std; }))
    info.std = parse_floats(meta("std"), path, "std");
  info.role = meta("role");
  if (!info.defaulted.empty()) {
    std::string used;
    for (auto& k : info.defaulted) {
      if (!used.empty()) used += ", ";
      if (k == "stem_padding") used += fmt::format("stem_padding {}", info.stem_padding);
      if (k == "image_size") used += fmt::format("image_size {}", info.image_size);
      if (k == "mean") used += "mean " + join(info.mean, 4);
      if (k == "std") used += "std " + join(info.std, 4);
    }
    std::fprintf(stderr, "warning: %s was written by an older version without this metadata; using defaults: %s\n",
                 path.c_str(), used.c_str());
  }
  const double base = info.arch == "resnet_small" ? 32.0 : 64.0;
  auto net = nn::make_resnet(nn::ResNetOptions()
                                 .arch(info.arch)
                                 .in_channels(info.in_channels)
                                 .width_multiplier(static_cast<double>(info.width) / base)
                                 .stem_padding(info.stem_padding));
  net->load_state_dict(file.tensors, true);
  return Encoder(std::move(net), std::move(info), device);
}

Tensor Encoder::embed(const Tensor& images, int64_t batch) const {
  const int64_t s = info_.image_size;
  RESA_CHECK(images.dim() == 4 && images.size(1) == info_.in_channels && images.size(2) == s && images.size(3) == s,
             "[Encoder::embed] expects ({}, {}, {}, {}) images (N, C, S, S), got {}", "N", info_.in_channels, s, s,
             shape_str(images.shape()));
  RESA_CHECK(is_floating(images.dtype()), "[Encoder::embed] expects floats in [0, 1], got {}",
             dtype_name(images.dtype()));
  RESA_CHECK(batch >= 1, "[Encoder::embed] batch must be >= 1, got {}", batch);
  NoGradGuard ng;
  Shape cs{1, info_.in_channels, 1, 1};
  Tensor mean = from_vector<float>(info_.mean, cs).to(images.dtype()).to(device_);
  // (x - mean) * (1 / std) with 1 / std rounded in float, as data::normalize computes it for the
  // trainer's evaluation images, so that both paths give the same numbers.
  std::vector<float> inv(info_.std.size());
  for (size_t c = 0; c < inv.size(); ++c) inv[c] = 1.f / info_.std[c];
  Tensor inv_std = from_vector<float>(inv, cs).to(images.dtype()).to(device_);
  std::vector<Tensor> parts;
  for (int64_t b = 0; b < images.size(0); b += batch) {
    const int64_t e = std::min(images.size(0), b + batch);
    Tensor x = mul(sub(images.narrow(0, b, e - b).to(device_), mean), inv_std);
    parts.push_back(net_->forward(x).to(kCPU));
  }
  if (parts.empty()) return Tensor::empty({0, feature_dim()});
  return cat(parts, 0);
}

Tensor Encoder::embed_images(const std::vector<data::Image>& images, int64_t batch) const {
  RESA_CHECK(batch >= 1, "[Encoder::embed_images] batch must be >= 1, got {}", batch);
  const int64_t c = info_.in_channels, s = info_.image_size;
  NoGradGuard ng;
  std::vector<Tensor> parts;
  const int64_t n = static_cast<int64_t>(images.size());
  for (int64_t b = 0; b < n; b += batch) {
    const int64_t e = std::min(n, b + batch);
    Tensor x = Tensor::empty({e - b, c, s, s});
    float* out = x.data<float>();
    parallel_for(e - b, 8, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i)
        image_to_input(with_channels(images[static_cast<size_t>(b + i)], c), s, info_.mean, info_.std,
                       out + i * c * s * s);
    });
    parts.push_back(net_->forward(x.to(device_)).to(kCPU));
  }
  if (parts.empty()) return Tensor::empty({0, feature_dim()});
  return cat(parts, 0);
}

Tensor Encoder::embed_hwc(const uint8_t* pixels, int64_t n, int64_t height, int64_t width, int64_t channels,
                          int64_t batch) const {
  RESA_CHECK(n >= 0 && height >= 1 && width >= 1 && channels >= 1 && channels <= 4,
             "[Encoder::embed_hwc] {} images of {} x {} x {}: need n >= 0, sizes >= 1 and 1 to 4 channels", n, height,
             width, channels);
  RESA_CHECK(pixels != nullptr || n == 0, "[Encoder::embed_hwc] no pixels given");
  const size_t per = static_cast<size_t>(height * width * channels);
  std::vector<data::Image> images(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    data::Image& img = images[static_cast<size_t>(i)];
    img.channels = channels;
    img.height = height;
    img.width = width;
    img.layout = data::Layout::HWC;
    img.pixels.assign(pixels + static_cast<size_t>(i) * per, pixels + static_cast<size_t>(i + 1) * per);
  }
  return embed_images(images, batch);
}

Tensor Encoder::embed(const data::Dataset& ds, int64_t batch) const {
  RESA_CHECK(ds.channels() == info_.in_channels, "[Encoder::embed] the encoder takes {} channels, the dataset has {}",
             info_.in_channels, ds.channels());
  return extract_features(*net_, ds, info_.mean, info_.std, info_.image_size, device_, batch);
}

FolderEmbedding embed_folder(const Encoder& encoder, const std::string& dir, int64_t batch,
                             const std::function<void(int64_t, int64_t)>& progress) {
  namespace fs = std::filesystem;
  RESA_CHECK(fs::is_directory(dir), "[embed_folder] {} is not a folder", dir);
  RESA_CHECK(batch >= 1, "[embed_folder] batch must be >= 1, got {}", batch);
  std::vector<std::string> paths;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied);
       it != fs::recursive_directory_iterator(); ++it) {
    if (!it->is_regular_file()) continue;
    std::string ext = it->path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    if (ext == ".png" || ext == ".jpg" || ext == ".jpeg")
      paths.push_back(fs::relative(it->path(), dir).generic_string());
  }
  std::sort(paths.begin(), paths.end());
  FolderEmbedding out;
  std::vector<Tensor> parts;
  const int64_t total = static_cast<int64_t>(paths.size());
  for (int64_t b = 0; b < total; b += batch) {
    const int64_t e = std::min(total, b + batch);
    // Decode in parallel; a failure is kept as a message, never thrown out of the threads.
    std::vector<data::Image> images(static_cast<size_t>(e - b));
    std::vector<std::string> errors(static_cast<size_t>(e - b));
    parallel_for(e - b, 4, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        try {
          images[static_cast<size_t>(i)] = data::read_image(
              (fs::path(dir) / paths[static_cast<size_t>(b + i)]).string(), encoder.info().in_channels);
        } catch (const std::exception& ex) {
          errors[static_cast<size_t>(i)] = ex.what();
          if (errors[static_cast<size_t>(i)].empty()) errors[static_cast<size_t>(i)] = "unreadable";
        }
      }
    });
    std::vector<data::Image> good;
    for (int64_t i = 0; i < e - b; ++i) {
      if (!errors[static_cast<size_t>(i)].empty()) {
        out.skipped.emplace_back(paths[static_cast<size_t>(b + i)], errors[static_cast<size_t>(i)]);
        continue;
      }
      out.files.push_back(paths[static_cast<size_t>(b + i)]);
      good.push_back(std::move(images[static_cast<size_t>(i)]));
    }
    if (!good.empty()) parts.push_back(encoder.embed_images(good, batch));
    if (progress) progress(e, total);
  }
  out.features = parts.empty() ? Tensor::empty({0, encoder.feature_dim()}) : cat(parts, 0);
  return out;
}

std::vector<std::pair<int64_t, double>> nearest_cosine(const Tensor& features, const Tensor& query, int64_t k,
                                                       int64_t exclude) {
  RESA_CHECK(features.dim() == 2 && query.dim() == 1 && query.size(0) == features.size(1),
             "[nearest_cosine] expects features (N, d) and a query (d), got {} and {}", shape_str(features.shape()),
             shape_str(query.shape()));
  RESA_CHECK(k >= 1, "[nearest_cosine] k must be >= 1, got {}", k);
  const int64_t n = features.size(0), d = features.size(1);
  auto f = features.to(kCPU).to(DType::Float64).contiguous().to_vector<double>();
  auto q = query.to(kCPU).to(DType::Float64).contiguous().to_vector<double>();
  double qn = 0;
  for (double v : q) qn += v * v;
  qn = std::sqrt(qn);
  std::vector<std::pair<int64_t, double>> scored;
  for (int64_t i = 0; i < n; ++i) {
    if (i == exclude) continue;
    double dot = 0, fn = 0;
    for (int64_t c = 0; c < d; ++c) {
      dot += f[i * d + c] * q[c];
      fn += f[i * d + c] * f[i * d + c];
    }
    scored.emplace_back(i, dot / std::max(std::sqrt(fn) * qn, 1e-300));
  }
  const size_t m = std::min(static_cast<size_t>(k), scored.size());
  std::partial_sort(scored.begin(), scored.begin() + m, scored.end(), [](const auto& a, const auto& b) {
    return a.second > b.second || (a.second == b.second && a.first < b.first);
  });
  scored.resize(m);
  return scored;
}

}  // namespace resa
