// Datasets for self-supervised training: a common interface over CIFAR-10/100 binaries, IDX files
// (MNIST, Fashion-MNIST; plain or gzip) and folders of PNG/JPEG images, plus wrappers for a subset,
// grayscale-to-RGB replication and zero padding.
//
// Images are uint8 and keep the layout of their source (CIFAR is CHW, IDX and decoded files are HWC),
// so reading one costs a copy at most; the augmentations read either layout directly.
// Every reader rejects bad input with a resa::Error naming the file and what is wrong, and never
// reads past the end of its buffer. The parsers also work on memory (parse_cifar, parse_idx) so they
// can be fuzzed.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "resa/core/tensor.h"

namespace resa::data {

enum class Layout { HWC, CHW };

// One image: `pixels` holds channels * height * width bytes in `layout`.
struct Image {
  std::vector<uint8_t> pixels;
  int64_t channels = 0, height = 0, width = 0;
  Layout layout = Layout::HWC;

  uint8_t at(int64_t c, int64_t y, int64_t x) const {
    return layout == Layout::CHW ? pixels[(c * height + y) * width + x] : pixels[(y * width + x) * channels + c];
  }
  // The same image as a (C, H, W) uint8 tensor.
  Tensor to_tensor() const;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual Image image(int64_t i) const = 0;  // thread-safe
  virtual int64_t label(int64_t i) const = 0;
  virtual int64_t num_classes() const = 0;
  // Channels, height and width of every image (0 for height/width when they vary, e.g. a folder).
  virtual int64_t channels() const = 0;
  virtual int64_t height() const { return 0; }
  virtual int64_t width() const { return 0; }
  // Class names where the format has them (CIFAR batches.meta.txt, folder names), else empty.
  virtual std::vector<std::string> class_names() const { return {}; }
  // Non-fatal problems met while opening (files skipped); callers decide whether to print them.
  virtual std::vector<std::string> warnings() const { return {}; }

 protected:
  void check_index(int64_t i, const char* who) const;
};

using DatasetPtr = std::shared_ptr<const Dataset>;

// ---- options shared by every reader, applied as wrappers after opening ----
struct DatasetOptions {
  RESA_OPTION(int64_t, subset, -1);  // keep N samples (-1: all)
  bool subset_random_ = false;       // false: the first N; true: N drawn without replacement from subset_seed_
  uint64_t subset_seed_ = 0;
  RESA_FLAG(gray_to_rgb, false);    // replicate a 1-channel image to 3 channels
  RESA_OPTION(int64_t, pad_to, 0);  // zero-pad (centered) to pad_to_ x pad_to_ when smaller (0: off)

  DatasetOptions& subset_random(int64_t n, uint64_t seed) {
    subset_ = n;
    subset_random_ = true;
    subset_seed_ = seed;
    return *this;
  }
};
DatasetPtr apply_options(DatasetPtr base, const DatasetOptions& opts);

// Wrappers (each keeps `base` alive).
DatasetPtr make_subset(DatasetPtr base, std::vector<int64_t> indices);
DatasetPtr make_subset_first(DatasetPtr base, int64_t n);
DatasetPtr make_subset_random(DatasetPtr base, int64_t n, uint64_t seed);
DatasetPtr make_gray_to_rgb(DatasetPtr base);
DatasetPtr make_padded(DatasetPtr base, int64_t size);

// ---- in-memory dataset: what the binary readers produce ----
class InMemoryDataset : public Dataset {
 public:
  // pixels: size * C * H * W bytes in `layout`; labels in [0, num_classes).
  InMemoryDataset(std::vector<uint8_t> pixels, std::vector<int64_t> labels, int64_t channels, int64_t height,
                  int64_t width, Layout layout, int64_t num_classes, std::vector<std::string> class_names = {});
  int64_t size() const override { return static_cast<int64_t>(labels_.size()); }
  Image image(int64_t i) const override;
  int64_t label(int64_t i) const override;
  int64_t num_classes() const override { return num_classes_; }
  int64_t channels() const override { return c_; }
  int64_t height() const override { return h_; }
  int64_t width() const override { return w_; }
  std::vector<std::string> class_names() const override { return names_; }
  const uint8_t* raw(int64_t i) const { return pixels_.data() + i * c_ * h_ * w_; }
  Layout layout() const { return layout_; }

 private:
  std::vector<uint8_t> pixels_;
  std::vector<int64_t> labels_;
  int64_t c_, h_, w_;
  Layout layout_;
  int64_t num_classes_;
  std::vector<std::string> names_;
};

// ---- CIFAR ----
enum class CifarKind { Cifar10, Cifar100Fine, Cifar100Coarse };
// Parses concatenated CIFAR records from memory; `name` is used in errors. Appends to pixels/labels.
// CIFAR-10 record: 1 label byte + 3072 bytes (CHW 3x32x32); CIFAR-100: coarse byte, fine byte, 3072 bytes.
void parse_cifar(const uint8_t* data, size_t n, CifarKind kind, const std::string& name, std::vector<uint8_t>& pixels,
                 std::vector<int64_t>& labels);
// dir holds data_batch_1..5.bin + test_batch.bin (+ batches.meta.txt) for CIFAR-10, train.bin + test.bin
// (+ fine_label_names.txt / coarse_label_names.txt) for CIFAR-100.
DatasetPtr load_cifar10(const std::string& dir, bool train, const DatasetOptions& opts = {});
DatasetPtr load_cifar100(const std::string& dir, bool train, bool coarse = false, const DatasetOptions& opts = {});
// Reads the given CIFAR files (any subset of batches).
DatasetPtr load_cifar_files(const std::vector<std::string>& files, CifarKind kind,
                            const std::vector<std::string>& class_names = {}, const DatasetOptions& opts = {});

// ---- IDX ----
struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;  // unsigned byte elements, row-major
};
// Parses an IDX file of unsigned bytes (type 0x08) from memory; gzip data is inflated first.
IdxArray parse_idx(const uint8_t* data, size_t n, const std::string& name);
// Inflates gzip/zlib data; throws when it is corrupt or would exceed max_out bytes.
std::vector<uint8_t> gunzip(const uint8_t* data, size_t n, const std::string& name, size_t max_out = size_t(1) << 32);
IdxArray read_idx(const std::string& path);
// images: (N, H, W) or (N, H, W, C); labels: (N) in [0, num_classes).
DatasetPtr load_idx(const std::string& images_path, const std::string& labels_path, int64_t num_classes = 10,
                    const DatasetOptions& opts = {});
// MNIST-style directory: {train,t10k}-{images-idx3,labels-idx1}-ubyte, with or without .gz.
DatasetPtr load_mnist_dir(const std::string& dir, bool train, const DatasetOptions& opts = {});
// Fashion-MNIST class names (the format has none; these are from the dataset's documentation).
std::vector<std::string> fashion_mnist_class_names();

// ---- image folder: root/<class>/<image>.{png,jpg,jpeg,bmp} ----
struct FolderOptions {
  RESA_OPTION(int64_t, channels, 3);  // decode to 1 or 3 channels
  RESA_FLAG(skip_bad, false);         // skip undecodable files with a warning instead of failing
  RESA_FLAG(preload, false);          // decode everything at open (validates every pixel, faster epochs)
};
DatasetPtr load_image_folder(const std::string& root, const FolderOptions& fopts = {}, const DatasetOptions& opts = {});

// ---- image files ----
// Decodes PNG/JPEG/BMP bytes to HWC uint8 with `channels` channels (1 or 3); `name` is used in errors.
Image decode_image(const uint8_t* data, size_t n, int64_t channels, const std::string& name);
Image read_image(const std::string& path, int64_t channels);
// img in any layout; writes HWC.
void write_png(const std::string& path, const Image& img);
void write_jpg(const std::string& path, const Image& img, int quality = 95);

// Reads a whole file; errors name the file.
std::vector<uint8_t> read_file(const std::string& path);

// Per-channel mean and std of pixels / 255 over up to max_samples images (for Normalize).
std::pair<std::vector<double>, std::vector<double>> channel_mean_std(const Dataset& ds, int64_t max_samples = -1);

}  // namespace resa::data
