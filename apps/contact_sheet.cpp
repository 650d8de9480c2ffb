// Writes a PNG grid: each row is one Fashion-MNIST image (replicated to 3 channels, padded to 32) followed
// by `--views` weak views and `--views` strong views from the training pipeline (unnormalized), scaled up.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "resa/data/augment.h"

using namespace resa;
using namespace resa::data;

int main(int argc, char** argv) {
  CLI::App app{"Contact sheet of original + weak + strong views"};
  std::string dir = "/usr/share/datasets/fashion-mnist", out = "contact_sheet.png";
  int64_t rows = 8, nviews = 3, zoom = 3;
  uint64_t seed = 0;
  app.add_option("--dir", dir, "Fashion-MNIST directory");
  app.add_option("-o,--out", out, "output PNG");
  app.add_option("--rows", rows, "images (rows)");
  app.add_option("--views", nviews, "weak and strong views per image");
  app.add_option("--zoom", zoom, "pixel replication factor");
  app.add_option("--seed", seed, "augmentation seed");
  CLI11_PARSE(app, argc, argv);
  try {
    auto ds = load_mnist_dir(dir, false, DatasetOptions().gray_to_rgb().pad_to(32));
    const int64_t S = 32, gap = 2, cols = 1 + 2 * nviews;
    const int64_t cell = S * zoom + gap;
    Image sheet;
    sheet.channels = 3;
    sheet.layout = Layout::HWC;
    sheet.height = rows * cell + gap;
    sheet.width = cols * cell + gap + gap * 2;  // extra gap between the weak and strong groups
    sheet.pixels.assign(static_cast<size_t>(3 * sheet.height * sheet.width), 255);
    auto put = [&](const std::vector<float>& chw, int64_t r, int64_t col) {
      int64_t y0 = gap + r * cell, x0 = gap + col * cell + (col > nviews ? 2 * gap : 0);
      for (int64_t y = 0; y < S * zoom; ++y)
        for (int64_t x = 0; x < S * zoom; ++x)
          for (int64_t c = 0; c < 3; ++c) {
            float v = chw[(c * S + y / zoom) * S + x / zoom];
            sheet.pixels[((y0 + y) * sheet.width + x0 + x) * 3 + c] =
                static_cast<uint8_t>(std::lround(std::clamp(v, 0.f, 1.f) * 255.f));
          }
    };
    ViewConfig weak = ViewConfig::weak(S), strong = ViewConfig::strong(S);
    for (int64_t r = 0; r < rows; ++r) {
      int64_t idx = r * 997 % ds->size();
      Image img = ds->image(idx);
      std::vector<float> v(static_cast<size_t>(3 * S * S));
      resized_crop(img, CropBox{0, 0, S, S}, S, S, Interp::Bilinear, v.data());  // the original
      put(v, r, 0);
      for (int64_t k = 0; k < nviews; ++k) {
        Generator gw = view_generator(seed, 0, idx, 2 * k), gs = view_generator(seed, 0, idx, 2 * k + 1);
        apply_view(img, weak, gw, v.data());
        put(v, r, 1 + k);
        apply_view(img, strong, gs, v.data());
        put(v, r, 1 + nviews + k);
      }
    }
    write_png(out, sheet);
    std::printf("wrote %s (%lld x %lld): per row original | %lld weak | %lld strong\n", out.c_str(),
                (long long)sheet.width, (long long)sheet.height, (long long)nviews, (long long)nviews);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
