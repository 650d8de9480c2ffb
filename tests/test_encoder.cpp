// resa::Encoder (resa/encoder.h): a saved encoder loads from its file alone and embeds images exactly
// as the trainer's own evaluation does (bit for bit on the CPU), from a dataset, from float tensors and
// from raw uint8 buffers of any size and channel count; metadata round trip; clear errors.
#include "resa/encoder.h"

#include <filesystem>

#include "resa/core/rng.h"
#include "resa/eval/features.h"
#include "resa/nn/io/checkpoint.h"
#include "resa/nn/io/safetensors.h"
#include "test_util.h"

using namespace resa;
using namespace resa::test;

namespace {

std::string tmp(const std::string& name) {
  std::filesystem::create_directories(RESA_TEST_TMP);
  return std::string(RESA_TEST_TMP) + "/encoder_" + name;
}

// n random images of c x h x w (HWC bytes) with labels 0..2.
std::shared_ptr<data::InMemoryDataset> random_images(int64_t n, int64_t c, int64_t h, int64_t w, uint64_t seed) {
  Generator g(seed);
  Tensor u = rand({n * c * h * w}, {}, &g);
  std::vector<uint8_t> px(static_cast<size_t>(n * c * h * w));
  auto v = u.to_vector<float>();
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(v[i] * 255.999f);
  std::vector<int64_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) labels[static_cast<size_t>(i)] = i % 3;
  return std::make_shared<data::InMemoryDataset>(px, labels, c, h, w, data::Layout::HWC, 3);
}

EncoderInfo small_info(int64_t channels) {
  EncoderInfo info;
  info.arch = "resnet_small";
  info.in_channels = channels;
  info.stem_padding = 2;
  info.image_size = 16;
  info.mean = channels == 1 ? std::vector<float>{0.3f} : std::vector<float>{0.4f, 0.5f, 0.6f};
  info.std = channels == 1 ? std::vector<float>{0.25f} : std::vector<float>{0.2f, 0.3f, 0.35f};
  info.role = "teacher";
  return info;
}

// A ResNet with non-trivial weights and batch-norm statistics (one train-mode forward), saved with
// `meta`; returns the network.
std::shared_ptr<nn::ResNet> saved_net(const std::string& path, const EncoderInfo& info,
                                      const std::map<std::string, std::string>& meta) {
  auto net = nn::make_resnet(nn::ResNetOptions()
                                 .arch(info.arch)
                                 .in_channels(info.in_channels)
                                 .width_multiplier(8.0 / 32.0)
                                 .stem_padding(info.stem_padding)
                                 .seed(7));
  Generator g(3);
  {
    NoGradGuard ng;
    net->train(true);
    (void)net->forward(randn({8, info.in_channels, info.image_size, info.image_size}, {}, &g));
  }
  nn::save_state_dict(path, *net, meta);
  return net;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.to_vector<float>() == b.to_vector<float>();
}

}  // namespace

TEST_CASE("Encoder::load + embed equal the trainer's feature extraction, bit for bit on the CPU") {
  for (int64_t channels : {1, 3}) {
    INFO("channels " << channels);
    EncoderInfo info = small_info(channels);
    const std::string path = tmp("roundtrip" + std::to_string(channels) + ".safetensors");
    auto net = saved_net(path, info, encoder_metadata(info));
    Encoder enc = Encoder::load(path);
    CHECK(enc.info().arch == "resnet_small");
    CHECK(enc.info().in_channels == channels);
    CHECK(enc.info().width == 8);
    CHECK(enc.info().stem_padding == 2);
    CHECK(enc.info().image_size == 16);
    CHECK(enc.info().mean == info.mean);
    CHECK(enc.info().std == info.std);
    CHECK(enc.info().role == "teacher");
    CHECK(enc.info().defaulted.empty());
    CHECK(enc.feature_dim() == net->feature_dim());

    // Images of the encoder's size and of another (resized as at evaluation).
    for (int64_t side : {16, 23}) {
      auto ds = random_images(21, channels, side, side, 11 + side);
      // The same batch size on both sides: a convolution over another batch may sum in another order.
      Tensor ref = extract_features(*net, *ds, info.mean, info.std, info.image_size, kCPU, 256);
      CHECK(same_bits(enc.embed(*ds), ref));
      std::vector<uint8_t> hwc;
      for (int64_t i = 0; i < ds->size(); ++i) {
        const uint8_t* p = ds->raw(i);
        hwc.insert(hwc.end(), p, p + channels * side * side);
      }
      CHECK(same_bits(enc.embed_hwc(hwc.data(), ds->size(), side, side, channels), ref));
      if (side == 16) {
        // Float images in [0, 1], (N, C, S, S).
        Tensor u8 = Tensor::empty({ds->size(), channels, side, side});
        float* f = u8.data<float>();
        for (int64_t i = 0; i < ds->size(); ++i)
          for (int64_t c = 0; c < channels; ++c)
            for (int64_t y = 0; y < side; ++y)
              for (int64_t x = 0; x < side; ++x) *f++ = ds->image(i).at(c, y, x) / 255.0f;
        CHECK(same_bits(enc.embed(u8), ref));
      }
    }
  }
}

TEST_CASE("Encoder converts channels: RGBA drops alpha, gray feeds an RGB encoder, RGB a gray one") {
  const int64_t n = 4, h = 9, w = 12, px = n * h * w;
  Generator g(21);
  auto bytes = [&](int64_t count) {
    auto v = rand({count}, {}, &g).to_vector<float>();
    std::vector<uint8_t> out(v.size());
    for (size_t i = 0; i < v.size(); ++i) out[i] = static_cast<uint8_t>(v[i] * 255.999f);
    return out;
  };
  std::vector<uint8_t> rgb = bytes(px * 3), alpha = bytes(px), gray = bytes(px);
  std::vector<uint8_t> rgba, gray_as_rgb, luma;
  for (int64_t i = 0; i < px; ++i) {
    const uint8_t r = rgb[i * 3], gr = rgb[i * 3 + 1], b = rgb[i * 3 + 2];
    rgba.insert(rgba.end(), {r, gr, b, alpha[i]});
    gray_as_rgb.insert(gray_as_rgb.end(), {gray[i], gray[i], gray[i]});
    luma.push_back(static_cast<uint8_t>((77 * r + 150 * gr + 29 * b) >> 8));  // the image decoder's luma
  }
  EncoderInfo info3 = small_info(3), info1 = small_info(1);
  saved_net(tmp("rgb.safetensors"), info3, encoder_metadata(info3));
  saved_net(tmp("gray.safetensors"), info1, encoder_metadata(info1));
  Encoder enc3 = Encoder::load(tmp("rgb.safetensors")), enc1 = Encoder::load(tmp("gray.safetensors"));
  CHECK(same_bits(enc3.embed_hwc(rgba.data(), n, h, w, 4), enc3.embed_hwc(rgb.data(), n, h, w, 3)));
  CHECK(same_bits(enc3.embed_hwc(gray.data(), n, h, w, 1), enc3.embed_hwc(gray_as_rgb.data(), n, h, w, 3)));
  CHECK(same_bits(enc1.embed_hwc(rgb.data(), n, h, w, 3), enc1.embed_hwc(luma.data(), n, h, w, 1)));
  const uint8_t one[3] = {10, 200, 30};  // a 1x1 image is resized like any other
  Tensor f = enc3.embed_hwc(one, 1, 1, 1, 3);
  CHECK(f.shape() == Shape{1, enc3.feature_dim()});
  CHECK(std::isfinite(sum(f).item()));
}

TEST_CASE("Encoder::load: files from older runs load with defaults; bad files get clear messages") {
  EncoderInfo info = small_info(1);
  // Written before image size and normalisation were recorded: defaults, listed.
  saved_net(tmp("old.safetensors"), info, {{"arch", "resnet_small"}, {"in_channels", "1"}, {"stem_padding", "2"}});
  Encoder old = Encoder::load(tmp("old.safetensors"));
  CHECK(old.info().defaulted == std::vector<std::string>{"image_size", "mean", "std"});
  CHECK(old.info().image_size == 28);
  CHECK(old.info().stem_padding == 2);
  // No metadata at all.
  saved_net(tmp("bare.safetensors"), info, {});
  CHECK_THROWS_WITH_AS(Encoder::load(tmp("bare.safetensors")), doctest::Contains("has no 'arch' metadata"), Error);
  // Metadata that does not parse, or contradicts the weights.
  auto meta = encoder_metadata(info);
  meta["mean"] = "0.3,abc";
  saved_net(tmp("badmean.safetensors"), info, meta);
  CHECK_THROWS_WITH_AS(Encoder::load(tmp("badmean.safetensors")), doctest::Contains("'mean' = '0.3,abc'"), Error);
  meta = encoder_metadata(info);
  meta["in_channels"] = "3";
  saved_net(tmp("badch.safetensors"), info, meta);
  CHECK_THROWS_WITH_AS(Encoder::load(tmp("badch.safetensors")), doctest::Contains("conv1.weight has 1"), Error);
  // Not an encoder.
  nn::save_safetensors(tmp("other.safetensors"), {{"w", zeros({2, 2})}}, {{"arch", "resnet_small"}});
  CHECK_THROWS_WITH_AS(Encoder::load(tmp("other.safetensors")), doctest::Contains("no 4-D conv1.weight"), Error);
  // Inputs of the wrong shape.
  Encoder enc = Encoder::load(tmp("old.safetensors"));
  CHECK_THROWS_WITH_AS(enc.embed(zeros({2, 3, 28, 28})), doctest::Contains("expects (N, 1, 28, 28)"), Error);
  CHECK_THROWS_WITH_AS(enc.embed_hwc(nullptr, 1, 4, 4, 5), doctest::Contains("1 to 4 channels"), Error);
}

TEST_CASE("embed_folder: every PNG/JPEG under a folder, recursively; bad files skipped and named") {
  EncoderInfo info = small_info(3);
  saved_net(tmp("folder.safetensors"), info, encoder_metadata(info));
  Encoder enc = Encoder::load(tmp("folder.safetensors"));
  const std::string dir = std::string(RESA_TEST_DATA) + "/images";  // tests/scripts/gen_images.py
  std::vector<std::pair<int64_t, int64_t>> calls;
  FolderEmbedding fe = embed_folder(enc, dir, 4, [&](int64_t done, int64_t total) { calls.emplace_back(done, total); });
  // RGB, 8- and 16-bit grayscale, RGBA, a 1x1 image and a JPEG with an upper-case extension in a
  // subfolder are embedded; the corrupt PNG is skipped with its name; the text file is not an image.
  CHECK(fe.files ==
        std::vector<std::string>{"gray.png", "gray16.png", "rgb.png", "sub/photo.JPG", "sub/rgba.png", "tiny_1x1.png"});
  REQUIRE(fe.skipped.size() == 1);
  CHECK(fe.skipped[0].first == "corrupt.png");
  CHECK(!fe.skipped[0].second.empty());
  CHECK(fe.features.shape() == Shape{6, enc.feature_dim()});
  CHECK(std::isfinite(sum(fe.features).item()));
  CHECK(calls == std::vector<std::pair<int64_t, int64_t>>{{4, 7}, {7, 7}});
  // A row is the embedding of that file alone (to rounding: another batch may sum in another order).
  Tensor alone = enc.embed_images({data::read_image(dir + "/rgb.png", 3)});
  CHECK(max_abs_error(fe.features.narrow(0, 2, 1), alone) < 1e-4 * (1 + max(abs(alone)).item()));
  CHECK_THROWS_WITH_AS(embed_folder(enc, dir + "/missing"), doctest::Contains("is not a folder"), Error);
}

TEST_CASE("nearest_cosine ranks rows by cosine similarity, best first") {
  Tensor f = from_vector<float>({1, 0, 0, 1, 1, 1, -1, 0, 2, 0.1f}, {5, 2});
  auto nn = nearest_cosine(f, from_vector<float>({1, 0}, {2}), 3, /*exclude=*/0);
  REQUIRE(nn.size() == 3);
  CHECK(nn[0].first == 4);  // (2, 0.1): cos = 2 / sqrt(4.01)
  CHECK(nn[0].second == doctest::Approx(2.0 / std::sqrt(4.01)));
  CHECK(nn[1].first == 2);  // (1, 1): cos = 1 / sqrt(2)
  CHECK(nn[1].second == doctest::Approx(1.0 / std::sqrt(2.0)));
  CHECK(nn[2].first == 1);  // (0, 1): cos = 0
  CHECK(nearest_cosine(f, from_vector<float>({1, 0}, {2}), 10).size() == 5);
}
