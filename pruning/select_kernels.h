#pragma once
// Backend kernels of magnitude and filter selection (pruning/select.h), declared for the CPU
// (select_cpu.cpp) and CUDA (select.cu) in trim::cpu / trim::cuda, so TRIM_DISPATCH picks one.
// Both build keys and masks with the per-element pieces of pruning/select_math.h, so they give the
// same masks. Kernels never allocate their outputs (only scratch); pruning/select.cpp has checked
// dtypes, shapes, devices and counts.
#include <vector>

#include "core/kernels/kernels.h"
#include "core/tensor.h"

namespace trim::sel {

// The tensors of one ranking unit (f32, one device), ranked as the concatenation of their entries.
struct UnitTensors {
  std::vector<Tensor> w;
  std::vector<Tensor> mask;  // none (nothing pruned yet) or one per w, shaped like it
};

}  // namespace trim::sel

namespace trim::cpu {
#include "pruning/select_kernel_list.inc"
}  // namespace trim::cpu

namespace trim::cuda {
#include "pruning/select_kernel_list.inc"
}  // namespace trim::cuda
