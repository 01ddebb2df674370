#include "core/cpu/parallel.h"
#include "core/kernels/kernels.h"
#include "core/kernels/pool_math.h"

namespace trim::cpu {
#include "core/kernels/pool.inc"
}  // namespace trim::cpu
