#pragma once
// A dense convolution prepared once for inference on the CPU (ops/conv_infer.h is the public
// face): oneDNN's forward_inference primitive with the constant weight reordered into oneDNN's
// blocked layout once, bias, residual and activation fused. conv_infer_onednn.cpp, built with oneDNN only.
#include <memory>

#include "core/kernels/epilogue.h"
#include "core/kernels/params.h"
#include "core/tensor.h"

namespace trim::cpu {

struct InferConv;  // primitives per input shape and thread count, with their reordered weights

// Null when this build has no oneDNN. weight [O, C, kh, kw] f32 (groups == 1), bias [O] or
// undefined; both are copied into oneDNN's layouts as they are now.
std::shared_ptr<InferConv> make_infer_conv(const Tensor& weight, const Tensor& bias, const Conv2dParams& p);
// y [N, O, Ho, Wo] = act(conv(x) + bias + residual); x [N, C, H, W] f32 on the CPU, residual of
// y's shape or undefined (none), not y itself. Calls are serialised.
void infer_conv_forward(InferConv& conv, const Tensor& x, const Tensor& residual, Epilogue act, Tensor& y);

}  // namespace trim::cpu
