#include <climits>

#include "core/cuda/launch.cuh"
#include "core/kernels/elementwise_math.h"
#include "core/cuda/context.h"
#include "core/cuda/runtime.h"
#include "core/kernels/kernels.h"

namespace trim::cuda {

// Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands.
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, const float* b,
          float beta, float* c) {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum: cuBLAS would reject the zero leading dimension
    if (beta == 0.0f) TRIM_CUDA_CHECK(cudaMemsetAsync(c, 0, sizeof(float) * size_t(m * n), stream()));
    else map(m * n, ew::Scale{c, beta, c});
    return;
  }
  // cublasSgemm takes int sizes and leading dimensions (lda = k or m, ldb = n or k, ldc = n).
  TRIM_CHECK(m <= INT_MAX && n <= INT_MAX && k <= INT_MAX,
             cat("gemm: m = ", m, ", n = ", n, ", k = ", k, "; cuBLAS's 32-bit API takes at most 2^31 - 1 each"));
  cublasHandle_t h = cublas();
  cublas_math_mode(h, matmul_tf32() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
  TRIM_CUBLAS_CHECK(cublasSgemm(h, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, int(n), int(m),
                                int(k), &alpha, b, int(tb ? k : n), a, int(ta ? m : k), &beta, c, int(n)));
}

// bf16 operands, f32 output and accumulation (CUBLAS_COMPUTE_32F): the bf16 precision policy. The
// same operand swap and leading dimensions as gemm; alpha and beta are floats (COMPUTE_32F's scale
// type).
void gemm_bf16(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const bf16* a, const bf16* b,
               float beta, float* c) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    if (beta == 0.0f) TRIM_CUDA_CHECK(cudaMemsetAsync(c, 0, sizeof(float) * size_t(m * n), stream()));
    else map(m * n, ew::Scale{c, beta, c});
    return;
  }
  TRIM_CHECK(m <= INT_MAX && n <= INT_MAX && k <= INT_MAX,
             cat("gemm_bf16: m = ", m, ", n = ", n, ", k = ", k, "; cuBLAS's 32-bit API takes at most 2^31 - 1 each"));
  cublasHandle_t h = cublas();
  // TF32 concerns f32 operands only; resetting the mode a previous f32 gemm left keeps the kernel
  // choice (and so the result bits) independent of which products ran before.
  cublas_math_mode(h, CUBLAS_DEFAULT_MATH);
  TRIM_CUBLAS_CHECK(cublasGemmEx(h, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, int(n), int(m),
                                 int(k), &alpha, b, CUDA_R_16BF, int(tb ? k : n), a, CUDA_R_16BF, int(ta ? m : k), &beta,
                                 c, CUDA_R_32F, int(n), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

}  // namespace trim::cuda
