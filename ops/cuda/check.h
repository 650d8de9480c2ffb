// Internal to ops/cuda: error checks for every CUDA and cuBLAS call, the per-device stream and cuBLAS
// handle, launch helpers. Includes CUDA headers, so only ops/cuda/ sources include it.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace resa::cuda {

// Throw resa::Error naming the file, line, the call and the error string.
[[noreturn]] void fail_cuda(const char* file, int line, const char* call, cudaError_t err);
[[noreturn]] void fail_cublas(const char* file, int line, const char* call, cublasStatus_t status);
[[noreturn]] void fail_message(const char* file, int line, const char* what);

// The stream of the current device: every kernel, copy and cuBLAS call of the engine runs on it, so
// work is ordered and a freed block can be reused at once by the next op.
cudaStream_t stream();
// The cuBLAS handle of the current device, bound to stream().
cublasHandle_t cublas_handle();
// Number of multiprocessors of the current device (for sizing grids).
int sm_count();

// Scratch device memory from the caching allocator, freed when the object goes out of scope. Used by
// kernels that need partial results (two-pass reductions, im2col buffers).
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t nbytes);
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* get() const { return ptr_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
  size_t nbytes_ = 0;
  int device_ = 0;
};

}  // namespace resa::cuda

#define RESA_CUDA_CHECK(call)                                                                    \
  do {                                                                                           \
    cudaError_t resa_err_ = (call);                                                              \
    if (resa_err_ != cudaSuccess) ::resa::cuda::fail_cuda(__FILE__, __LINE__, #call, resa_err_); \
  } while (0)

#define RESA_CUBLAS_CHECK(call)                                                                            \
  do {                                                                                                     \
    cublasStatus_t resa_st_ = (call);                                                                      \
    if (resa_st_ != CUBLAS_STATUS_SUCCESS) ::resa::cuda::fail_cublas(__FILE__, __LINE__, #call, resa_st_); \
  } while (0)

// After every kernel launch: reports a bad launch configuration (or an earlier asynchronous fault)
// at the launch site, with the kernel's name.
#define RESA_CUDA_LAUNCH_CHECK(kernel_name)                                                                         \
  do {                                                                                                              \
    cudaError_t resa_err_ = cudaGetLastError();                                                                     \
    if (resa_err_ != cudaSuccess) ::resa::cuda::fail_cuda(__FILE__, __LINE__, "launch of " kernel_name, resa_err_); \
  } while (0)
