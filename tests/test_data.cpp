// Dataset readers on files the test writes itself (CIFAR-10, CIFAR-100, IDX plain and gzip, a folder of
// PNG and JPEG), every bad-input case with its message, the wrappers (subset, gray to RGB, padding),
// and the real Fashion-MNIST test set when it is installed.
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "resa/data/dataset.h"
#include "test_util.h"

using namespace resa;
using namespace resa::data;
namespace fs = std::filesystem;

namespace {

fs::path scratch(const std::string& name) {
  fs::path p = fs::path(RESA_TEST_TMP) / "data" / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

void write_bytes(const fs::path& p, const std::vector<uint8_t>& b) {
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

void write_gz(const fs::path& p, const std::vector<uint8_t>& b) {
  gzFile f = gzopen(p.string().c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, b.data(), static_cast<unsigned>(b.size())) == static_cast<int>(b.size()));
  gzclose(f);
}

// Pixel value of record r, channel c, row y, column x in the synthetic files.
uint8_t pix(int r, int c, int y, int x) { return static_cast<uint8_t>(r * 7 + c * 50 + y * 3 + x); }

std::vector<uint8_t> cifar_records(int count, int first, int header, std::vector<std::array<uint8_t, 2>> labels) {
  std::vector<uint8_t> b;
  for (int r = 0; r < count; ++r) {
    for (int h = 0; h < header; ++h) b.push_back(labels[r][h]);
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) b.push_back(pix(first + r, c, y, x));
  }
  return b;
}

std::vector<uint8_t> idx_bytes(std::vector<int> dims, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> b{0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  for (int d : dims) {
    b.push_back(static_cast<uint8_t>(d >> 24));
    b.push_back(static_cast<uint8_t>(d >> 16));
    b.push_back(static_cast<uint8_t>(d >> 8));
    b.push_back(static_cast<uint8_t>(d));
  }
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

// 6 images of 5 x 4 and labels 0..5 % 3.
void write_idx_pair(const fs::path& dir, bool gz, const std::string& prefix = "train") {
  std::vector<uint8_t> im, lb;
  for (int i = 0; i < 6; ++i) {
    for (int y = 0; y < 5; ++y)
      for (int x = 0; x < 4; ++x) im.push_back(static_cast<uint8_t>(i * 20 + y * 4 + x));
    lb.push_back(static_cast<uint8_t>(i % 3));
  }
  auto ib = idx_bytes({6, 5, 4}, im), lbb = idx_bytes({6}, lb);
  std::string ext = gz ? ".gz" : "";
  if (gz) {
    write_gz(dir / (prefix + "-images-idx3-ubyte.gz"), ib);
    write_gz(dir / (prefix + "-labels-idx1-ubyte.gz"), lbb);
  } else {
    write_bytes(dir / (prefix + "-images-idx3-ubyte"), ib);
    write_bytes(dir / (prefix + "-labels-idx1-ubyte"), lbb);
  }
}

Image rgb_image(int h, int w, int seed) {
  Image img;
  img.channels = 3;
  img.height = h;
  img.width = w;
  img.layout = Layout::HWC;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) img.pixels.push_back(static_cast<uint8_t>(seed * 40 + y * 8 + x * 5 + c * 60));
  return img;
}

#define CHECK_THROWS_MSG(expr, a, b)         \
  do {                                       \
    bool thrown = false;                     \
    try {                                    \
      (void)(expr);                          \
    } catch (const ::resa::Error& e) {       \
      thrown = true;                         \
      std::string m = e.what();              \
      INFO("message: " << m);                \
      CHECK(m.find(a) != std::string::npos); \
      CHECK(m.find(b) != std::string::npos); \
    }                                        \
    CHECK(thrown);                           \
  } while (0)

}  // namespace

TEST_CASE("CIFAR-10: train batches, test batch, class names, CHW pixels") {
  auto dir = scratch("cifar10");
  for (int b = 1; b <= 5; ++b)
    write_bytes(dir / fmt::format("data_batch_{}.bin", b),
                cifar_records(3, (b - 1) * 3, 1, {{uint8_t(b)}, {uint8_t(9)}, {uint8_t(0)}}));
  write_bytes(dir / "test_batch.bin", cifar_records(2, 100, 1, {{uint8_t(4)}, {uint8_t(5)}}));
  std::ofstream(dir / "batches.meta.txt") << "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n";

  auto tr = load_cifar10(dir.string(), true);
  REQUIRE(tr->size() == 15);
  CHECK(tr->num_classes() == 10);
  CHECK(tr->channels() == 3);
  CHECK(tr->height() == 32);
  CHECK(tr->class_names().size() == 10);
  CHECK(tr->class_names()[9] == "truck");
  CHECK(tr->label(3) == 2);  // batch 2, record 0
  CHECK(tr->label(4) == 9);
  Image im = tr->image(7);
  REQUIRE(im.channels == 3);
  CHECK(im.at(0, 0, 0) == pix(7, 0, 0, 0));
  CHECK(im.at(2, 31, 17) == pix(7, 2, 31, 17));
  CHECK(im.at(1, 5, 30) == pix(7, 1, 5, 30));
  Tensor t = im.to_tensor();
  CHECK(t.shape() == Shape{3, 32, 32});

  auto te = load_cifar10(dir.string(), false);
  REQUIRE(te->size() == 2);
  CHECK(te->label(1) == 5);
  CHECK(te->image(1).at(2, 3, 4) == pix(101, 2, 3, 4));
  RESA_CHECK_THROWS_WITH_SUBSTR(te->image(2), "out of range");
}

TEST_CASE("CIFAR-100: fine and coarse labels") {
  auto dir = scratch("cifar100");
  write_bytes(dir / "train.bin", cifar_records(3, 0, 2, {{3, 99}, {19, 0}, {0, 42}}));
  write_bytes(dir / "test.bin", cifar_records(1, 9, 2, {{7, 70}}));
  auto fine = load_cifar100(dir.string(), true, false);
  auto coarse = load_cifar100(dir.string(), true, true);
  REQUIRE(fine->size() == 3);
  CHECK(fine->num_classes() == 100);
  CHECK(coarse->num_classes() == 20);
  CHECK(fine->label(0) == 99);
  CHECK(coarse->label(0) == 3);
  CHECK(fine->label(2) == 42);
  CHECK(coarse->label(1) == 19);
  CHECK(fine->image(2).at(1, 2, 3) == pix(2, 1, 2, 3));
  auto te = load_cifar100(dir.string(), false, false);
  CHECK(te->label(0) == 70);
}

TEST_CASE("CIFAR bad input: missing, wrong size, truncated, label out of range") {
  auto dir = scratch("cifar_bad");
  CHECK_THROWS_MSG(load_cifar10((dir / "nope").string(), true), "nope", "directory does not exist");
  CHECK_THROWS_MSG(load_cifar10(dir.string(), false), "test_batch.bin", "file does not exist");
  auto rec = cifar_records(2, 0, 1, {{1}, {2}});
  rec.resize(rec.size() - 100);  // truncated second record
  write_bytes(dir / "test_batch.bin", rec);
  CHECK_THROWS_MSG(load_cifar10(dir.string(), false), "test_batch.bin", "not a multiple of the 3073-byte record");
  write_bytes(dir / "test_batch.bin", {});
  CHECK_THROWS_MSG(load_cifar10(dir.string(), false), "test_batch.bin", "file is empty");
  write_bytes(dir / "test_batch.bin", cifar_records(2, 0, 1, {{1}, {10}}));
  CHECK_THROWS_MSG(load_cifar10(dir.string(), false), "test_batch.bin", "record 1 has label 10, outside [0, 10)");
  write_bytes(dir / "test.bin", cifar_records(1, 0, 2, {{20, 5}}));
  CHECK_THROWS_MSG(load_cifar100(dir.string(), false, true), "test.bin", "label 20, outside [0, 20)");
  write_bytes(dir / "test.bin", cifar_records(1, 0, 2, {{2, 100}}));
  CHECK_THROWS_MSG(load_cifar100(dir.string(), false, false), "test.bin", "label 100, outside [0, 100)");
  // A CIFAR-10 file read as CIFAR-100 has the wrong record size.
  write_bytes(dir / "test.bin", cifar_records(2, 0, 1, {{1}, {2}}));
  CHECK_THROWS_MSG(load_cifar100(dir.string(), false), "test.bin", "3074-byte record");
}

TEST_CASE("IDX: plain and gzip give the same dataset") {
  auto plain = scratch("idx_plain"), gz = scratch("idx_gz");
  write_idx_pair(plain, false);
  write_idx_pair(gz, true);
  auto a = load_mnist_dir(plain.string(), true);
  auto b = load_mnist_dir(gz.string(), true);
  for (auto ds : {a, b}) {
    REQUIRE(ds->size() == 6);
    CHECK(ds->channels() == 1);
    CHECK(ds->height() == 5);
    CHECK(ds->width() == 4);
    CHECK(ds->num_classes() == 10);
    CHECK(ds->label(4) == 1);
    Image im = ds->image(3);
    CHECK(im.at(0, 2, 1) == 3 * 20 + 2 * 4 + 1);
  }
  auto arr = read_idx((gz / "train-images-idx3-ubyte.gz").string());
  CHECK(arr.dims == std::vector<int64_t>{6, 5, 4});
}

TEST_CASE("IDX bad input: missing, bad magic, truncated, trailing bytes, bad gzip, count mismatch, label range") {
  auto dir = scratch("idx_bad");
  CHECK_THROWS_MSG(load_mnist_dir(dir.string(), true), "train-images-idx3-ubyte", "neither");
  CHECK_THROWS_MSG(read_idx((dir / "missing").string()), "missing", "file does not exist");
  auto good = idx_bytes({2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  auto f = dir / "x.idx";
  auto bad = good;
  bad[0] = 8;
  write_bytes(f, bad);
  CHECK_THROWS_MSG(read_idx(f.string()), "x.idx", "bad magic");
  bad = good;
  bad[2] = 0x0D;
  write_bytes(f, bad);
  CHECK_THROWS_MSG(read_idx(f.string()), "x.idx", "element type 0x0d is not supported");
  bad = good;
  bad.resize(bad.size() - 3);
  write_bytes(f, bad);
  CHECK_THROWS_MSG(read_idx(f.string()), "x.idx", "truncated");
  bad = good;
  bad.push_back(0);
  write_bytes(f, bad);
  CHECK_THROWS_MSG(read_idx(f.string()), "x.idx", "trailing bytes");
  write_bytes(f, {0, 0, 8, 3, 0, 0});
  CHECK_THROWS_MSG(read_idx(f.string()), "x.idx", "truncated header");
  write_bytes(f, {0, 0});
  CHECK_THROWS_MSG(read_idx(f.string()), "x.idx", "too short");
  // Huge claimed dimensions must not allocate or read: header says 2^30 x 2^30.
  write_bytes(f, idx_bytes({1 << 30, 1 << 30}, {1, 2}));
  CHECK_THROWS_MSG(read_idx(f.string()), "x.idx", "2^40");

  // gzip: truncated stream and corrupt stream.
  auto gzf = dir / "y.gz";
  write_gz(gzf, good);
  auto bytes = [&] {
    std::ifstream in(gzf, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
  }();
  auto cut = bytes;
  cut.resize(cut.size() / 2);
  write_bytes(gzf, cut);
  CHECK_THROWS_MSG(read_idx(gzf.string()), "y.gz", "truncated compressed data");
  auto corrupt = bytes;
  for (size_t i = 10; i < corrupt.size(); ++i) corrupt[i] ^= 0x5A;
  write_bytes(gzf, corrupt);
  CHECK_THROWS_MSG(read_idx(gzf.string()), "y.gz", "compressed data");

  // Image / label count mismatch and labels out of range.
  write_bytes(dir / "im", idx_bytes({2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8}));
  write_bytes(dir / "lb3", idx_bytes({3}, {0, 1, 2}));
  CHECK_THROWS_MSG(load_idx((dir / "im").string(), (dir / "lb3").string()), "has 2 images", "has 3 labels");
  write_bytes(dir / "lb", idx_bytes({2}, {0, 10}));
  CHECK_THROWS_MSG(load_idx((dir / "im").string(), (dir / "lb").string()), "lb",
                   "label 10 of sample 1 is outside [0, 10)");
  CHECK_THROWS_MSG(load_idx((dir / "lb").string(), (dir / "lb").string()), "lb", "images need 3 or 4 dimensions");
}

TEST_CASE("image folder: PNG and JPEG written with stb_image_write, classes from subfolders") {
  auto root = scratch("folder");
  fs::create_directories(root / "cat");
  fs::create_directories(root / "dog");
  Image a = rgb_image(6, 5, 0), b = rgb_image(4, 7, 1), c = rgb_image(16, 16, 2);
  write_png((root / "cat" / "a.png").string(), a);
  write_png((root / "cat" / "b.PNG").string(), b);
  write_jpg((root / "dog" / "c.jpg").string(), c, 100);
  std::ofstream(root / "dog" / "notes.txt") << "not an image";

  auto ds = load_image_folder(root.string());
  REQUIRE(ds->size() == 3);
  CHECK(ds->num_classes() == 2);
  CHECK(ds->class_names() == std::vector<std::string>{"cat", "dog"});
  CHECK(ds->label(0) == 0);
  CHECK(ds->label(2) == 1);
  Image ra = ds->image(0);
  CHECK(ra.height == 6);
  CHECK(ra.width == 5);
  CHECK(ra.pixels == a.pixels);  // PNG is lossless
  CHECK(ds->image(1).pixels == b.pixels);
  Image rc = ds->image(2);
  REQUIRE(rc.pixels.size() == c.pixels.size());
  int maxdiff = 0;
  for (size_t i = 0; i < rc.pixels.size(); ++i)
    maxdiff = std::max(maxdiff, std::abs(int(rc.pixels[i]) - int(c.pixels[i])));
  CHECK(maxdiff <= 12);  // JPEG at quality 100 on a smooth gradient (chroma subsampling)

  auto gray = load_image_folder(root.string(), FolderOptions().channels(1).preload());
  CHECK(gray->channels() == 1);
  CHECK(gray->image(0).channels == 1);
}

TEST_CASE("image folder bad input: missing root, no classes, undecodable image, skip with warning") {
  auto root = scratch("folder_bad");
  CHECK_THROWS_MSG(load_image_folder((root / "none").string()), "none", "folder does not exist");
  CHECK_THROWS_MSG(load_image_folder(root.string()), "folder_bad", "no class subfolders");
  fs::create_directories(root / "k0");
  CHECK_THROWS_MSG(load_image_folder(root.string()), "folder_bad", "no readable images");
  write_png((root / "k0" / "good.png").string(), rgb_image(3, 3, 0));
  write_bytes(root / "k0" / "broken.png", {0x89, 'P', 'N', 'G', 1, 2, 3, 4, 5});
  write_bytes(root / "k0" / "empty.jpg", {});
  CHECK_THROWS_MSG(load_image_folder(root.string()), "broken.png", "cannot decode");
  auto ds = load_image_folder(root.string(), FolderOptions().skip_bad());
  CHECK(ds->size() == 1);
  auto w = ds->warnings();
  REQUIRE(w.size() == 2);
  CHECK(w[0].find("broken.png") != std::string::npos);
  CHECK(w[1].find("empty.jpg") != std::string::npos);
  // A valid header with a corrupt body: caught at preload, or when the sample is read.
  auto png = root / "k0" / "good.png";
  std::vector<uint8_t> bytes;
  {
    std::ifstream in(png, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes.resize(40);  // keeps the IHDR chunk, drops the pixel data
  write_bytes(root / "k0" / "cut.png", bytes);
  CHECK_THROWS_MSG(load_image_folder(root.string(), FolderOptions().skip_bad(false).preload()), "", "cannot decode");
  auto lazy = load_image_folder(root.string(), FolderOptions().skip_bad());
  REQUIRE(lazy->size() == 2);  // cut.png passes the header check
  CHECK_THROWS_MSG(lazy->image(0), "cut.png", "cannot decode");
  CHECK_THROWS_MSG(load_image_folder(root.string(), FolderOptions().channels(2)), "[image_folder]", "1 or 3");
}

TEST_CASE("subset (first N, seeded random N), gray to RGB, padding") {
  auto dir = scratch("idx_wrap");
  write_idx_pair(dir, false);
  auto base = load_mnist_dir(dir.string(), true);
  auto first = load_mnist_dir(dir.string(), true, DatasetOptions().subset(4));
  REQUIRE(first->size() == 4);
  CHECK(first->image(3).pixels == base->image(3).pixels);
  auto r1 = load_mnist_dir(dir.string(), true, DatasetOptions().subset_random(4, 9));
  auto r2 = load_mnist_dir(dir.string(), true, DatasetOptions().subset_random(4, 9));
  auto r3 = load_mnist_dir(dir.string(), true, DatasetOptions().subset_random(6, 1));
  REQUIRE(r1->size() == 4);
  std::set<std::vector<uint8_t>> seen;
  for (int i = 0; i < 4; ++i) {
    CHECK(r1->image(i).pixels == r2->image(i).pixels);
    CHECK(r1->label(i) == r2->label(i));
    seen.insert(r1->image(i).pixels);
  }
  CHECK(seen.size() == 4);  // without replacement
  std::set<std::vector<uint8_t>> all;
  for (int i = 0; i < 6; ++i) all.insert(r3->image(i).pixels);
  CHECK(all.size() == 6);  // a full-size random subset is a permutation
  CHECK(load_mnist_dir(dir.string(), true, DatasetOptions().subset(100))->size() == 6);

  auto rgb = load_mnist_dir(dir.string(), true, DatasetOptions().gray_to_rgb().pad_to(8));
  CHECK(rgb->channels() == 3);
  CHECK(rgb->height() == 8);
  CHECK(rgb->width() == 8);
  Image im = rgb->image(2), src = base->image(2);
  REQUIRE(im.channels == 3);
  REQUIRE(im.height == 8);
  // 5 x 4 centered in 8 x 8: offset (1, 2).
  for (int c = 0; c < 3; ++c) {
    CHECK(im.at(c, 1 + 4, 2 + 3) == src.at(0, 4, 3));
    CHECK(im.at(c, 0, 0) == 0);
    CHECK(im.at(c, 7, 7) == 0);
  }
}

TEST_CASE("parsers from memory: CIFAR and IDX") {
  auto rec = cifar_records(2, 0, 1, {{3}, {4}});
  std::vector<uint8_t> px;
  std::vector<int64_t> lb;
  parse_cifar(rec.data(), rec.size(), CifarKind::Cifar10, "mem", px, lb);
  CHECK(lb == std::vector<int64_t>{3, 4});
  CHECK(px.size() == 2 * 3072);
  auto idx = idx_bytes({3}, {7, 8, 9});
  auto a = parse_idx(idx.data(), idx.size(), "mem");
  CHECK(a.data == std::vector<uint8_t>{7, 8, 9});
}

TEST_CASE("Fashion-MNIST test set (real files, if installed)") {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(fs::path(dir) / "t10k-images-idx3-ubyte.gz")) {
    MESSAGE("skipped: " << dir << "/t10k-images-idx3-ubyte.gz not found (install dataset-fashion-mnist)");
    return;
  }
  auto ds = load_mnist_dir(dir, false);
  REQUIRE(ds->size() == 10000);
  CHECK(ds->height() == 28);
  CHECK(ds->width() == 28);
  CHECK(ds->channels() == 1);
  std::vector<int> counts(10, 0);
  for (int64_t i = 0; i < ds->size(); ++i) {
    int64_t l = ds->label(i);
    REQUIRE(l >= 0);
    REQUIRE(l < 10);
    counts[l]++;
  }
  for (int c : counts) CHECK(c == 1000);  // the test set is balanced
  Image im = ds->image(0);
  CHECK(im.pixels.size() == 784);
  int nonzero = 0;
  for (auto v : im.pixels) nonzero += v != 0;
  CHECK(nonzero > 50);
}
