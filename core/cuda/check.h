#pragma once
// Status checks for CUDA, cuBLAS, cuDNN and cuSPARSE calls: a failure throws trim::Error with file:line and
// the library's own description.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <cusparse.h>

#include "core/error.h"

namespace trim::cuda {
const char* cublas_status_name(cublasStatus_t s);

// TRIM_CUDA_SYNC=1 in the environment: wait for the device after every kernel launch and library
// call, so an asynchronous fault (an illegal address) is reported at the call that caused it.
bool sync_each_call();
void count_launch() noexcept;  // see kernel_launches() in runtime.h
// Waits for the device and throws, naming file:line, if any queued work failed.
void sync_check(const char* file, int line);
}  // namespace trim::cuda

#define TRIM_CUDA_SYNC_POINT() \
  do {                         \
    if (::trim::cuda::sync_each_call()) ::trim::cuda::sync_check(__FILE__, __LINE__); \
  } while (0)

// A failed call is also taken out of the runtime's last-error slot before the throw: the error is
// reported here, once, and the next TRIM_KERNEL_CHECK (which reads that slot) does not blame an
// unrelated launch for it. Sticky errors (a kernel fault) stay: every later call reports them anyway.
#define TRIM_CUDA_CHECK(expr)                                                                          \
  do {                                                                                                 \
    cudaError_t trim_status_ = (expr);                                                                 \
    if (trim_status_ != cudaSuccess) {                                                                 \
      (void)cudaGetLastError();                                                                        \
      ::trim::fail_at(__FILE__, __LINE__, ::trim::cat(#expr, ": ", cudaGetErrorString(trim_status_))); \
    }                                                                                                  \
  } while (0)

#define TRIM_CUBLAS_CHECK(expr)                                                                                 \
  do {                                                                                                          \
    cublasStatus_t trim_status_ = (expr);                                                                       \
    if (trim_status_ != CUBLAS_STATUS_SUCCESS)                                                                  \
      ::trim::fail_at(__FILE__, __LINE__, ::trim::cat(#expr, ": ", ::trim::cuda::cublas_status_name(trim_status_))); \
    TRIM_CUDA_SYNC_POINT();                                                                                     \
  } while (0)

#define TRIM_CUDNN_CHECK(expr)                                                                          \
  do {                                                                                                  \
    cudnnStatus_t trim_status_ = (expr);                                                                \
    if (trim_status_ != CUDNN_STATUS_SUCCESS)                                                           \
      ::trim::fail_at(__FILE__, __LINE__, ::trim::cat(#expr, ": ", cudnnGetErrorString(trim_status_))); \
    TRIM_CUDA_SYNC_POINT();                                                                             \
  } while (0)

#define TRIM_CUSPARSE_CHECK(expr)                                                                          \
  do {                                                                                                     \
    cusparseStatus_t trim_status_ = (expr);                                                                \
    if (trim_status_ != CUSPARSE_STATUS_SUCCESS)                                                           \
      ::trim::fail_at(__FILE__, __LINE__, ::trim::cat(#expr, ": ", cusparseGetErrorString(trim_status_))); \
    TRIM_CUDA_SYNC_POINT();                                                                                \
  } while (0)

// After every kernel launch: catches bad launch configurations at the launch site (and, with
// TRIM_CUDA_SYNC=1, faults while the kernel runs).
#define TRIM_KERNEL_CHECK()               \
  do {                                    \
    ::trim::cuda::count_launch();         \
    TRIM_CUDA_CHECK(cudaGetLastError());  \
    TRIM_CUDA_SYNC_POINT();               \
  } while (0)
