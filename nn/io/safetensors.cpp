#include "resa/nn/io/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

namespace resa::nn {

static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

namespace {

using json = nlohmann::json;

// Codes of the format that we can hold, and those we know but do not hold (rejected with a clear message).
bool dtype_from_code(const std::string& code, DType* out) {
  if (code == "F32") {
    *out = DType::Float32;
    return true;
  }
  if (code == "F64") {
    *out = DType::Float64;
    return true;
  }
  if (code == "I64") {
    *out = DType::Int64;
    return true;
  }
  if (code == "U8") {
    *out = DType::UInt8;
    return true;
  }
  return false;
}

bool known_unsupported_code(const std::string& code) {
  static const char* codes[] = {"BOOL", "I8",      "I16",     "U16",     "F16", "BF16",    "I32",     "U32",
                                "U64",  "F8_E5M2", "F8_E4M3", "F8_E8M0", "F4",  "F6_E2M3", "F6_E3M2", "C64"};
  for (const char* c : codes)
    if (code == c) return true;
  return false;
}

// Deep nesting is never valid here (at most header -> entry -> shape); rejecting it before parsing keeps
// the JSON parser's recursion bounded on hostile input.
bool nesting_within(const char* p, size_t n, int limit) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < n; ++i) {
    char c = p[i];
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"')
      in_string = true;
    else if (c == '{' || c == '[') {
      if (++depth > limit) return false;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return true;
}

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

}  // namespace

std::string safetensors_dtype_code(DType t) {
  switch (t) {
    case DType::Float32:
      return "F32";
    case DType::Float64:
      return "F64";
    case DType::Int64:
      return "I64";
    case DType::UInt8:
      return "U8";
  }
  RESA_FAIL("[safetensors] unknown dtype");
}

SafetensorsData parse_safetensors(const uint8_t* data, size_t size, const std::string& name) {
#define ST_CHECK(cond, ...) RESA_CHECK(cond, "[safetensors] {}: {}", name, fmt::format(__VA_ARGS__))
  ST_CHECK(size >= 8, "file is {} bytes, too short for the 8-byte header length (truncated?)", size);
  uint64_t n = 0;
  std::memcpy(&n, data, 8);
  ST_CHECK(n <= kSafetensorsMaxHeader, "header length {} exceeds the limit of {} bytes", n, kSafetensorsMaxHeader);
  ST_CHECK(n <= size - 8, "header length {} runs past the end of the file ({} bytes; truncated?)", n, size);
  ST_CHECK(n >= 2, "header length {} is too small for a JSON object", n);
  const char* hdr = reinterpret_cast<const char*>(data + 8);
  ST_CHECK(nesting_within(hdr, n, 8), "header JSON is nested too deeply");
  json j;
  try {
    j = json::parse(hdr, hdr + n);
  } catch (const json::exception& e) {
    RESA_FAIL("[safetensors] {}: invalid JSON header: {}", name, e.what());
  }
  ST_CHECK(j.is_object(), "header is not a JSON object");
  const uint64_t data_size = size - 8 - n;
  const uint8_t* body = data + 8 + n;

  SafetensorsData out;
  std::vector<Entry> entries;
  for (auto& [key, v] : j.items()) {
    if (key == "__metadata__") {
      ST_CHECK(v.is_object(), "__metadata__ is not an object");
      for (auto& [mk, mv] : v.items()) {
        ST_CHECK(mv.is_string(), "__metadata__ value of '{}' is not a string", mk);
        out.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    ST_CHECK(v.is_object(), "entry '{}' is not an object", key);
    for (auto& [field, _] : v.items())
      ST_CHECK(field == "dtype" || field == "shape" || field == "data_offsets", "entry '{}' has unknown field '{}'",
               key, field);
    ST_CHECK(v.contains("dtype") && v["dtype"].is_string(), "entry '{}' has no string 'dtype'", key);
    ST_CHECK(v.contains("shape") && v["shape"].is_array(), "entry '{}' has no array 'shape'", key);
    ST_CHECK(v.contains("data_offsets") && v["data_offsets"].is_array() && v["data_offsets"].size() == 2,
             "entry '{}' has no 'data_offsets' pair", key);
    Entry e;
    e.name = key;
    std::string code = v["dtype"].get<std::string>();
    if (!dtype_from_code(code, &e.dtype)) {
      ST_CHECK(!known_unsupported_code(code), "entry '{}' has dtype {}, which is not supported (F32, F64, I64, U8)",
               key, code);
      RESA_FAIL("[safetensors] {}: entry '{}' has unknown dtype '{}'", name, key, code);
    }
    uint64_t count = 1;
    for (auto& d : v["shape"]) {
      ST_CHECK(d.is_number_unsigned(), "entry '{}' has a shape entry that is not a non-negative integer", key);
      uint64_t dv = d.get<uint64_t>();
      ST_CHECK(dv <= (1ull << 48) && !__builtin_mul_overflow(count, dv, &count), "entry '{}' has an absurd shape", key);
      e.shape.push_back(static_cast<int64_t>(dv));
    }
    ST_CHECK(e.shape.size() <= 16, "entry '{}' has {} dims (at most 16)", key, e.shape.size());
    for (auto& o : v["data_offsets"])
      ST_CHECK(o.is_number_unsigned(), "entry '{}' has a data offset that is not a non-negative integer", key);
    e.begin = v["data_offsets"][0].get<uint64_t>();
    e.end = v["data_offsets"][1].get<uint64_t>();
    ST_CHECK(e.begin <= e.end, "entry '{}' has data_offsets [{}, {}] with begin after end", key, e.begin, e.end);
    ST_CHECK(e.end <= data_size, "entry '{}' has data_offsets [{}, {}] beyond the data section of {} bytes", key,
             e.begin, e.end, data_size);
    uint64_t nbytes = 0;
    ST_CHECK(!__builtin_mul_overflow(count, dtype_size(e.dtype), &nbytes) && nbytes == e.end - e.begin,
             "entry '{}' of dtype {} and shape {} needs {} bytes but data_offsets [{}, {}] hold {}", key, code,
             shape_str(e.shape), count * dtype_size(e.dtype), e.begin, e.end, e.end - e.begin);
    entries.push_back(std::move(e));
  }
  // The tensors must tile the data section exactly: sorted by offset, each starts where the last ended.
  std::vector<const Entry*> order;
  for (auto& e : entries) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t pos = 0;
  for (const Entry* e : order) {
    ST_CHECK(e->begin >= pos, "entry '{}' at data_offsets [{}, {}] overlaps the previous tensor (which ends at {})",
             e->name, e->begin, e->end, pos);
    ST_CHECK(e->begin == pos, "hole in the data section: bytes [{}, {}) belong to no tensor", pos, e->begin);
    pos = e->end;
  }
  ST_CHECK(pos == data_size, "hole in the data section: bytes [{}, {}) at the end belong to no tensor", pos, data_size);
  for (auto& e : entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype, kCPU);
    if (e.end > e.begin) std::memcpy(t.raw_data(), body + e.begin, e.end - e.begin);
    out.tensors[e.name] = t;
  }
  return out;
#undef ST_CHECK
}

SafetensorsData load_safetensors(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  RESA_CHECK(f.good(), "[safetensors] {}: cannot open the file", path);
  f.seekg(0, std::ios::end);
  auto len = static_cast<size_t>(f.tellg());
  f.seekg(0, std::ios::beg);
  std::vector<uint8_t> bytes(len);
  if (len > 0) f.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(len));
  RESA_CHECK(static_cast<size_t>(f.gcount()) == len || len == 0, "[safetensors] {}: read failed", path);
  return parse_safetensors(bytes.data(), bytes.size(), path);
}

std::vector<uint8_t> serialize_safetensors(const std::map<std::string, Tensor>& tensors,
                                           const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) {
    json m = json::object();
    for (auto& [k, v] : metadata) m[k] = v;
    header["__metadata__"] = m;
  }
  std::vector<Tensor> host;
  uint64_t offset = 0;
  for (auto& [key, t] : tensors) {
    RESA_CHECK(key != "__metadata__", "[safetensors] a tensor may not be named __metadata__");
    RESA_CHECK(t.defined(), "[safetensors] tensor '{}' is undefined", key);
    Tensor h = t.detach().to(kCPU).contiguous();
    uint64_t nbytes = h.nbytes();
    header[key] = {{"dtype", safetensors_dtype_code(h.dtype())},
                   {"shape", h.shape()},
                   {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    host.push_back(h);
  }
  std::string hs = header.dump();
  hs.append((8 - hs.size() % 8) % 8, ' ');
  std::vector<uint8_t> out(8 + hs.size() + offset);
  uint64_t n = hs.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, hs.data(), hs.size());
  uint8_t* p = out.data() + 8 + hs.size();
  for (auto& h : host) {
    if (h.nbytes() > 0) std::memcpy(p, h.raw_data(), h.nbytes());
    p += h.nbytes();
  }
  return out;
}

void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  auto bytes = serialize_safetensors(tensors, metadata);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  RESA_CHECK(f.good(), "[safetensors] {}: cannot open for writing", path);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  f.close();
  RESA_CHECK(!f.fail(), "[safetensors] {}: write failed", path);
}

}  // namespace resa::nn
