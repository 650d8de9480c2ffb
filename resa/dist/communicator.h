// Collectives between the processes of a data-parallel run. One interface, three backends:
//   single process (world 1, every collective is the identity), MPI for CPU tensors
//   (resa/dist/mpi.cpp, built when RESA_MPI is ON) and NCCL for CUDA tensors (resa/dist/nccl.cpp,
//   RESA_NCCL), whose unique id travels over MPI.
// Every rank must call the same collectives in the same order with tensors of the same shape and dtype.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "resa/core/tensor.h"

namespace resa::dist {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual std::string backend() const = 0;
  // t = sum over ranks of t, in place. t must be contiguous.
  virtual void all_reduce_sum(Tensor& t) = 0;
  // Every rank's t (same shape) concatenated along dim 0 in rank order: (world * n, ...).
  virtual Tensor all_gather(const Tensor& t) = 0;
  // t = root's t, in place. t must be contiguous.
  virtual void broadcast(Tensor& t, int root) = 0;
  virtual void barrier() = 0;
};
using CommPtr = std::shared_ptr<Communicator>;

// World 1, no MPI: all_reduce and broadcast leave t as it is, all_gather returns a copy.
class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  std::string backend() const override { return "single"; }
  void all_reduce_sum(Tensor& t) override;
  Tensor all_gather(const Tensor& t) override;
  void broadcast(Tensor& t, int root) override;
  void barrier() override {}
};

// Whether this build has the MPI / NCCL backends.
bool mpi_compiled();
bool nccl_compiled();
// Whether this process was started by mpirun (Open MPI sets OMPI_COMM_WORLD_SIZE; PMI_SIZE for others).
bool launched_by_mpi();

// The process-wide communicator: MPI when launched by mpirun (and built with MPI), else single
// process. The first call initialises MPI (finalised at exit); later calls return the same one.
CommPtr init();

// The MPI communicator over MPI_COMM_WORLD (initialises MPI). Throws when built without MPI.
CommPtr make_mpi();
// An NCCL communicator for CUDA tensors on CUDA device `device` (made current), its unique id
// broadcast over `mpi`; host tensors go through `mpi`. Throws when built without NCCL.
CommPtr make_nccl(const CommPtr& mpi, int device);
// This rank's index among the ranks on its machine (OMPI_COMM_WORLD_LOCAL_RANK; 0 outside mpirun):
// the GPU it should use.
int local_rank();

}  // namespace resa::dist
