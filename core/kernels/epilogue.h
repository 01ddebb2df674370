#pragma once
// What a fused inference kernel applies to each output after adding the bias (deployment folds the
// activation that follows a layer into the layer). Shared by the sparse ops (core/ops/sparse.h) and
// their CPU and CUDA kernels (kernel_list.inc).
#include "core/base.h"

namespace trim {

enum class Epilogue { none, relu, relu6 };

// The activation of one value (NaN -> 0 under relu, as the reference loops); the CPU kernels'
// vector paths apply the same max/min.
TRIM_HD float apply_epilogue(Epilogue act, float v) {
  if (act == Epilogue::none) return v;
  v = v > 0.0f ? v : 0.0f;
  return act == Epilogue::relu6 ? (v < 6.0f ? v : 6.0f) : v;
}

}  // namespace trim
