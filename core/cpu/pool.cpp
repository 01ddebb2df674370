#include "core/cpu/parallel.h"
#include "core/kernels/kernels.h"
#include "core/kernels/pool_math.h"

namespace trim::cpu {
#include "core/kernels/pool.inc"

void max_pool2d_backward(const Tensor& indices, const Tensor& gy, Tensor& gx, const Pool2dParams& p) {
  int64_t planes = gx.size(0) * gx.size(1);
  pool::MaxBackwardPlane f{indices.data<int32_t>(), gy.data<float>(), gx.data<float>(), pool_geom(gx, gy, p)};
  parallel_for(planes, gx.numel() >= kParallelGrain, [&](int64_t plane) { f(plane); });
}

}  // namespace trim::cpu
