#pragma once
// Backend kernels: the same list, declared for the CPU and for CUDA. The op layer picks one with
// TRIM_DISPATCH; kernels never allocate their outputs or record autograd.
#include "core/kernels/epilogue.h"
#include "core/kernels/params.h"
#include "core/tensor.h"

namespace trim::cpu {
#include "core/kernels/kernel_list.inc"
}  // namespace trim::cpu

namespace trim::cuda {
#include "core/kernels/kernel_list.inc"
}  // namespace trim::cuda

namespace trim {
[[noreturn]] void no_cuda_backend(const char* kernel);
}

#ifdef TRIM_HAVE_CUDA
#include "core/cuda/runtime.h"
#endif

// TRIM_DISPATCH(device, kernel, args...): calls trim::cpu::kernel or trim::cuda::kernel. A CUDA
// kernel runs on the current device's streams, so the tensors' device must be current.
#ifdef TRIM_HAVE_CUDA
#define TRIM_DISPATCH(dev, fn, ...)                                 \
  do {                                                              \
    if ((dev).is_cuda()) {                                          \
      ::trim::cuda::check_current_device((dev).index, #fn);         \
      ::trim::cuda::fn(__VA_ARGS__);                                \
    } else {                                                        \
      ::trim::cpu::fn(__VA_ARGS__);                                 \
    }                                                               \
  } while (0)
#else
#define TRIM_DISPATCH(dev, fn, ...)      \
  do {                                   \
    if ((dev).is_cuda())                 \
      ::trim::no_cuda_backend(#fn);      \
    else                                 \
      ::trim::cpu::fn(__VA_ARGS__);      \
  } while (0)
#endif
