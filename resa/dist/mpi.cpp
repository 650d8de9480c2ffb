// The MPI backend: collectives over MPI_COMM_WORLD on host memory. A CUDA tensor is staged through a
// host copy (no CUDA-aware MPI is assumed); the NCCL backend is the fast path for CUDA tensors.
#include <mpi.h>

#include <climits>

#include "resa/dist/communicator.h"

namespace resa::dist {
namespace {

#define RESA_MPI_CHECK(call)                                                                         \
  do {                                                                                               \
    int rc_ = (call);                                                                                \
    if (rc_ != MPI_SUCCESS) {                                                                        \
      char msg_[MPI_MAX_ERROR_STRING];                                                               \
      int len_ = 0;                                                                                  \
      MPI_Error_string(rc_, msg_, &len_);                                                            \
      RESA_FAIL("[mpi] {} failed at {}:{}: {}", #call, __FILE__, __LINE__, std::string(msg_, len_)); \
    }                                                                                                \
  } while (0)

MPI_Datatype mpi_type(DType d, const char* op) {
  switch (d) {
    case DType::Float32:
      return MPI_FLOAT;
    case DType::Float64:
      return MPI_DOUBLE;
    case DType::Int64:
      return MPI_INT64_T;
    case DType::UInt8:
      return MPI_UINT8_T;
    default:
      RESA_FAIL("[{}] dtype {} is not supported by the MPI backend", op, dtype_name(d));
  }
}

int count_of(const Tensor& t, const char* op) {
  RESA_CHECK(t.numel() <= INT_MAX, "[{}] tensor {} has more than INT_MAX elements; split it", op, shape_str(t.shape()));
  return static_cast<int>(t.numel());
}

// Finalises MPI at exit when this file initialised it (mpirun reports a process that exits without it).
struct Finalizer {
  bool owned = false;
  ~Finalizer() {
    int fin = 0, ini = 0;
    MPI_Initialized(&ini);
    MPI_Finalized(&fin);
    if (owned && ini && !fin) MPI_Finalize();
  }
};
Finalizer g_finalizer;

class MpiComm final : public Communicator {
 public:
  MpiComm() {
    int ini = 0;
    MPI_Initialized(&ini);
    if (!ini) {
      int provided = 0;
      // Only the training thread calls MPI; OpenMP and loader threads never do.
      RESA_MPI_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided));
      g_finalizer.owned = true;
    }
    RESA_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
    RESA_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &world_));
  }
  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  std::string backend() const override { return "mpi"; }

  void all_reduce_sum(Tensor& t) override {
    RESA_CHECK(t.defined() && t.is_contiguous(), "[all_reduce_sum] needs a defined contiguous tensor");
    if (t.numel() == 0) return;
    Tensor h = t.device().is_cpu() ? t : t.to(kCPU);
    RESA_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, h.raw_data(), count_of(h, "all_reduce_sum"),
                                 mpi_type(h.dtype(), "all_reduce_sum"), MPI_SUM, MPI_COMM_WORLD));
    if (!t.device().is_cpu()) t.copy_(h);
  }

  Tensor all_gather(const Tensor& t) override {
    RESA_CHECK(t.defined() && t.dim() >= 1, "[all_gather] needs a tensor with a leading dimension");
    Tensor h = t.detach().to(kCPU).contiguous();
    Shape s = h.shape();
    s[0] *= world_;
    Tensor out = Tensor::empty(s, h.dtype(), kCPU);
    if (h.numel() > 0)
      RESA_MPI_CHECK(MPI_Allgather(h.raw_data(), count_of(h, "all_gather"), mpi_type(h.dtype(), "all_gather"),
                                   out.raw_data(), count_of(h, "all_gather"), mpi_type(h.dtype(), "all_gather"),
                                   MPI_COMM_WORLD));
    return t.device().is_cpu() ? out : out.to(t.device());
  }

  void broadcast(Tensor& t, int root) override {
    RESA_CHECK(t.defined() && t.is_contiguous(), "[broadcast] needs a defined contiguous tensor");
    RESA_CHECK(root >= 0 && root < world_, "[broadcast] root {} is not a rank of a world of {}", root, world_);
    if (t.numel() == 0) return;
    Tensor h = t.device().is_cpu() ? t : t.to(kCPU);
    RESA_MPI_CHECK(
        MPI_Bcast(h.raw_data(), count_of(h, "broadcast"), mpi_type(h.dtype(), "broadcast"), root, MPI_COMM_WORLD));
    if (!t.device().is_cpu()) t.copy_(h);
  }

  void barrier() override { RESA_MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD)); }

 private:
  int rank_ = 0, world_ = 1;
};

}  // namespace

bool mpi_compiled() { return true; }
CommPtr make_mpi() { return std::make_shared<MpiComm>(); }

}  // namespace resa::dist
