#include "core/optim/sgd_step.cuh"

namespace trim {
TRIM_INSTANTIATE_SGD_STEP(DenseRule);
}
