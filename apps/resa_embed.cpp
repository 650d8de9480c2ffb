// resa_embed: embeds every PNG / JPEG under a folder with a trained encoder, and finds an image's
// nearest neighbours among them.
//
//   resa_embed --encoder runs/fashion_mnist_resa/encoder.safetensors --images photos/ --out photos.safetensors
//   resa_embed --encoder ... --images photos/ --query photos/cat.png -k 8          (also writes a contact sheet)
//   resa_embed --encoder ... --embeddings photos.safetensors --images photos/ --query cat.png   (no re-embedding)
//
// The output holds "features" (N, d) float32 and, in its metadata, "files" (a JSON list of the paths,
// relative to the folder, in row order), "encoder" and "skipped" (how many files could not be read).
// Images are prepared as at evaluation (resa/encoder.h): converted to the encoder's channels, resized
// bilinearly to its image size, normalised.
#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli_checks.h"
#include "omp_env.h"
#include "resa/core/parallel.h"
#include "resa/data/augment.h"
#include "resa/encoder.h"
#include "resa/nn/io/safetensors.h"

using namespace resa;
namespace fs = std::filesystem;

namespace {

// A tile x tile RGB thumbnail of an image (any channels), its aspect kept by a centred square crop.
std::vector<uint8_t> thumbnail(const data::Image& img_in, int64_t tile) {
  data::Image img = img_in;
  const int64_t side = std::min(img.height, img.width);
  data::CropBox box{(img.height - side) / 2, (img.width - side) / 2, side, side};
  std::vector<float> chw(static_cast<size_t>(img.channels * tile * tile));
  data::resized_crop(img, box, tile, tile, data::Interp::Bilinear, chw.data());
  std::vector<uint8_t> rgb(static_cast<size_t>(3 * tile * tile));
  for (int64_t y = 0; y < tile; ++y)
    for (int64_t x = 0; x < tile; ++x)
      for (int64_t c = 0; c < 3; ++c) {
        const int64_t src = img.channels >= 3 ? c : 0;
        const float v = chw[static_cast<size_t>((src * tile + y) * tile + x)];
        rgb[static_cast<size_t>((y * tile + x) * 3 + c)] =
            static_cast<uint8_t>(std::clamp(v * 255.0f + 0.5f, 0.0f, 255.0f));
      }
  return rgb;
}

// The query, then its neighbours, left to right, with a 4-pixel white gap after the query.
void write_contact_sheet(const std::string& path, const std::vector<std::string>& image_paths, int64_t tile) {
  const int64_t gap = 4, n = static_cast<int64_t>(image_paths.size());
  data::Image sheet;
  sheet.channels = 3;
  sheet.height = tile;
  sheet.width = n * tile + gap;
  sheet.layout = data::Layout::HWC;
  sheet.pixels.assign(static_cast<size_t>(3 * sheet.height * sheet.width), 255);
  for (int64_t i = 0; i < n; ++i) {
    auto thumb = thumbnail(data::read_image(image_paths[static_cast<size_t>(i)], 3), tile);
    const int64_t x0 = i * tile + (i > 0 ? gap : 0);
    for (int64_t y = 0; y < tile; ++y)
      std::copy_n(&thumb[static_cast<size_t>(y * tile * 3)], tile * 3,
                  &sheet.pixels[static_cast<size_t>((y * sheet.width + x0) * 3)]);
  }
  data::write_png(path, sheet);
}

}  // namespace

int main(int argc, char** argv) {
  app::ensure_passive_openmp(argv);
  CLI::App app{"Embeds every PNG / JPEG under a folder with a trained encoder; --query finds nearest neighbours."};
  std::string encoder_path, images, out, embeddings, query, sheet, device = "cpu";
  int64_t k = 8, batch = 256, tile = 96;
  int threads = 0;
  app.add_option("--encoder", encoder_path, "encoder.safetensors written by resa_cifar")
      ->required()
      ->check(app::existing_file());
  app.add_option("--images", images, "folder of images (searched recursively)");
  app.add_option("--out", out, "where to write the features (default: embeddings.safetensors; not with --embeddings)");
  app.add_option("--embeddings", embeddings,
                 "features written by an earlier resa_embed run (instead of embedding --images)");
  app.add_option("--query", query, "an image: print its k nearest images (cosine) and write a contact sheet");
  app.add_option("-k", k, "neighbours to show")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1000}));
  app.add_option("--sheet", sheet, "contact sheet PNG (default: next to the features, <name>_query.png)");
  app.add_option("--tile", tile, "contact sheet tile size in pixels")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{8}, int64_t{1024}));
  app.add_option("--batch", batch, "images per forward pass")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  app.add_option("--device", device, "cpu | cuda | cuda:N")->capture_default_str()->check(app::device_name());
  app.add_option("--threads", threads, "CPU threads (0: all cores)")->capture_default_str()->check(CLI::Range(0, 4096));
  CLI11_PARSE(app, argc, argv);

  try {
    RESA_CHECK(!images.empty(), "[resa_embed] --images DIR is required (the folder the features describe)");
    RESA_CHECK(fs::is_directory(images), "[resa_embed] --images {} is not a folder", images);
    RESA_CHECK(embeddings.empty() || out.empty(),
               "[resa_embed] give --out (embed now) or --embeddings (reuse), not both");
    if (threads > 0) set_num_threads(threads);
    Encoder enc = Encoder::load(encoder_path, Device::parse(device));
    fmt::print("encoder {} ({}, width {}, {} channels, {} px, {}-d features)\n", encoder_path, enc.info().arch,
               enc.info().width, enc.info().in_channels, enc.info().image_size, enc.feature_dim());

    std::vector<std::string> files;
    Tensor features;
    std::string features_path;
    if (!embeddings.empty()) {
      auto file = nn::load_safetensors(embeddings);
      auto it = file.tensors.find("features");
      RESA_CHECK(it != file.tensors.end() && file.metadata.count("files"),
                 "[resa_embed] --embeddings {} has no 'features' tensor and 'files' list (not written by resa_embed)",
                 embeddings);
      features = it->second;
      files = nlohmann::json::parse(file.metadata.at("files")).get<std::vector<std::string>>();
      RESA_CHECK(static_cast<int64_t>(files.size()) == features.size(0) && features.size(1) == enc.feature_dim(),
                 "[resa_embed] --embeddings {}: {} files for {} rows of {} features (this encoder gives {})",
                 embeddings, files.size(), features.size(0), features.size(1), enc.feature_dim());
      features_path = embeddings;
    } else {
      if (out.empty()) out = "embeddings.safetensors";
      const bool tty = isatty(fileno(stdout)) != 0;
      const auto t0 = std::chrono::steady_clock::now();
      int64_t last_logged = 0;
      FolderEmbedding fe = embed_folder(enc, images, batch, [&](int64_t done, int64_t total) {
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double rate = s > 0 ? done / s : 0;
        const int width = 30, filled = total > 0 ? static_cast<int>(width * done / total) : width;
        std::string line = fmt::format("[{}{}] {}/{} files {:.1f} img/s", std::string(filled, '#'),
                                       std::string(width - filled, '.'), done, total, rate);
        if (tty) {
          fmt::print("\r{}\x1b[K", line);
          std::fflush(stdout);
        } else if (done == total || done - last_logged >= 10 * batch) {
          fmt::print("{}\n", line);
          last_logged = done;
        }
      });
      if (tty) fmt::print("\n");
      for (auto& [file, why] : fe.skipped) fmt::print(stderr, "skipped {}: {}\n", file, why);
      RESA_CHECK(!fe.files.empty(), "[resa_embed] no readable PNG / JPEG under {} ({} skipped)", images,
                 fe.skipped.size());
      nn::save_safetensors(out, {{"features", fe.features}},
                           {{"files", nlohmann::json(fe.files).dump()},
                            {"encoder", encoder_path},
                            {"skipped", std::to_string(fe.skipped.size())}});
      fmt::print("embedded {} images ({} skipped) -> {} ({} x {})\n", fe.files.size(), fe.skipped.size(), out,
                 fe.features.size(0), fe.features.size(1));
      files = std::move(fe.files);
      features = fe.features;
      features_path = out;
    }

    if (!query.empty()) {
      Tensor q = enc.embed_images({data::read_image(query, enc.info().in_channels)});
      // The query's own row, when it is one of the folder's images, is not its own neighbour.
      int64_t self = -1;
      std::error_code ec;
      for (size_t i = 0; i < files.size(); ++i)
        if (fs::equivalent(fs::path(images) / files[i], query, ec)) self = static_cast<int64_t>(i);
      auto nn = nearest_cosine(features, q.select(0, 0), k, self);
      fmt::print("nearest to {} (cosine similarity):\n", query);
      std::vector<std::string> shown{query};
      for (size_t r = 0; r < nn.size(); ++r) {
        fmt::print("{:>3}  {:.4f}  {}\n", r + 1, nn[r].second, files[static_cast<size_t>(nn[r].first)]);
        shown.push_back((fs::path(images) / files[static_cast<size_t>(nn[r].first)]).string());
      }
      if (sheet.empty())
        sheet =
            (fs::path(features_path).parent_path() / (fs::path(features_path).stem().string() + "_query.png")).string();
      write_contact_sheet(sheet, shown, tile);
      fmt::print("contact sheet (query, then neighbours) -> {}\n", sheet);
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  return 0;
}
