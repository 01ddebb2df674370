#include "core/optim/sgd_step.cuh"
#include "pruning/greg_rule.h"

namespace trim {
TRIM_INSTANTIATE_SGD_STEP(GregRule);
}
