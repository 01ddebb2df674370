#include "core/cuda/launch.cuh"
#include "core/kernels/elementwise_math.h"
#include "core/kernels/kernels.h"

namespace trim::cuda {
#include "core/kernels/elementwise.inc"
}  // namespace trim::cuda
