#include "core/cpu/parallel.h"
#include "core/kernels/elementwise_math.h"
#include "core/kernels/kernels.h"

namespace trim::cpu {
#include "core/kernels/elementwise.inc"
}  // namespace trim::cpu
