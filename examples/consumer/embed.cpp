// Embeds a few images through resa::Encoder, the way a C++ tool uses a trained encoder. To be
// self-contained it first saves an (untrained) encoder with the metadata resa_cifar writes; a real tool
// would load runs/<name>/encoder.safetensors instead.
#include <fmt/core.h>

#include <cstdint>
#include <vector>

#include <resa/encoder.h>
#include <resa/nn/io/checkpoint.h>

int main() {
  using namespace resa;
  EncoderInfo info;
  info.arch = "resnet_small";
  info.in_channels = 3;
  info.stem_padding = 2;
  info.image_size = 32;
  info.mean = {0.4914f, 0.4822f, 0.4465f};
  info.std = {0.2470f, 0.2435f, 0.2616f};
  auto net = nn::make_resnet(nn::ResNetOptions().arch("resnet_small").in_channels(3).width_multiplier(0.25));
  nn::save_state_dict("consumer_encoder.safetensors", *net, encoder_metadata(info));

  Encoder enc = Encoder::load("consumer_encoder.safetensors");
  // Three 20 x 30 RGB images as raw interleaved bytes (HWC), e.g. from a camera or a decoder.
  const int64_t n = 3, h = 20, w = 30, c = 3;
  std::vector<uint8_t> pixels(static_cast<size_t>(n * h * w * c));
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>((i * 37) % 251);
  Tensor features = enc.embed_hwc(pixels.data(), n, h, w, c);
  fmt::print("embedded {} images of {}x{} into {}-d features with {} (resized to {}x{})\n", features.size(0), h, w,
             features.size(1), enc.info().arch, enc.info().image_size, enc.info().image_size);
  return features.size(0) == n && features.size(1) == enc.feature_dim() ? 0 : 1;
}
