#include "resa/dist/communicator.h"

#include <cstdlib>
#include <mutex>

namespace resa::dist {

void SingleProcess::all_reduce_sum(Tensor& t) {
  RESA_CHECK(t.defined() && t.is_contiguous(), "[all_reduce_sum] needs a defined contiguous tensor");
}

Tensor SingleProcess::all_gather(const Tensor& t) {
  RESA_CHECK(t.defined() && t.dim() >= 1, "[all_gather] needs a tensor with a leading dimension");
  return t.detach().clone();
}

void SingleProcess::broadcast(Tensor& t, int root) {
  RESA_CHECK(root == 0, "[broadcast] root {} is not a rank of a world of 1", root);
}

bool launched_by_mpi() {
  const char* n = std::getenv("OMPI_COMM_WORLD_SIZE");
  if (!n) n = std::getenv("PMI_SIZE");
  return n != nullptr && std::atoi(n) >= 1;
}

int local_rank() {
  const char* r = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK");
  if (!r) r = std::getenv("MPI_LOCALRANKID");
  return r ? std::atoi(r) : 0;
}

#ifndef RESA_WITH_MPI
bool mpi_compiled() { return false; }
CommPtr make_mpi() { RESA_FAIL("[dist] this build has no MPI backend (configure with -DRESA_MPI=ON)"); }
#endif
#ifndef RESA_WITH_NCCL
bool nccl_compiled() { return false; }
CommPtr make_nccl(const CommPtr&, int) {
  RESA_FAIL("[dist] this build has no NCCL backend (configure with -DRESA_NCCL=ON)");
}
#endif

CommPtr init() {
  static std::mutex mu;
  static CommPtr comm;
  std::lock_guard<std::mutex> lk(mu);
  if (comm) return comm;
  if (launched_by_mpi()) {
    RESA_CHECK(mpi_compiled(),
               "[dist] started by mpirun, but this build has no MPI backend (configure with -DRESA_MPI=ON)");
    comm = make_mpi();
  } else {
    comm = std::make_shared<SingleProcess>();
  }
  return comm;
}

}  // namespace resa::dist
