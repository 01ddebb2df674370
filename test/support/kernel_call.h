#pragma once
// Calls one backend kernel directly (no op layer, no autograd) on the tensors' device, and makes
// host test data. For tests that compare the CUDA kernels with their CPU twins.
#include <cstdint>
#include <vector>

#include "core/kernels/kernels.h"
#include "core/random/philox.h"

#ifdef TRIM_HAVE_CUDA
#define TRIM_TEST_KERNEL(dev, fn, ...) \
  ((dev).is_cuda() ? ::trim::cuda::fn(__VA_ARGS__) : ::trim::cpu::fn(__VA_ARGS__))
#else
#define TRIM_TEST_KERNEL(dev, fn, ...) ::trim::cpu::fn(__VA_ARGS__)
#endif

namespace trim::test {

// n values of N(0, 1) (or scale * N(0, 1)) from a fixed seed.
inline std::vector<float> normal_values(int64_t n, uint64_t seed, float scale = 1.0f) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = scale * philox::normal(seed, 0, i);
  return v;
}

inline Tensor normal_tensor(const Shape& s, uint64_t seed, Device d, float scale = 1.0f) {
  return Tensor::from_vector(s, normal_values(s.numel(), seed, scale), d);
}

// A convolution of the kernel tests: input x [N, C, H, W], weight w [O, C/g, kh, kw].
struct ConvCase {
  const char* name;
  Shape x, w;
  Conv2dParams p;
  // The output shape [N, O, Ho, Wo].
  Shape y() const {
    return Shape{x[0], w[0], window_out(x[2], int(w[2]), p.stride_h, p.pad_h, p.dil_h),
                 window_out(x[3], int(w[3]), p.stride_w, p.pad_w, p.dil_w)};
  }
};

}  // namespace trim::test
