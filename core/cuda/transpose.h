#pragma once
// Batched plane transposes with a dtype conversion, for cuDNN's channels-last (NHWC) path
// (core/cuda/conv.cu): the layout change rides in the pass that rounds f32 inputs to bf16 or widens
// bf16 results to f32, so it costs no extra trip through memory there.
//
// Each function runs on the current stream and, for b < batches, r < rows, s < cols, sets
//   out[(b * cols + s) * rows + r] from in[(b * rows + r) * cols + s].
// NCHW -> NHWC is (batches N, rows C, cols H*W); NHWC -> NCHW is (N, H*W, C); a KCRS filter to
// KRSC is (K, C, R*S). in and out must not overlap. Sizes may exceed 2^31 elements.
#include <cstdint>

#include "core/bf16.h"

namespace trim::cuda {

// out = in rounded to bf16, to nearest even (float_to_bf16, the cast kernel's rule).
void transpose_to_bf16(const float* in, bf16* out, int64_t batches, int64_t rows, int64_t cols);
// out = in, moved.
void transpose_to_bf16(const bf16* in, bf16* out, int64_t batches, int64_t rows, int64_t cols);
// out = widen(in) for beta 0 (out is never read: it may hold NaN), out + widen(in) for beta 1
// (added in f32). Other betas are refused.
void transpose_widen(const bf16* in, float* out, float beta, int64_t batches, int64_t rows, int64_t cols);

}  // namespace trim::cuda
