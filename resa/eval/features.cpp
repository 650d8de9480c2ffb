#include "resa/eval/features.h"

#include "resa/autograd/functions.h"
#include "resa/core/parallel.h"
#include "resa/data/augment.h"

namespace resa {

Tensor dataset_labels(const data::Dataset& ds) {
  Tensor y = Tensor::empty({ds.size()}, DType::Int64);
  int64_t* p = y.data<int64_t>();
  for (int64_t i = 0; i < ds.size(); ++i) p[i] = ds.label(i);
  return y;
}

void image_to_input(const data::Image& img, int64_t size, const std::vector<float>& mean, const std::vector<float>& std,
                    float* dst) {
  const int64_t c = img.channels;
  RESA_CHECK(mean.size() == static_cast<size_t>(c) && std.size() == static_cast<size_t>(c),
             "[image_to_input] image has {} channels, normalisation {} / {}", c, mean.size(), std.size());
  RESA_CHECK(img.height >= 1 && img.width >= 1 && size >= 1, "[image_to_input] empty image ({} x {}) or size {}",
             img.height, img.width, size);
  if (img.height == size && img.width == size) {
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t y = 0; y < size; ++y)
        for (int64_t xx = 0; xx < size; ++xx) dst[(ch * size + y) * size + xx] = img.at(ch, y, xx) / 255.0f;
  } else {
    data::resized_crop(img, data::CropBox{0, 0, img.height, img.width}, size, size, data::Interp::Bilinear, dst);
  }
  data::normalize(dst, c, size, size, mean, std);
}

namespace {
// Images [b, e) as a normalised (n, C, S, S) float batch; images of another size are resized
// (bilinear) to S, as the un-augmented evaluation transform does.
Tensor image_batch(const data::Dataset& ds, int64_t b, int64_t e, const std::vector<float>& mean,
                   const std::vector<float>& std, int64_t size) {
  const int64_t c = ds.channels();
  Tensor x = Tensor::empty({e - b, c, size, size});
  float* out = x.data<float>();
  parallel_for(e - b, 8, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      image_to_input(ds.image(b + i), size, mean, std, out + i * c * size * size);
    }
  });
  return x;
}
}  // namespace

Tensor extract_features(nn::Module& encoder, const data::Dataset& ds, const std::vector<float>& mean,
                        const std::vector<float>& std, int64_t image_size, Device device, int64_t batch) {
  bool was_training = encoder.is_training();
  encoder.eval();
  NoGradGuard ng;
  std::vector<Tensor> parts;
  for (int64_t b = 0; b < ds.size(); b += batch) {
    int64_t e = std::min(ds.size(), b + batch);
    parts.push_back(encoder.forward(image_batch(ds, b, e, mean, std, image_size).to(device)).to(kCPU));
  }
  encoder.train(was_training);
  return cat(parts, 0);
}

}  // namespace resa
