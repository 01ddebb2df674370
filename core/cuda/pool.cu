#include "core/cuda/launch.cuh"
#include "core/kernels/kernels.h"
#include "core/kernels/pool_math.h"

namespace trim::cuda {
#include "core/kernels/pool.inc"

void max_pool2d_forward(const Tensor& x, Tensor& y, Tensor& indices, const Pool2dParams& p) {
  check_argmax_range(x);
  map3(y.size(0) * y.size(1), y.size(2), y.size(3),
       pool::MaxForward{x.data<float>(), y.data<float>(), indices.data<int32_t>(), pool_geom(x, y, p)});
}

void max_pool2d_backward(const Tensor& indices, const Tensor& gy, Tensor& gx, const Pool2dParams& p) {
  map3(gx.size(0) * gx.size(1), gx.size(2), gx.size(3),
       pool::MaxBackwardGather{indices.data<int32_t>(), gy.data<float>(), gx.data<float>(), pool_geom(gx, gy, p)});
}

}  // namespace trim::cuda
