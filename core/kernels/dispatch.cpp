// What the rooms below the kernels reach only through a declaration: the CPU-only build's answer to
// a CUDA dispatch, and Tensor::fill_ (declared with the tensor, which cannot include the kernels).
#include "core/kernels/kernels.h"

namespace trim {

void no_cuda_backend(const char* kernel) {
  TRIM_CHECK(false, cat("kernel '", kernel, "' called on a CUDA tensor, but this build has no CUDA backend"));
}

Tensor& Tensor::fill_(float value) {
  DeviceScope on(device());  // factories may build tensors on a device that is not current
  TRIM_DISPATCH(device(), fill, *this, value);
  bump_version();
  return *this;
}

}  // namespace trim
