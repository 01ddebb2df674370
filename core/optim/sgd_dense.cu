#include "core/optim/sgd_step.cuh"

namespace trim {
template void sgd_step_cuda<DenseRule>(const SgdSlot<DenseRule>*, const SgdChunk*, int64_t, const SgdScalars*);
}
