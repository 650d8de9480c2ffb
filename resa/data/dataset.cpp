#include "resa/data/dataset.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "resa/core/rng.h"

namespace resa::data {

namespace fs = std::filesystem;

Tensor Image::to_tensor() const {
  Tensor t = Tensor::empty({channels, height, width}, DType::UInt8);
  uint8_t* p = t.data<uint8_t>();
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t y = 0; y < height; ++y)
      for (int64_t x = 0; x < width; ++x) p[(c * height + y) * width + x] = at(c, y, x);
  return t;
}

void Dataset::check_index(int64_t i, const char* who) const {
  RESA_CHECK(i >= 0 && i < size(), "[{}] index {} is out of range for a dataset of {} samples", who, i, size());
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::error_code ec;
  RESA_CHECK(fs::exists(path, ec), "[data] {}: file does not exist", path);
  RESA_CHECK(fs::is_regular_file(path, ec), "[data] {}: not a regular file", path);
  std::ifstream f(path, std::ios::binary);
  RESA_CHECK(f.good(), "[data] {}: cannot open for reading", path);
  f.seekg(0, std::ios::end);
  auto n = static_cast<size_t>(f.tellg());
  f.seekg(0, std::ios::beg);
  std::vector<uint8_t> buf(n);
  if (n > 0) f.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(n));
  RESA_CHECK(static_cast<size_t>(f.gcount()) == n || n == 0, "[data] {}: read {} of {} bytes", path, f.gcount(), n);
  return buf;
}

// ---------------- in-memory ----------------

InMemoryDataset::InMemoryDataset(std::vector<uint8_t> pixels, std::vector<int64_t> labels, int64_t channels,
                                 int64_t height, int64_t width, Layout layout, int64_t num_classes,
                                 std::vector<std::string> class_names)
    : pixels_(std::move(pixels)),
      labels_(std::move(labels)),
      c_(channels),
      h_(height),
      w_(width),
      layout_(layout),
      num_classes_(num_classes),
      names_(std::move(class_names)) {
  RESA_CHECK(c_ > 0 && h_ > 0 && w_ > 0, "[data] image shape ({}, {}, {}) must be positive", c_, h_, w_);
  RESA_CHECK(pixels_.size() == labels_.size() * static_cast<size_t>(c_ * h_ * w_),
             "[data] {} pixel bytes for {} images of ({}, {}, {})", pixels_.size(), labels_.size(), c_, h_, w_);
  for (size_t i = 0; i < labels_.size(); ++i)
    RESA_CHECK(labels_[i] >= 0 && labels_[i] < num_classes_, "[data] label {} of sample {} is outside [0, {})",
               labels_[i], i, num_classes_);
}

Image InMemoryDataset::image(int64_t i) const {
  check_index(i, "dataset");
  Image img;
  img.channels = c_;
  img.height = h_;
  img.width = w_;
  img.layout = layout_;
  const uint8_t* p = raw(i);
  img.pixels.assign(p, p + c_ * h_ * w_);
  return img;
}

int64_t InMemoryDataset::label(int64_t i) const {
  check_index(i, "dataset");
  return labels_[static_cast<size_t>(i)];
}

// ---------------- wrappers ----------------

namespace {

class SubsetDataset : public Dataset {
 public:
  SubsetDataset(DatasetPtr base, std::vector<int64_t> idx) : base_(std::move(base)), idx_(std::move(idx)) {
    for (int64_t i : idx_)
      RESA_CHECK(i >= 0 && i < base_->size(), "[subset] index {} is out of range for a dataset of {} samples", i,
                 base_->size());
  }
  int64_t size() const override { return static_cast<int64_t>(idx_.size()); }
  Image image(int64_t i) const override {
    check_index(i, "subset");
    return base_->image(idx_[i]);
  }
  int64_t label(int64_t i) const override {
    check_index(i, "subset");
    return base_->label(idx_[i]);
  }
  int64_t num_classes() const override { return base_->num_classes(); }
  int64_t channels() const override { return base_->channels(); }
  int64_t height() const override { return base_->height(); }
  int64_t width() const override { return base_->width(); }
  std::vector<std::string> class_names() const override { return base_->class_names(); }
  std::vector<std::string> warnings() const override { return base_->warnings(); }

 private:
  DatasetPtr base_;
  std::vector<int64_t> idx_;
};

// Forwards everything but image(); subclasses transform the pixels.
class MapDataset : public Dataset {
 public:
  explicit MapDataset(DatasetPtr base) : base_(std::move(base)) {}
  int64_t size() const override { return base_->size(); }
  int64_t label(int64_t i) const override { return base_->label(i); }
  int64_t num_classes() const override { return base_->num_classes(); }
  int64_t channels() const override { return base_->channels(); }
  int64_t height() const override { return base_->height(); }
  int64_t width() const override { return base_->width(); }
  std::vector<std::string> class_names() const override { return base_->class_names(); }
  std::vector<std::string> warnings() const override { return base_->warnings(); }

 protected:
  DatasetPtr base_;
};

class GrayToRgbDataset : public MapDataset {
 public:
  using MapDataset::MapDataset;
  int64_t channels() const override { return base_->channels() == 1 ? 3 : base_->channels(); }
  Image image(int64_t i) const override {
    Image img = base_->image(i);
    if (img.channels != 1) return img;
    Image out;
    out.channels = 3;
    out.height = img.height;
    out.width = img.width;
    out.layout = Layout::CHW;  // three copies of the plane
    size_t plane = img.pixels.size();
    out.pixels.resize(3 * plane);
    for (int k = 0; k < 3; ++k) std::memcpy(out.pixels.data() + k * plane, img.pixels.data(), plane);
    return out;
  }
};

class PaddedDataset : public MapDataset {
 public:
  PaddedDataset(DatasetPtr base, int64_t size) : MapDataset(std::move(base)), s_(size) {
    RESA_CHECK(s_ > 0, "[pad] size must be positive, got {}", s_);
  }
  int64_t height() const override { return base_->height() ? std::max(base_->height(), s_) : 0; }
  int64_t width() const override { return base_->width() ? std::max(base_->width(), s_) : 0; }
  Image image(int64_t i) const override {
    Image img = base_->image(i);
    if (img.height >= s_ && img.width >= s_) return img;
    Image out;
    out.channels = img.channels;
    out.height = std::max(img.height, s_);
    out.width = std::max(img.width, s_);
    out.layout = Layout::CHW;
    out.pixels.assign(static_cast<size_t>(out.channels * out.height * out.width), 0);
    int64_t oy = (out.height - img.height) / 2, ox = (out.width - img.width) / 2;
    for (int64_t c = 0; c < img.channels; ++c)
      for (int64_t y = 0; y < img.height; ++y)
        for (int64_t x = 0; x < img.width; ++x)
          out.pixels[(c * out.height + y + oy) * out.width + x + ox] = img.at(c, y, x);
    return out;
  }

 private:
  int64_t s_;
};

}  // namespace

DatasetPtr make_subset(DatasetPtr base, std::vector<int64_t> indices) {
  return std::make_shared<SubsetDataset>(std::move(base), std::move(indices));
}

DatasetPtr make_subset_first(DatasetPtr base, int64_t n) {
  RESA_CHECK(n >= 0, "[subset] size must be non-negative, got {}", n);
  std::vector<int64_t> idx(static_cast<size_t>(std::min(n, base->size())));
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int64_t>(i);
  return make_subset(std::move(base), std::move(idx));
}

DatasetPtr make_subset_random(DatasetPtr base, int64_t n, uint64_t seed) {
  RESA_CHECK(n >= 0, "[subset] size must be non-negative, got {}", n);
  int64_t total = base->size();
  std::vector<int64_t> perm(static_cast<size_t>(total));
  for (int64_t i = 0; i < total; ++i) perm[i] = i;
  Generator g(seed);
  int64_t k = std::min(n, total);
  // Partial Fisher-Yates: the first k entries are a uniform random k-subset, in random order.
  for (int64_t i = 0; i < k; ++i) {
    auto j = i + static_cast<int64_t>(g.randint(static_cast<uint64_t>(total - i)));
    std::swap(perm[i], perm[j]);
  }
  perm.resize(static_cast<size_t>(k));
  return make_subset(std::move(base), std::move(perm));
}

DatasetPtr make_gray_to_rgb(DatasetPtr base) { return std::make_shared<GrayToRgbDataset>(std::move(base)); }
DatasetPtr make_padded(DatasetPtr base, int64_t size) { return std::make_shared<PaddedDataset>(std::move(base), size); }

DatasetPtr apply_options(DatasetPtr ds, const DatasetOptions& o) {
  if (o.subset_ >= 0)
    ds = o.subset_random_ ? make_subset_random(ds, o.subset_, o.subset_seed_) : make_subset_first(ds, o.subset_);
  if (o.gray_to_rgb_) ds = make_gray_to_rgb(ds);
  if (o.pad_to_ > 0) ds = make_padded(ds, o.pad_to_);
  return ds;
}

// ---------------- CIFAR ----------------

void parse_cifar(const uint8_t* data, size_t n, CifarKind kind, const std::string& name, std::vector<uint8_t>& pixels,
                 std::vector<int64_t>& labels) {
  const size_t header = kind == CifarKind::Cifar10 ? 1 : 2;
  const size_t rec = header + 3072;
  const int64_t ncls = kind == CifarKind::Cifar10 ? 10 : kind == CifarKind::Cifar100Fine ? 100 : 20;
  RESA_CHECK(n > 0, "[cifar] {}: file is empty", name);
  RESA_CHECK(n % rec == 0,
             "[cifar] {}: size {} bytes is not a multiple of the {}-byte record ({} records + {} bytes; truncated or "
             "not a {} file)",
             name, n, rec, n / rec, n % rec, rec, kind == CifarKind::Cifar10 ? "CIFAR-10" : "CIFAR-100");
  size_t count = n / rec;
  size_t base = pixels.size();
  pixels.resize(base + count * 3072);
  labels.reserve(labels.size() + count);
  for (size_t r = 0; r < count; ++r) {
    const uint8_t* p = data + r * rec;
    int64_t lab = kind == CifarKind::Cifar100Fine ? p[1] : p[0];
    RESA_CHECK(lab < ncls, "[cifar] {}: record {} has label {}, outside [0, {})", name, r, lab, ncls);
    labels.push_back(lab);
    std::memcpy(pixels.data() + base + r * 3072, p + header, 3072);
  }
}

namespace {
std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) out.push_back(line);
  }
  return out;
}
}  // namespace

DatasetPtr load_cifar_files(const std::vector<std::string>& files, CifarKind kind,
                            const std::vector<std::string>& class_names, const DatasetOptions& opts) {
  RESA_CHECK(!files.empty(), "[cifar] no files given");
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  for (const auto& f : files) {
    auto buf = read_file(f);
    parse_cifar(buf.data(), buf.size(), kind, f, pixels, labels);
  }
  int64_t ncls = kind == CifarKind::Cifar10 ? 10 : kind == CifarKind::Cifar100Fine ? 100 : 20;
  std::vector<std::string> names = class_names;
  if (!names.empty() && static_cast<int64_t>(names.size()) != ncls) names.clear();  // wrong meta: ignore
  DatasetPtr ds = std::make_shared<InMemoryDataset>(std::move(pixels), std::move(labels), 3, 32, 32, Layout::CHW, ncls,
                                                    std::move(names));
  return apply_options(ds, opts);
}

DatasetPtr load_cifar10(const std::string& dir, bool train, const DatasetOptions& opts) {
  std::error_code ec;
  RESA_CHECK(fs::is_directory(dir, ec), "[cifar] {}: directory does not exist", dir);
  std::vector<std::string> files;
  if (train)
    for (int b = 1; b <= 5; ++b) files.push_back((fs::path(dir) / fmt::format("data_batch_{}.bin", b)).string());
  else
    files.push_back((fs::path(dir) / "test_batch.bin").string());
  auto meta = (fs::path(dir) / "batches.meta.txt").string();
  std::vector<std::string> names = fs::exists(meta, ec) ? read_lines(meta) : std::vector<std::string>{};
  return load_cifar_files(files, CifarKind::Cifar10, names, opts);
}

DatasetPtr load_cifar100(const std::string& dir, bool train, bool coarse, const DatasetOptions& opts) {
  std::error_code ec;
  RESA_CHECK(fs::is_directory(dir, ec), "[cifar] {}: directory does not exist", dir);
  std::vector<std::string> files{(fs::path(dir) / (train ? "train.bin" : "test.bin")).string()};
  auto meta = (fs::path(dir) / (coarse ? "coarse_label_names.txt" : "fine_label_names.txt")).string();
  std::vector<std::string> names = fs::exists(meta, ec) ? read_lines(meta) : std::vector<std::string>{};
  return load_cifar_files(files, coarse ? CifarKind::Cifar100Coarse : CifarKind::Cifar100Fine, names, opts);
}

// ---------------- IDX ----------------

std::vector<uint8_t> gunzip(const uint8_t* data, size_t n, const std::string& name, size_t max_out) {
  z_stream zs{};
  // 15 + 32: zlib or gzip header, detected automatically.
  RESA_CHECK(inflateInit2(&zs, 15 + 32) == Z_OK, "[gzip] {}: cannot initialise zlib", name);
  std::vector<uint8_t> out;
  out.resize(std::min<size_t>(std::max<size_t>(n * 4, 1 << 16), max_out));
  zs.next_in = const_cast<Bytef*>(data);
  size_t consumed_total = 0;
  int rc = Z_OK;
  while (true) {
    size_t in_left = n - consumed_total;
    zs.avail_in = static_cast<uInt>(std::min<size_t>(in_left, 1u << 30));
    zs.next_in = const_cast<Bytef*>(data + consumed_total);
    if (zs.total_out == out.size()) {
      if (out.size() >= max_out) {
        inflateEnd(&zs);
        RESA_FAIL("[gzip] {}: decompressed data exceeds {} bytes", name, max_out);
      }
      out.resize(std::min(out.size() * 2, max_out));
    }
    zs.next_out = out.data() + zs.total_out;
    zs.avail_out = static_cast<uInt>(std::min<size_t>(out.size() - zs.total_out, 1u << 30));
    uInt before_in = zs.avail_in;
    rc = inflate(&zs, Z_NO_FLUSH);
    consumed_total += before_in - zs.avail_in;
    if (rc == Z_STREAM_END) break;
    if (rc == Z_BUF_ERROR && zs.avail_in == 0 && consumed_total == n && zs.avail_out > 0) {
      inflateEnd(&zs);
      RESA_FAIL("[gzip] {}: truncated compressed data", name);
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      std::string msg = zs.msg ? zs.msg : "unknown error";
      inflateEnd(&zs);
      RESA_FAIL("[gzip] {}: corrupt compressed data ({})", name, msg);
    }
  }
  out.resize(zs.total_out);
  inflateEnd(&zs);
  return out;
}

IdxArray parse_idx(const uint8_t* data, size_t n, const std::string& name) {
  std::vector<uint8_t> inflated;
  if (n >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
    inflated = gunzip(data, n, name);
    data = inflated.data();
    n = inflated.size();
  }
  RESA_CHECK(n >= 4, "[idx] {}: file of {} bytes is too short for the 4-byte magic", name, n);
  RESA_CHECK(data[0] == 0 && data[1] == 0,
             "[idx] {}: bad magic {:02x} {:02x} {:02x} {:02x} (expected 00 00 <type> <ndim>)", name, data[0], data[1],
             data[2], data[3]);
  RESA_CHECK(data[2] == 0x08, "[idx] {}: element type 0x{:02x} is not supported (only unsigned byte, 0x08)", name,
             data[2]);
  size_t nd = data[3];
  RESA_CHECK(nd >= 1 && nd <= 4, "[idx] {}: {} dimensions (expected 1 to 4)", name, nd);
  RESA_CHECK(n >= 4 + 4 * nd, "[idx] {}: truncated header ({} bytes, need {})", name, n, 4 + 4 * nd);
  IdxArray a;
  uint64_t total = 1;
  for (size_t d = 0; d < nd; ++d) {
    const uint8_t* p = data + 4 + 4 * d;
    uint32_t v = (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
    RESA_CHECK(v < (1u << 31), "[idx] {}: dimension {} has size {}", name, d, v);
    a.dims.push_back(static_cast<int64_t>(v));
    total *= v;
    RESA_CHECK(total <= (uint64_t(1) << 40), "[idx] {}: header claims more than 2^40 elements", name);
  }
  size_t header = 4 + 4 * nd;
  RESA_CHECK(n - header == total, "[idx] {}: header {} needs {} data bytes, file has {} ({})", name, shape_str(a.dims),
             total, n - header, n - header < total ? "truncated" : "trailing bytes");
  a.data.assign(data + header, data + n);
  return a;
}

IdxArray read_idx(const std::string& path) {
  auto buf = read_file(path);
  return parse_idx(buf.data(), buf.size(), path);
}

DatasetPtr load_idx(const std::string& images_path, const std::string& labels_path, int64_t num_classes,
                    const DatasetOptions& opts) {
  IdxArray im = read_idx(images_path);
  IdxArray lb = read_idx(labels_path);
  RESA_CHECK(im.dims.size() == 3 || im.dims.size() == 4, "[idx] {}: images need 3 or 4 dimensions, got {}", images_path,
             shape_str(im.dims));
  RESA_CHECK(lb.dims.size() == 1, "[idx] {}: labels need 1 dimension, got {}", labels_path, shape_str(lb.dims));
  RESA_CHECK(im.dims[0] == lb.dims[0], "[idx] {} has {} images but {} has {} labels", images_path, im.dims[0],
             labels_path, lb.dims[0]);
  int64_t h = im.dims[1], w = im.dims[2], c = im.dims.size() == 4 ? im.dims[3] : 1;
  RESA_CHECK(h > 0 && w > 0 && c > 0, "[idx] {}: empty image shape {}", images_path, shape_str(im.dims));
  std::vector<int64_t> labels(lb.data.size());
  for (size_t i = 0; i < lb.data.size(); ++i) {
    RESA_CHECK(lb.data[i] < num_classes, "[idx] {}: label {} of sample {} is outside [0, {})", labels_path, lb.data[i],
               i, num_classes);
    labels[i] = lb.data[i];
  }
  DatasetPtr ds =
      std::make_shared<InMemoryDataset>(std::move(im.data), std::move(labels), c, h, w, Layout::HWC, num_classes);
  return apply_options(ds, opts);
}

std::vector<std::string> fashion_mnist_class_names() {
  return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
}

DatasetPtr load_mnist_dir(const std::string& dir, bool train, const DatasetOptions& opts) {
  std::error_code ec;
  RESA_CHECK(fs::is_directory(dir, ec), "[idx] {}: directory does not exist", dir);
  std::string pre = train ? "train" : "t10k";
  auto find = [&](const std::string& stem) {
    auto p = fs::path(dir) / stem;
    if (fs::exists(p, ec)) return p.string();
    auto g = fs::path(dir) / (stem + ".gz");
    RESA_CHECK(fs::exists(g, ec), "[idx] {}: neither {} nor {}.gz exists", dir, stem, stem);
    return g.string();
  };
  std::string images = find(pre + "-images-idx3-ubyte");  // images first, so that is the error when both are missing
  std::string labels = find(pre + "-labels-idx1-ubyte");
  return load_idx(images, labels, 10, opts);
}

// ---------------- statistics ----------------

std::pair<std::vector<double>, std::vector<double>> channel_mean_std(const Dataset& ds, int64_t max_samples) {
  int64_t n = max_samples < 0 ? ds.size() : std::min(max_samples, ds.size());
  int64_t c = ds.channels();
  std::vector<double> s(c, 0), s2(c, 0);
  double count = 0;
  for (int64_t i = 0; i < n; ++i) {
    Image img = ds.image(i);
    RESA_CHECK(img.channels == c, "[mean_std] image {} has {} channels, expected {}", i, img.channels, c);
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t y = 0; y < img.height; ++y)
        for (int64_t x = 0; x < img.width; ++x) {
          double v = img.at(ch, y, x) / 255.0;
          s[ch] += v;
          s2[ch] += v * v;
        }
    count += static_cast<double>(img.height * img.width);
  }
  std::vector<double> mean(c), sd(c);
  for (int64_t ch = 0; ch < c; ++ch) {
    mean[ch] = count > 0 ? s[ch] / count : 0;
    sd[ch] = count > 0 ? std::sqrt(std::max(0.0, s2[ch] / count - mean[ch] * mean[ch])) : 0;
  }
  return {mean, sd};
}

}  // namespace resa::data
