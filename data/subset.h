#pragma once
#include <memory>

#include "data/dataset.h"

namespace trim {

// The first n examples of `base` (all of them when n <= 0 or n >= its size): quick runs and tests.
std::shared_ptr<const Dataset> first_examples(std::shared_ptr<const Dataset> base, int64_t n);

}  // namespace trim
