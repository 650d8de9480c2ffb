// Image files (stb_image / stb_image_write from libstb) and the image-folder dataset.
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "resa/data/dataset.h"

namespace resa::data {

namespace fs = std::filesystem;

Image decode_image(const uint8_t* data, size_t n, int64_t channels, const std::string& name) {
  RESA_CHECK(channels == 1 || channels == 3, "[image] {}: can decode to 1 or 3 channels, asked for {}", name, channels);
  RESA_CHECK(n > 0, "[image] {}: file is empty", name);
  RESA_CHECK(n <= static_cast<size_t>(INT32_MAX), "[image] {}: file of {} bytes is too large", name, n);
  int w = 0, h = 0, c = 0;
  std::unique_ptr<uint8_t, void (*)(void*)> px(
      stbi_load_from_memory(data, static_cast<int>(n), &w, &h, &c, static_cast<int>(channels)), stbi_image_free);
  if (!px) {
    const char* why = stbi_failure_reason();
    RESA_FAIL("[image] {}: cannot decode ({})", name, why ? why : "unknown reason");
  }
  Image img;
  img.channels = channels;
  img.height = h;
  img.width = w;
  img.layout = Layout::HWC;
  img.pixels.assign(px.get(), px.get() + static_cast<size_t>(w) * h * channels);
  return img;
}

Image read_image(const std::string& path, int64_t channels) {
  auto buf = read_file(path);
  return decode_image(buf.data(), buf.size(), channels, path);
}

namespace {
std::vector<uint8_t> to_hwc(const Image& img) {
  std::vector<uint8_t> out(static_cast<size_t>(img.channels * img.height * img.width));
  for (int64_t y = 0; y < img.height; ++y)
    for (int64_t x = 0; x < img.width; ++x)
      for (int64_t c = 0; c < img.channels; ++c) out[(y * img.width + x) * img.channels + c] = img.at(c, y, x);
  return out;
}
void check_writable(const Image& img, const std::string& path) {
  RESA_CHECK(img.channels >= 1 && img.channels <= 4 && img.height > 0 && img.width > 0,
             "[image] {}: cannot write an image of ({}, {}, {})", path, img.channels, img.height, img.width);
  RESA_CHECK(img.pixels.size() == static_cast<size_t>(img.channels * img.height * img.width),
             "[image] {}: {} pixel bytes for ({}, {}, {})", path, img.pixels.size(), img.channels, img.height,
             img.width);
}
// stb's file writers ignore fwrite's and fclose's results (a full disk leaves a truncated image without
// an error): encode to memory, then write with every result checked.
void append_bytes(void* ctx, void* data, int size) {
  auto* out = static_cast<std::vector<uint8_t>*>(ctx);
  out->insert(out->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
}
void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  RESA_CHECK(f, "[image] {}: cannot open for writing: {}", path, std::strerror(errno));
  const size_t done = std::fwrite(bytes.data(), 1, bytes.size(), f);
  const int write_errno = errno;
  const bool closed = std::fclose(f) == 0;
  RESA_CHECK(done == bytes.size(), "[image] {}: write failed after {} of {} bytes: {}", path, done, bytes.size(),
             std::strerror(write_errno));
  RESA_CHECK(closed, "[image] {}: close failed: {}", path, std::strerror(errno));
}
}  // namespace

void write_png(const std::string& path, const Image& img) {
  check_writable(img, path);
  auto hwc = to_hwc(img);
  std::vector<uint8_t> bytes;
  int ok =
      stbi_write_png_to_func(append_bytes, &bytes, static_cast<int>(img.width), static_cast<int>(img.height),
                             static_cast<int>(img.channels), hwc.data(), static_cast<int>(img.width * img.channels));
  RESA_CHECK(ok != 0, "[image] {}: cannot encode PNG", path);
  write_bytes(path, bytes);
}

void write_jpg(const std::string& path, const Image& img, int quality) {
  check_writable(img, path);
  auto hwc = to_hwc(img);
  std::vector<uint8_t> bytes;
  int ok = stbi_write_jpg_to_func(append_bytes, &bytes, static_cast<int>(img.width), static_cast<int>(img.height),
                                  static_cast<int>(img.channels), hwc.data(), quality);
  RESA_CHECK(ok != 0, "[image] {}: cannot encode JPEG", path);
  write_bytes(path, bytes);
}

namespace {

bool is_image_file(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return std::tolower(ch); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

class FolderDataset : public Dataset {
 public:
  FolderDataset(const std::string& root, const FolderOptions& o) : channels_(o.channels_), skip_(o.skip_bad_) {
    RESA_CHECK(channels_ == 1 || channels_ == 3, "[image_folder] channels must be 1 or 3, got {}", channels_);
    std::error_code ec;
    RESA_CHECK(fs::exists(root, ec), "[image_folder] {}: folder does not exist", root);
    RESA_CHECK(fs::is_directory(root, ec), "[image_folder] {}: not a folder", root);
    std::vector<fs::path> classes;
    for (const auto& e : fs::directory_iterator(root, ec))
      if (e.is_directory()) classes.push_back(e.path());
    std::sort(classes.begin(), classes.end());
    RESA_CHECK(!classes.empty(), "[image_folder] {}: no class subfolders", root);
    for (size_t k = 0; k < classes.size(); ++k) {
      names_.push_back(classes[k].filename().string());
      std::vector<fs::path> files;
      for (const auto& e : fs::directory_iterator(classes[k], ec))
        if (e.is_regular_file() && is_image_file(e.path())) files.push_back(e.path());
      std::sort(files.begin(), files.end());
      for (const auto& f : files) {
        std::string path = f.string();
        // Validate the header now so a bad file is reported at open, not mid-epoch.
        std::string problem;
        Image img;
        try {
          auto buf = read_file(path);
          if (o.preload_) {
            img = decode_image(buf.data(), buf.size(), channels_, path);
          } else {
            int w, h, c;
            if (buf.empty() || !stbi_info_from_memory(buf.data(), static_cast<int>(buf.size()), &w, &h, &c)) {
              const char* why = buf.empty() ? "file is empty" : stbi_failure_reason();
              problem = fmt::format("[image_folder] {}: cannot decode ({})", path, why ? why : "unknown reason");
            }
          }
        } catch (const Error& e) {
          problem = e.what();
        }
        if (!problem.empty()) {
          RESA_CHECK(skip_, "{}", problem);
          warnings_.push_back("skipped: " + problem);
          continue;
        }
        paths_.push_back(path);
        labels_.push_back(static_cast<int64_t>(k));
        if (o.preload_) cache_.push_back(std::move(img));
      }
    }
    RESA_CHECK(!paths_.empty(), "[image_folder] {}: no readable images (.png, .jpg, .jpeg, .bmp) in {} class folders",
               root, classes.size());
  }
  int64_t size() const override { return static_cast<int64_t>(paths_.size()); }
  Image image(int64_t i) const override {
    check_index(i, "image_folder");
    if (!cache_.empty()) return cache_[static_cast<size_t>(i)];
    return read_image(paths_[static_cast<size_t>(i)], channels_);
  }
  int64_t label(int64_t i) const override {
    check_index(i, "image_folder");
    return labels_[static_cast<size_t>(i)];
  }
  int64_t num_classes() const override { return static_cast<int64_t>(names_.size()); }
  int64_t channels() const override { return channels_; }
  std::vector<std::string> class_names() const override { return names_; }
  std::vector<std::string> warnings() const override { return warnings_; }
  const std::string& path(int64_t i) const { return paths_[static_cast<size_t>(i)]; }

 private:
  int64_t channels_;
  bool skip_;
  std::vector<std::string> names_, paths_, warnings_;
  std::vector<int64_t> labels_;
  std::vector<Image> cache_;
};

}  // namespace

DatasetPtr load_image_folder(const std::string& root, const FolderOptions& fopts, const DatasetOptions& opts) {
  return apply_options(std::make_shared<FolderDataset>(root, fopts), opts);
}

}  // namespace resa::data
