#include "core/optim/sgd_step.cuh"
#include "pruning/mask_rule.h"

namespace trim {
template void sgd_step_cuda<MaskRule>(const SgdSlot<MaskRule>*, const SgdChunk*, int64_t, const SgdScalars*);
}
