#pragma once
// A dense 2-D convolution prepared once for inference (trim-deploy): its weight and bias are
// constants, so on the CPU with oneDNN the weight is reordered into oneDNN's blocked layout once
// (the training path, conv2d, reorders it on every call) and bias, activation and a residual run
// inside the convolution (forward_inference with sum and eltwise post-ops) instead of as passes of
// their own.
// Elsewhere (CUDA, groups > 1, builds without oneDNN) it is conv2d followed by the activation.
// No autograd.
#include <memory>

#include "core/kernels/epilogue.h"
#include "core/kernels/params.h"
#include "core/tensor.h"

namespace trim {

namespace cpu {
struct InferConv;
struct DirectConv3x3;
}

class PreparedConv2d {
 public:
  // weight [O, C / groups, kh, kw] f32, bias [O] or undefined, on one device. Later changes to the
  // tensors' contents are not seen (the CPU path copies them).
  PreparedConv2d(Tensor weight, Tensor bias, const Conv2dParams& p);
  // act(conv2d(x, weight, bias, p) + residual) [N, O, Ho, Wo], the same numbers up to summation
  // order; residual (undefined: none) [N, O, Ho, Wo] f32 on x's device is a residual block's
  // shortcut. On the CPU the activation and the add cost no pass of their own (oneDNN's eltwise and
  // sum post-ops, or the direct kernel's store); elsewhere they are ops after conv2d.
  Tensor forward(const Tensor& x, Epilogue act = Epilogue::none, const Tensor& residual = Tensor()) const;

 private:
  Tensor weight_, bias_;
  Conv2dParams p_;
  std::shared_ptr<cpu::InferConv> cpu_;        // null: the conv2d path
  std::shared_ptr<cpu::DirectConv3x3> direct_;  // null: the kernel does not serve this weight
};

}  // namespace trim
