#include "resa/dist/data_parallel.h"

#include "resa/autograd/functions.h"
#include "resa/nn/layers.h"

namespace resa::dist {

Tensor all_gather(const Tensor& x, const CommPtr& comm) {
  RESA_CHECK(comm != nullptr, "[all_gather] no communicator");
  if (comm->world_size() == 1) return x;
  RESA_CHECK(x.defined() && x.dim() >= 1, "[all_gather] needs a tensor with a leading dimension");
  Tensor out = comm->all_gather(x.detach());
  const int64_t n = x.size(0), rank = comm->rank();
  return autograd::record(out, "all_gather", {x}, [comm, n, rank](const Tensor& g) {
    // Every rank's loss depends on every rank's rows: sum the gradients over the ranks, keep ours.
    Tensor s = g.detach().contiguous().clone();
    comm->all_reduce_sum(s);
    return std::vector<Tensor>{s.narrow(0, rank * n, n).contiguous()};
  });
}

int64_t enable_sync_batch_norm(nn::Module& m, const CommPtr& comm) {
  RESA_CHECK(comm != nullptr, "[sync_batch_norm] no communicator");
  int64_t count = 0;
  for (auto& [name, mod] : m.named_modules()) {
    auto bn = std::dynamic_pointer_cast<nn::BatchNorm>(mod);
    if (!bn) continue;
    if (comm->world_size() > 1)
      bn->set_sync([comm](Tensor& t) { comm->all_reduce_sum(t); });
    else
      bn->set_sync({});
    ++count;
  }
  return count;
}

size_t average_gradients(const std::vector<Tensor>& params, Communicator& comm, size_t bucket_bytes) {
  if (comm.world_size() == 1) return 0;
  NoGradGuard ng;
  size_t total = 0;
  const double scale = 1.0 / static_cast<double>(comm.world_size());
  std::vector<bool> done(params.size(), false);
  for (size_t first = 0; first < params.size(); ++first) {
    if (done[first]) continue;
    // One bucket: parameters of first's dtype and device, in order, up to bucket_bytes.
    const DType dt = params[first].dtype();
    const Device dev = params[first].device();
    std::vector<size_t> members;
    size_t bytes = 0;
    for (size_t i = first; i < params.size(); ++i) {
      if (done[i] || params[i].dtype() != dt || params[i].device() != dev) continue;
      const size_t b = params[i].nbytes();
      if (!members.empty() && bytes + b > bucket_bytes) break;
      members.push_back(i);
      bytes += b;
      done[i] = true;
    }
    std::vector<Tensor> flat;
    for (size_t i : members) {
      const Tensor& p = params[i];
      Tensor g = p.grad();
      flat.push_back(g.defined() ? g.detach().reshape({p.numel()})
                                 : zeros({p.numel()}, TensorOptions().dtype(dt).device(dev)));
    }
    Tensor bucket = cat(flat, 0).contiguous();
    comm.all_reduce_sum(bucket);
    bucket = mul(bucket, scale);
    int64_t off = 0;
    for (size_t i : members) {
      Tensor p = params[i];
      const int64_t n = p.numel();
      if (p.grad().defined()) p.set_grad(bucket.narrow(0, off, n).reshape(p.shape()));
      off += n;
    }
    total += bytes;
  }
  return total;
}

void broadcast_state(nn::Module& m, Communicator& comm) {
  if (comm.world_size() == 1) return;
  NoGradGuard ng;
  auto send = [&](const Tensor& t) {
    Tensor c = t.contiguous();  // parameters and buffers are contiguous: c is t itself
    comm.broadcast(c, 0);
    if (!c.same(t)) Tensor(t).copy_(c);
  };
  for (auto& [name, p] : m.named_parameters()) send(p);
  for (auto& [name, b] : m.named_buffers()) send(b);
}

}  // namespace resa::dist
