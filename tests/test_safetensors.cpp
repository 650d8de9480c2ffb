// safetensors reader/writer: round trips, a file written by PyTorch-side code, every malformed-file case
// with its message, and crash-safe checkpoints.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "resa/nn/io/checkpoint.h"
#include "resa/nn/io/safetensors.h"
#include "test_util.h"

using namespace resa;
using namespace resa::test;
using namespace resa::nn;

namespace {

std::vector<uint8_t> make_file(const std::string& header, size_t data_bytes, bool pad = true) {
  std::string h = header;
  if (pad) h.append((8 - h.size() % 8) % 8, ' ');
  std::vector<uint8_t> out(8 + h.size() + data_bytes, 0);
  uint64_t n = h.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, h.data(), h.size());
  return out;
}

SafetensorsData parse(const std::vector<uint8_t>& b) { return parse_safetensors(b.data(), b.size(), "case.st"); }

std::string tmp_path(const std::string& name) { return std::string(RESA_TEST_TMP) + "/" + name; }

}  // namespace

TEST_CASE("safetensors round trip of every supported dtype, with metadata and strided input") {
  Generator g(1);
  Tensor f = randn({3, 4}, {}, &g);
  Tensor d = randn({2, 2, 2}, TensorOptions().dtype(DType::Float64), &g);
  Tensor i = from_vector<int64_t>({-1, 0, 1LL << 40}, {3});
  Tensor u = from_vector<uint8_t>({0, 7, 255}, {3});
  Tensor s = scalar_tensor(2.5);
  Tensor e = zeros({0, 5});
  std::map<std::string, Tensor> in = {{"f_t", f.t()}, {"d", d}, {"i", i}, {"u", u}, {"s", s}, {"e", e}};
  auto bytes = serialize_safetensors(in, {{"epoch", "3"}, {"note", "hello \"json\""}});
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  CHECK(n % 8 == 0);
  auto out = parse_safetensors(bytes.data(), bytes.size());
  CHECK(out.metadata.at("epoch") == "3");
  CHECK(out.metadata.at("note") == "hello \"json\"");
  REQUIRE(out.tensors.size() == 6);
  CHECK(out.tensors["f_t"].shape() == Shape{4, 3});
  CHECK(max_abs_error(out.tensors["f_t"], f.t()) == 0);
  CHECK(out.tensors["d"].dtype() == DType::Float64);
  CHECK(max_abs_error(out.tensors["d"], d) == 0);
  CHECK(out.tensors["i"].to_vector<int64_t>() == std::vector<int64_t>{-1, 0, 1LL << 40});
  CHECK(out.tensors["u"].to_vector<uint8_t>() == std::vector<uint8_t>{0, 7, 255});
  CHECK(out.tensors["s"].shape().empty());
  CHECK(out.tensors["s"].item() == 2.5);
  CHECK(out.tensors["e"].shape() == Shape{0, 5});
  // and through a file
  save_safetensors(tmp_path("rt.safetensors"), in);
  CHECK(load_safetensors(tmp_path("rt.safetensors")).tensors.size() == 6);
}

TEST_CASE("a safetensors file written by the PyTorch-side script loads") {
  auto st = load_safetensors(std::string(RESA_TEST_DATA) + "/nn_resnet18_w8.safetensors");
  CHECK(st.metadata.at("arch") == "resnet18");
  CHECK(st.tensors.at("conv1.weight").shape() == Shape{8, 3, 3, 3});
  CHECK(st.tensors.at("layer2.0.downsample.0.weight").shape() == Shape{16, 8, 1, 1});
  CHECK(st.tensors.at("layer4.1.bn2.num_batches_tracked").dtype() == DType::Int64);
  CHECK(st.tensors.at("layer4.1.bn2.num_batches_tracked").item() == 7);
  CHECK(st.tensors.size() == 120);  // 6 stem + 8 blocks x 12 + 3 downsample x 6
}

TEST_CASE("malformed safetensors files are rejected with a message naming the file and the problem") {
  const std::string ok = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  CHECK_NOTHROW(parse(make_file(ok, 8)));
  std::vector<uint8_t> few = {1, 2, 3};
  RESA_CHECK_THROWS_WITH_SUBSTR(parse(few), "case.st: file is 3 bytes");
  auto big = make_file(ok, 8);
  uint64_t huge = 200ull * 1000 * 1000;
  std::memcpy(big.data(), &huge, 8);
  RESA_CHECK_THROWS_WITH_SUBSTR(parse(big), "exceeds the limit");
  auto past = make_file(ok, 8);
  uint64_t n = 4096;
  std::memcpy(past.data(), &n, 8);
  RESA_CHECK_THROWS_WITH_SUBSTR(parse(past), "runs past the end of the file");
  auto trunc = make_file(ok, 8);
  trunc.resize(trunc.size() - 3);
  RESA_CHECK_THROWS_WITH_SUBSTR(parse(trunc), "beyond the data section");
  RESA_CHECK_THROWS_WITH_SUBSTR(parse(make_file(R"({"a":{"dtype":"F32","shape":[2],)", 8)), "invalid JSON");
  RESA_CHECK_THROWS_WITH_SUBSTR(parse(make_file("[1,2]", 0)), "not a JSON object");
  RESA_CHECK_THROWS_WITH_SUBSTR(parse(make_file(std::string(100, '[') + std::string(100, ']'), 0)),
                                "nested too deeply");
  RESA_CHECK_THROWS_WITH_SUBSTR(parse(make_file(R"({"a":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}})", 8)),
                                "unknown dtype 'Q7'");
  RESA_CHECK_THROWS_WITH_SUBSTR(parse(make_file(R"({"a":{"dtype":"BF16","shape":[4],"data_offsets":[0,8]}})", 8)),
                                "BF16, which is not supported");
  RESA_CHECK_THROWS_WITH_SUBSTR(parse(make_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8)),
                                "needs 12 bytes");
  RESA_CHECK_THROWS_WITH_SUBSTR(parse(make_file(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8)),
                                "not a non-negative integer");
  RESA_CHECK_THROWS_WITH_SUBSTR(
      parse(make_file(R"({"a":{"dtype":"U8","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}})", 8)),
      "absurd shape");
  RESA_CHECK_THROWS_WITH_SUBSTR(parse(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8)),
                                "begin after end");
  RESA_CHECK_THROWS_WITH_SUBSTR(parse(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 12)),
                                "hole in the data section");
  RESA_CHECK_THROWS_WITH_SUBSTR(parse(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8)),
                                "hole in the data section");
  RESA_CHECK_THROWS_WITH_SUBSTR(
      parse(make_file(
          R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
          12)),
      "overlaps");
  RESA_CHECK_THROWS_WITH_SUBSTR(parse(make_file(R"({"a":{"dtype":"F32","shape":[2]}})", 8)), "data_offsets");
  RESA_CHECK_THROWS_WITH_SUBSTR(parse(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", 8)),
                                "unknown field 'x'");
  RESA_CHECK_THROWS_WITH_SUBSTR(parse(make_file(R"({"__metadata__":{"k":1}})", 0)), "is not a string");
  RESA_CHECK_THROWS_WITH_SUBSTR(load_safetensors(tmp_path("does_not_exist.safetensors")), "cannot open");
}

TEST_CASE("checkpoints: metadata round trip, atomic replace, truncated file keeps the previous one usable") {
  std::string path = tmp_path("ckpt.safetensors");
  Checkpoint c;
  c.put("model", {{"w", from_vector<float>({1, 2, 3}, {3})}});
  c.put("optim", {{"0.0.momentum_buffer", from_vector<float>({4, 5, 6}, {3})}});
  c.epoch = 4;
  c.step = 1234;
  c.rng_seed = 42;
  c.rng_offset = 1ull << 40;
  c.config = R"({"lr": 0.3, "arch": "resnet18"})";
  c.extra["note"] = "first";
  save_checkpoint(path, c);
  CHECK(!std::filesystem::exists(path + ".tmp"));
  auto r = load_checkpoint(path);
  CHECK(r.epoch == 4);
  CHECK(r.step == 1234);
  CHECK(r.rng_seed == 42);
  CHECK(r.rng_offset == (1ull << 40));
  CHECK(nlohmann::json::parse(r.config)["arch"] == "resnet18");
  CHECK(r.extra.at("note") == "first");
  CHECK(r.get("model").at("w").to_vector<float>() == std::vector<float>{1, 2, 3});
  CHECK(r.get("optim").at("0.0.momentum_buffer").to_vector<float>() == std::vector<float>{4, 5, 6});

  // A save interrupted before the rename leaves a partial .tmp: the checkpoint itself is untouched.
  {
    auto bytes = serialize_safetensors(c.tensors, {{"format", "resa-checkpoint-1"}});
    std::ofstream tmp(path + ".tmp", std::ios::binary);
    tmp.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size() / 2));
  }
  CHECK(load_checkpoint(path).step == 1234);
  // A truncated copy gives a clear error.
  std::string bad = tmp_path("ckpt_truncated.safetensors");
  std::filesystem::copy_file(path, bad, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::resize_file(bad, std::filesystem::file_size(bad) - 5);
  RESA_CHECK_THROWS_WITH_SUBSTR(load_checkpoint(bad), "ckpt_truncated.safetensors");
  RESA_CHECK_THROWS_WITH_SUBSTR(load_checkpoint(bad), "beyond the data section");
  std::filesystem::resize_file(bad, 20);
  RESA_CHECK_THROWS_WITH_SUBSTR(load_checkpoint(bad), "runs past the end");
  // A plain safetensors file is not a checkpoint.
  save_safetensors(bad, {{"w", zeros({2})}});
  RESA_CHECK_THROWS_WITH_SUBSTR(load_checkpoint(bad), "not a resa checkpoint");
  // The next save replaces the previous checkpoint (and the stale .tmp).
  c.step = 2000;
  save_checkpoint(path, c);
  CHECK(load_checkpoint(path).step == 2000);
  CHECK(!std::filesystem::exists(path + ".tmp"));
  c.config = "{not json";
  RESA_CHECK_THROWS_WITH_SUBSTR(save_checkpoint(path, c), "config is not valid JSON");
  CHECK(load_checkpoint(path).step == 2000);
}
