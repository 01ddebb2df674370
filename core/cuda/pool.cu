#include "core/cuda/launch.cuh"
#include "core/kernels/kernels.h"
#include "core/kernels/pool_math.h"

namespace trim::cuda {
#include "core/kernels/pool.inc"
}  // namespace trim::cuda
