#pragma once
// Inference-only sparse weights: a pruned conv or linear weight in compressed sparse rows, and the
// products that skip its zeros. No autograd (deployment runs in eval mode). The layout is PyTorch's
// torch.sparse_csr_tensor(crow_indices, col_indices, values, (rows, cols)) with i32 indices, so a
// deployed file reads back in PyTorch unchanged. Because pruned weights are skipped, a NaN or Inf in
// the input reaches only the outputs of its nonzero weights (the dense product spreads it to all).
#include <string>

#include "core/kernels/epilogue.h"  // Epilogue: none, relu, relu6
#include "core/kernels/params.h"
#include "core/tensor.h"

namespace trim {

// A 2-D matrix [rows, cols] in compressed sparse rows: row r holds values[row_ptr[r] ..
// row_ptr[r + 1]) at columns col_idx[...], columns strictly increasing within a row. row_ptr i32
// [rows + 1] (row_ptr[0] = 0, non-decreasing), col_idx i32 [nnz], values f32 [nnz]; all three on
// one device. nnz < 2^31.
struct CsrMatrix {
  Tensor row_ptr, col_idx, values;
  int64_t rows = 0, cols = 0;

  int64_t nnz() const { return values.defined() ? values.numel() : 0; }
  Device device() const { return values.device(); }
  // The nonzeros of a dense f32 matrix [rows, cols] (a conv weight [O, C/g, kh, kw] is read as
  // [O, C/g * kh * kw]); exact zeros are dropped, everything else kept bit for bit.
  static CsrMatrix from_dense(const Tensor& w);
  Tensor to_dense() const;  // [rows, cols] f32 on the same device
  CsrMatrix to(Device device) const;
  // Throws trim::Error naming `what` (a file and tensor name) unless the three tensors have the
  // dtypes and sizes above, row_ptr is monotone from 0 to nnz, and every column index is in
  // [0, cols) and increasing within its row. Reads the indices (copies them to the host if needed).
  void validate(const std::string& what) const;
  // from_dense, to_dense and validate go through host memory for CUDA tensors too (a copy each
  // way): they run once per deployed weight, never per inference call.
};

// The products below trust the weight's indices (validate() once where a weight is read from a
// file); they check shapes, dtypes and devices. On the CPU: vectorised (AVX-512 / AVX2 chosen at run
// time) and multi-threaded kernels (core/cpu/sparse.cpp); on CUDA: cuSPARSE (core/cuda/sparse.cu).
// Epilogue (core/kernels/epilogue.h): the activation applied after the bias in the same pass.

// y [N, rows] = act(x [N, cols] · Wᵀ + bias); bias [rows] or undefined. x, W, bias on one device.
Tensor sparse_linear(const Tensor& x, const CsrMatrix& w, const Tensor& bias, Epilogue act = Epilogue::none);

// 2-D convolution (groups == 1) with W the CSR of the weight [O, C * kh * kw] (column
// (c * kh + i) * kw + j, as the dense weight's layout): x [N, C, H, W] -> act(conv + bias + residual)
// [N, O, Ho, Wo], the same numbers as conv2d on to_dense() up to summation order. residual (a
// residual block's shortcut, added before the activation in the same pass) is [N, O, Ho, Wo] f32 on
// x's device, or undefined for none.
Tensor sparse_conv2d(const Tensor& x, const CsrMatrix& w, int kernel_h, int kernel_w, const Tensor& bias,
                     const Conv2dParams& p, Epilogue act = Epilogue::none, const Tensor& residual = Tensor());

}  // namespace trim
