#include "resa/nn/io/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "resa/nn/io/safetensors.h"

namespace resa::nn {

void Checkpoint::put(const std::string& prefix, const std::map<std::string, Tensor>& state) {
  for (auto& [k, t] : state) tensors[prefix + "." + k] = t;
}

std::map<std::string, Tensor> Checkpoint::get(const std::string& prefix) const {
  std::map<std::string, Tensor> out;
  std::string p = prefix + ".";
  for (auto it = tensors.lower_bound(p); it != tensors.end() && it->first.compare(0, p.size(), p) == 0; ++it)
    out[it->first.substr(p.size())] = it->second;
  return out;
}

void atomic_write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  RESA_CHECK(fd >= 0, "[checkpoint] {}: cannot open for writing: {}", tmp, std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      RESA_FAIL("[checkpoint] {}: write failed after {} of {} bytes: {}", tmp, done, bytes.size(), std::strerror(e));
    }
    done += static_cast<size_t>(w);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    RESA_FAIL("[checkpoint] {}: fsync/close failed: {}", tmp, std::strerror(e));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    RESA_FAIL("[checkpoint] cannot rename {} over {}: {}", tmp, path, std::strerror(e));
  }
  // Make the rename itself durable.
  auto slash = path.find_last_of('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void save_checkpoint(const std::string& path, const Checkpoint& ckpt) {
  RESA_CHECK(nlohmann::json::accept(ckpt.config), "[checkpoint] {}: config is not valid JSON", path);
  std::map<std::string, std::string> meta = ckpt.extra;
  meta["format"] = "resa-checkpoint-1";
  meta["epoch"] = std::to_string(ckpt.epoch);
  meta["step"] = std::to_string(ckpt.step);
  meta["rng_seed"] = std::to_string(ckpt.rng_seed);
  meta["rng_offset"] = std::to_string(ckpt.rng_offset);
  meta["config"] = ckpt.config;
  atomic_write_file(path, serialize_safetensors(ckpt.tensors, meta));
}

namespace {
template <typename T>
T parse_int(const std::map<std::string, std::string>& meta, const std::string& key, const std::string& path) {
  auto it = meta.find(key);
  RESA_CHECK(it != meta.end(), "[checkpoint] {}: metadata has no '{}' (not a resa checkpoint?)", path, key);
  try {
    size_t used = 0;
    T v = std::is_signed_v<T> ? static_cast<T>(std::stoll(it->second, &used))
                              : static_cast<T>(std::stoull(it->second, &used));
    RESA_CHECK(used == it->second.size(), "trailing characters");
    return v;
  } catch (const std::exception&) {
    RESA_FAIL("[checkpoint] {}: metadata '{}' = '{}' is not an integer", path, key, it->second);
  }
}
}  // namespace

Checkpoint load_checkpoint(const std::string& path) {
  SafetensorsData st = load_safetensors(path);
  auto& meta = st.metadata;
  auto f = meta.find("format");
  RESA_CHECK(f != meta.end() && f->second == "resa-checkpoint-1",
             "[checkpoint] {}: not a resa checkpoint (metadata 'format' is missing or unknown)", path);
  Checkpoint c;
  c.tensors = std::move(st.tensors);
  c.epoch = parse_int<int64_t>(meta, "epoch", path);
  c.step = parse_int<int64_t>(meta, "step", path);
  c.rng_seed = parse_int<uint64_t>(meta, "rng_seed", path);
  c.rng_offset = parse_int<uint64_t>(meta, "rng_offset", path);
  auto cfg = meta.find("config");
  RESA_CHECK(cfg != meta.end() && nlohmann::json::accept(cfg->second), "[checkpoint] {}: config is missing or not JSON",
             path);
  c.config = cfg->second;
  for (auto& [k, v] : meta)
    if (k != "format" && k != "epoch" && k != "step" && k != "rng_seed" && k != "rng_offset" && k != "config")
      c.extra[k] = v;
  return c;
}

void save_state_dict(const std::string& path, const Module& m, const std::map<std::string, std::string>& metadata) {
  std::map<std::string, Tensor> sd;
  for (auto& [k, t] : m.state_dict()) sd[k] = (t.dtype() == DType::Float64 ? t.to(DType::Float32) : t).to(kCPU);
  atomic_write_file(path, serialize_safetensors(sd, metadata));
}

void load_state_dict_file(const std::string& path, Module& m, bool strict) {
  SafetensorsData st = load_safetensors(path);
  try {
    m.load_state_dict(st.tensors, strict);
  } catch (const Error& e) {
    RESA_FAIL("{} (loading {})", e.what(), path);
  }
}

}  // namespace resa::nn
