#pragma once
// Per-device CUDA state for code that speaks CUDA types: the compute stream, library handles
// bound to it, and a per-thread stream override (the data loader copies on its own stream).
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

namespace trim::cuda {

// The stream the calling thread issues work on: its override if set, else the current device's
// compute stream.
cudaStream_t stream();

// Sets the calling thread's stream for its lifetime.
class StreamGuard {
 public:
  explicit StreamGuard(cudaStream_t s);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  cudaStream_t prev_;
};

// Library handles of the current device, bound to its compute stream. Use from the thread that
// runs the model.
cublasHandle_t cublas();
void cublas_math_mode(cublasHandle_t h, cublasMath_t mode);  // sets it only when it changes
cudnnHandle_t cudnn();
int sm_count();

}  // namespace trim::cuda
