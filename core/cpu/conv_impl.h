#pragma once
// The CPU backend's convolution algorithms behind cpu::conv2d_* (core/kernels/kernels.h), which
// run the direct depthwise kernels when is_depthwise() holds and otherwise oneDNN or im2col + GEMM
// as conv_backend.h selects. Declared here for the dispatch, the tests that compare them and the
// benchmark.
#include "core/kernels/params.h"
#include "core/tensor.h"

namespace trim::cpu {

// groups == input channels == output channels (one 2-D filter per channel, multiplier 1).
bool is_depthwise(const Shape& x, const Shape& w, const Conv2dParams& p);

// The column matrix [C/g * kh * kw, Ho * Wo] of one image's first group x [C/g, H, W] (shapes of
// the whole convolution: x [N, C, H, W], w [O, C/g, kh, kw], y [N, O, Ho, Wo]); the sparse
// convolutions (sparse.cpp) use it too.
void im2col_image(const float* x, const Shape& xs, const Shape& ws, const Shape& ys, const Conv2dParams& p, float* col);

// im2col + GEMM per image and group (any groups).
// The forward adds the bias b when it is defined (f32 [O]); the filter gradient also sums the bias
// gradient when gb is given (f32 inputs only), each image's gy read once for both.
void gemm_conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y, const Conv2dParams& p);
void gemm_conv2d_backward_data(const Tensor& gy, const Tensor& w, Tensor& gx, const Conv2dParams& p);
void gemm_conv2d_backward_filter(const Tensor& x, const Tensor& gy, Tensor& gw, const Conv2dParams& p, float beta,
                                 Tensor* gb = nullptr, float beta_b = 0.0f);

// oneDNN's primitives (any groups), cached per shape; in a build without oneDNN they throw.
// backward_filter honours beta like the GEMM path: beta * gw + fresh, gw unread when beta is 0.
// The forward adds a defined bias in the primitive. onednn_conv2d_backward is conv2d_backward
// (kernel_list.inc) for a CPU that runs its compute type natively: gy is reordered into the
// blocked layout (converting it to bf16 when x or w is bf16) once for both products, and in f32
// the weights pass also sums the bias gradient.
void onednn_conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y, const Conv2dParams& p);
void onednn_conv2d_backward_data(const Tensor& gy, const Tensor& w, Tensor& gx, const Conv2dParams& p);
void onednn_conv2d_backward_filter(const Tensor& x, const Tensor& gy, Tensor& gw, const Conv2dParams& p, float beta);
void onednn_conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& gy, const ConvGrads& g,
                            const Conv2dParams& p);

// The backward-weights pass of a bf16 convolution whose output planes hold at most
// kBatchedBf16MaxPlane pixels, as one bf16 matrix product over the whole batch (conv_batched.cpp
// says why). Serves (and the oneDNN backend dispatches to it) when some input is bf16, the CPU has
// AMX tiles (bf16_amx) and groups == 1; honours the kernel contract of kernel_list.inc, beta
// included.
inline constexpr int64_t kBatchedBf16MaxPlane = 16;
bool batched_bf16_conv_serves(const Tensor& a, const Tensor& b, const Shape& ys, const Conv2dParams& p);
void batched_bf16_conv2d_backward_filter(const Tensor& x, const Tensor& gy, Tensor& gw, const Conv2dParams& p,
                                         float beta);

// Direct depthwise loops, one channel plane per task (requires is_depthwise). The filter gradient
// sums images in order per channel, so it does not depend on the thread count.
void depthwise_conv2d_forward(const Tensor& x, const Tensor& w, Tensor& y, const Conv2dParams& p);
void depthwise_conv2d_backward_data(const Tensor& gy, const Tensor& w, Tensor& gx, const Conv2dParams& p);
void depthwise_conv2d_backward_filter(const Tensor& x, const Tensor& gy, Tensor& gw, const Conv2dParams& p, float beta);

}  // namespace trim::cpu
