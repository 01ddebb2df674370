#include "core/cuda/launch.cuh"
#include "core/kernels/kernels.h"
#include "core/kernels/resample_math.h"

namespace trim::cuda {
#include "core/kernels/resample.inc"
}  // namespace trim::cuda
