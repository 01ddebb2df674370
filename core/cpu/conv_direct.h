#pragma once
// A direct 3x3 convolution (stride 1, padding 1) on plain NCHW for inference, for the few-channel
// layers of slimmed CIFAR networks. oneDNN's AVX-512 convolutions (conv_infer.h) work on channel
// blocks of 16 and reorder NCHW activations into them and back around every call: a layer with 8
// or 12 channels pays for 16 and for two copies, so a ResNet-56 slimmed to a third of its MACs ran
// only 1.2-1.5x faster per layer. This kernel keeps NCHW: each output row of up to 8 channels is
// accumulated in AVX-512 registers, 16 or 32 columns at a time, from a zero-padded copy of the
// input, with bias, a residual and the activation applied before the store. No autograd.
#include <memory>

#include "core/kernels/epilogue.h"
#include "core/kernels/params.h"
#include "core/tensor.h"

namespace trim::cpu {

struct DirectConv3x3;  // the weight repacked in blocks of 8 output channels, and the bias

// Whether the direct kernel serves a convolution with this weight [O, C, kh, kw] and parameters
// on an input plane height x width: 3x3, stride 1, padding 1, dilation 1, groups 1, width >= 8, at
// most 64 input and output channels, one of them not a multiple of 16 (where oneDNN pads), and a
// CPU with AVX-512.
bool direct_conv3x3_serves(const Shape& weight, const Conv2dParams& p, int64_t height, int64_t width);

// weight [O, C, 3, 3] f32, bias [O] or undefined, on the CPU; both are copied as they are now.
std::shared_ptr<DirectConv3x3> make_direct_conv3x3(const Tensor& weight, const Tensor& bias);

// y [N, O, H, W] = act(conv3x3(x, pad 1) + bias + residual); x [N, C, H, W] f32 on the CPU,
// residual [N, O, H, W] f32 on the CPU or undefined (none), y allocated by the caller (not the
// residual). `vectorised` false runs the portable loop (the reference the tests hold the AVX-512
// path to); true needs AVX-512.
void direct_conv3x3_forward(const DirectConv3x3& conv, const Tensor& x, const Tensor& residual, Epilogue act, Tensor& y,
                            bool vectorised = true);

}  // namespace trim::cpu
