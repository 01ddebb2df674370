// The delay kernel of delay_kernel.h: one thread spins on clock64() for a cycle count taken from
// the device's peak clock rate, so it waits at least as long as asked (a lower running clock only
// makes it longer). Its CPU twin is nothing: a delay has no result to compare.
#include "test/cuda/delay_kernel.h"

#include <cuda_runtime.h>

#include "core/cuda/check.h"
#include "core/cuda/context.h"
#include "core/cuda/runtime.h"
#include "core/error.h"

namespace trim::test {
namespace {

__global__ void spin_kernel(long long cycles) {
  const long long start = clock64();
  while (clock64() - start < cycles) {
  }
}

}  // namespace

void queue_gpu_delay(int milliseconds) {
  TRIM_CHECK(milliseconds >= 1 && milliseconds <= 10000, cat("queue_gpu_delay: ", milliseconds, " ms out of 1..10000"));
  int khz = 0;  // peak clock in kHz = cycles per millisecond
  TRIM_CUDA_CHECK(cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, cuda::current_device()));
  TRIM_CHECK(khz > 0, cat("queue_gpu_delay: the device reports a clock rate of ", khz, " kHz"));
  spin_kernel<<<1, 1, 0, cuda::stream()>>>((long long)khz * milliseconds);
  TRIM_KERNEL_CHECK();
}

}  // namespace trim::test
