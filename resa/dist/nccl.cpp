// The NCCL backend: collectives on CUDA tensors of this rank's device, on the engine's stream (the
// one its kernels use), synchronised before returning so a caller may read the result.
// Host tensors (synchronized batch norm's float64 statistics, the stop flag) go to the MPI
// communicator, so one communicator serves a whole CUDA training step.
// Rank 0 creates the unique id; it reaches the other ranks through the MPI communicator.
#include <cuda_runtime.h>
#include <nccl.h>

#include <cstring>

#include "resa/dist/communicator.h"
#include "resa/ops/dispatch.h"

namespace {
// The engine's stream of the current device: the collectives run on it, so they are ordered after the
// kernels that produced their inputs.
cudaStream_t engine_stream() { return static_cast<cudaStream_t>(resa::dispatch::cuda_stream()); }
}  // namespace

namespace resa::dist {
namespace {

#define RESA_NCCL_CHECK(call)                                                                  \
  do {                                                                                         \
    ncclResult_t rc_ = (call);                                                                 \
    RESA_CHECK(rc_ == ncclSuccess, "[nccl] {} failed at {}:{}: {}", #call, __FILE__, __LINE__, \
               ncclGetErrorString(rc_));                                                       \
  } while (0)
#define RESA_CUDART_CHECK(call)                                                                \
  do {                                                                                         \
    cudaError_t rc_ = (call);                                                                  \
    RESA_CHECK(rc_ == cudaSuccess, "[nccl] {} failed at {}:{}: {}", #call, __FILE__, __LINE__, \
               cudaGetErrorString(rc_));                                                       \
  } while (0)

ncclDataType_t nccl_type(DType d, const char* op) {
  switch (d) {
    case DType::Float32:
      return ncclFloat32;
    case DType::Float64:
      return ncclFloat64;
    case DType::Int64:
      return ncclInt64;
    case DType::UInt8:
      return ncclUint8;
  }
  RESA_FAIL("[{}] dtype {} is not supported by the NCCL backend", op, dtype_name(d));
}

bool on_cuda(const Tensor& t, const char* op) {
  RESA_CHECK(t.defined(), "[{}] undefined tensor", op);
  return t.device().is_cuda();
}

class NcclComm final : public Communicator {
 public:
  NcclComm(CommPtr mpi, int device) : mpi_(std::move(mpi)) {
    RESA_CHECK(mpi_ != nullptr, "[nccl] needs a host communicator to share the unique id");
    RESA_CUDART_CHECK(cudaSetDevice(device));  // NCCL binds the communicator to the current device
    ncclUniqueId id;
    if (mpi_->rank() == 0) RESA_NCCL_CHECK(ncclGetUniqueId(&id));
    Tensor buf = Tensor::empty({static_cast<int64_t>(sizeof(id))}, DType::UInt8);
    std::memcpy(buf.raw_data(), &id, sizeof(id));
    mpi_->broadcast(buf, 0);
    std::memcpy(&id, buf.raw_data(), sizeof(id));
    RESA_NCCL_CHECK(ncclCommInitRank(&comm_, mpi_->world_size(), id, mpi_->rank()));
  }
  ~NcclComm() override {
    if (comm_) ncclCommDestroy(comm_);
  }
  int rank() const override { return mpi_->rank(); }
  int world_size() const override { return mpi_->world_size(); }
  std::string backend() const override { return "nccl"; }

  void all_reduce_sum(Tensor& t) override {
    if (!on_cuda(t, "all_reduce_sum")) return mpi_->all_reduce_sum(t);
    RESA_CHECK(t.is_contiguous(), "[all_reduce_sum] needs a contiguous tensor");
    if (t.numel() == 0) return;
    RESA_NCCL_CHECK(ncclAllReduce(t.raw_data(), t.raw_data(), static_cast<size_t>(t.numel()),
                                  nccl_type(t.dtype(), "all_reduce_sum"), ncclSum, comm_, engine_stream()));
    RESA_CUDART_CHECK(cudaStreamSynchronize(engine_stream()));
  }

  Tensor all_gather(const Tensor& t) override {
    if (!on_cuda(t, "all_gather")) return mpi_->all_gather(t);
    RESA_CHECK(t.dim() >= 1, "[all_gather] needs a tensor with a leading dimension");
    Tensor c = t.detach().contiguous();
    Shape s = c.shape();
    s[0] *= world_size();
    Tensor out = Tensor::empty(s, c.dtype(), c.device());
    if (c.numel() > 0) {
      RESA_NCCL_CHECK(ncclAllGather(c.raw_data(), out.raw_data(), static_cast<size_t>(c.numel()),
                                    nccl_type(c.dtype(), "all_gather"), comm_, engine_stream()));
      RESA_CUDART_CHECK(cudaStreamSynchronize(engine_stream()));
    }
    return out;
  }

  void broadcast(Tensor& t, int root) override {
    if (!on_cuda(t, "broadcast")) return mpi_->broadcast(t, root);
    RESA_CHECK(t.is_contiguous(), "[broadcast] needs a contiguous tensor");
    RESA_CHECK(root >= 0 && root < world_size(), "[broadcast] root {} is not a rank of a world of {}", root,
               world_size());
    if (t.numel() == 0) return;
    RESA_NCCL_CHECK(ncclBroadcast(t.raw_data(), t.raw_data(), static_cast<size_t>(t.numel()),
                                  nccl_type(t.dtype(), "broadcast"), root, comm_, engine_stream()));
    RESA_CUDART_CHECK(cudaStreamSynchronize(engine_stream()));
  }

  void barrier() override { mpi_->barrier(); }

 private:
  CommPtr mpi_;
  ncclComm_t comm_ = nullptr;
};

}  // namespace

bool nccl_compiled() { return true; }
CommPtr make_nccl(const CommPtr& mpi, int device) { return std::make_shared<NcclComm>(mpi, device); }

}  // namespace resa::dist
