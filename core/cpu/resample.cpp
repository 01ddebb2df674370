#include "core/cpu/parallel.h"
#include "core/kernels/kernels.h"
#include "core/kernels/resample_math.h"

namespace trim::cpu {
#include "core/kernels/resample.inc"
}  // namespace trim::cpu
