// Sparse weight x dense activation on CUDA (cuda::csr_linear, cuda::csr_conv2d): cuSPARSE's generic
// SpMV / SpMM on the CSR weight (i32 indices, f32 values, f32 compute), then one kernel that adds
// the bias (and a convolution's residual) and applies the activation in place. The CPU twin is core/cpu/sparse.cpp; the tests
// compare the two (test/cuda/test_sparse_cuda.cpp).
//
// Layouts, chosen so that no operand is transposed by a kernel of ours:
//  - linear, y [n, O] = x [n, K] · Aᵀ: x row-major is xᵀ column-major [K, n] (ld K) and y row-major
//    is yᵀ column-major [O, n] (ld O), so yᵀ = A · xᵀ is one SpMM; at n == 1 it is an SpMV.
//  - convolution: per image y_n [O, Ho Wo] = A · B_n (row-major), B_n the image itself for a 1 x 1
//    convolution with stride 1 and no padding, else its im2col [C kh kw, Ho Wo], built for a chunk
//    of images at a time into a workspace of at most kColumnBytes.
// cuSPARSE takes 32-bit indices here: rows, columns, nonzeros and every dense operand's dimensions
// and leading dimensions are checked against INT32_MAX before any call.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <mutex>

#include "core/cuda/check.h"
#include "core/cuda/context.h"
#include "core/cuda/launch.cuh"
#include "core/cuda/runtime.h"
#include "core/kernels/kernels.h"

namespace trim::cuda {
namespace {

// The im2col workspace per chunk of images (one image's columns may exceed it; then one image).
constexpr int64_t kColumnBytes = int64_t(256) << 20;

// The handle of each device, bound to its compute stream like cublas() (context.h); created on first
// use and never destroyed (at exit the library may already be unloaded).
cusparseHandle_t cusparse() {
  static std::mutex mutex;
  static cusparseHandle_t handles[16] = {};
  const int device = current_device();
  TRIM_CHECK(device >= 0 && device < 16, cat("cuSPARSE: device ", device, " is outside 0..15"));
  cudaStream_t compute = static_cast<cudaStream_t>(compute_stream(device));
  // Bound to the compute stream: under a StreamGuard its work would be ordered wrongly against that
  // thread's allocations.
  TRIM_CHECK(stream() == compute, "cuSPARSE called under a StreamGuard");
  std::lock_guard<std::mutex> lock(mutex);
  if (!handles[device]) {
    cusparseHandle_t h = nullptr;
    TRIM_CUSPARSE_CHECK(cusparseCreate(&h));
    if (cusparseStatus_t st = cusparseSetStream(h, compute); st != CUSPARSE_STATUS_SUCCESS) {
      cusparseDestroy(h);  // not cached: the next call tries again
      TRIM_CUSPARSE_CHECK(st);
    }
    handles[device] = h;
  }
  return handles[device];
}

void check_i32(const char* what, int64_t v) {
  TRIM_CHECK(v >= 0 && v <= INT32_MAX, cat("sparse CUDA kernels: ", what, " = ", v, " exceeds cuSPARSE's 32-bit indices"));
}

// Descriptors destroyed on every path (destroy status is dropped: nothing to report from a destructor).
struct SpMat {
  cusparseConstSpMatDescr_t d = nullptr;
  ~SpMat() { if (d) cusparseDestroySpMat(d); }
};
struct DnMat {
  cusparseConstDnMatDescr_t d = nullptr;
  ~DnMat() { if (d) cusparseDestroyDnMat(d); }
};
struct DnVec {
  cusparseConstDnVecDescr_t d = nullptr;
  ~DnVec() { if (d) cusparseDestroyDnVec(d); }
};

// The weight A [rows, cols] as a cuSPARSE CSR descriptor (nnz > 0: callers handle an empty weight).
void make_csr(SpMat& m, const Tensor& row_ptr, const Tensor& col_idx, const Tensor& values, int64_t rows, int64_t cols) {
  check_i32("weight rows", rows);
  check_i32("weight columns", cols);
  check_i32("nonzeros", values.numel());
  TRIM_CUSPARSE_CHECK(cusparseCreateConstCsr(&m.d, rows, cols, values.numel(), row_ptr.data<int32_t>(),
                                             col_idx.data<int32_t>(), values.data<float>(), CUSPARSE_INDEX_32I,
                                             CUSPARSE_INDEX_32I, CUSPARSE_INDEX_BASE_ZERO, CUDA_R_32F));
}

// A dense operand [rows, cols] with leading dimension ld in `order`.
void make_dn(DnMat& m, int64_t rows, int64_t cols, int64_t ld, const float* p, cusparseOrder_t order) {
  check_i32("dense rows", rows);
  check_i32("dense columns", cols);
  check_i32("leading dimension", ld);
  TRIM_CUSPARSE_CHECK(cusparseCreateConstDnMat(&m.d, rows, cols, ld, p, CUDA_R_32F, order));
}

// C = A · B (alpha 1, beta 0) into the dense output described by `c`.
void spmm(cusparseHandle_t h, const SpMat& a, const DnMat& b, cusparseDnMatDescr_t c) {
  const float one = 1.0f, zero = 0.0f;
  size_t bytes = 0;
  TRIM_CUSPARSE_CHECK(cusparseSpMM_bufferSize(h, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE,
                                              &one, a.d, b.d, &zero, c, CUDA_R_32F, CUSPARSE_SPMM_ALG_DEFAULT, &bytes));
  Scratch work(std::max<size_t>(bytes, 16));  // never a null buffer: the docs do not promise it is allowed
  TRIM_CUSPARSE_CHECK(cusparseSpMM(h, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE, &one, a.d,
                                   b.d, &zero, c, CUDA_R_32F, CUSPARSE_SPMM_ALG_DEFAULT, work.get()));
}

// An output C [rows, cols] (ld, order) that cuSPARSE writes; destroyed with the holder.
struct OutMat {
  cusparseDnMatDescr_t d = nullptr;
  OutMat(int64_t rows, int64_t cols, int64_t ld, float* p, cusparseOrder_t order) {
    check_i32("output rows", rows);
    check_i32("output columns", cols);
    check_i32("output leading dimension", ld);
    TRIM_CUSPARSE_CHECK(cusparseCreateDnMat(&d, rows, cols, ld, p, CUDA_R_32F, order));
  }
  ~OutMat() { if (d) cusparseDestroyDnMat(d); }
  OutMat(const OutMat&) = delete;
  OutMat& operator=(const OutMat&) = delete;
};

// y[i] = act(y[i] + bias[(i / inner) % channels] + res[i]) in place; bias and res may be null (then 0).
struct BiasAct {
  float* y;
  const float* bias;
  int64_t inner, channels;
  Epilogue act;
  const float* res = nullptr;  // the residual, laid out as y
  TRIM_HD void operator()(int64_t i) const {
    const float b = bias ? bias[(i / inner) % channels] : 0.0f;
    y[i] = apply_epilogue(act, y[i] + b + (res ? res[i] : 0.0f));
  }
};

// y[i] = act(bias[(i / inner) % channels] + res[i]) (or without either): the product of an empty weight.
struct BiasOnly {
  float* y;
  const float* bias;
  int64_t inner, channels;
  Epilogue act;
  const float* res = nullptr;
  TRIM_HD void operator()(int64_t i) const {
    y[i] = apply_epilogue(act, (bias ? bias[(i / inner) % channels] : 0.0f) + (res ? res[i] : 0.0f));
  }
};

// col[n, k, p] for k = (c kh + ky) kw + kx and p = oy Wo + ox: the input pixel that output pixel p
// reads through kernel tap (ky, kx) of channel c, 0 in the padding. x points at the chunk's first
// image.
struct Im2col {
  const float* x;
  float* col;
  int64_t C, H, W, kh, kw, Wo, K, P;
  Conv2dParams p;
  TRIM_HD void operator()(int64_t n, int64_t k, int64_t q) const {
    const int64_t c = k / (kh * kw), ky = k / kw % kh, kx = k % kw;
    const int64_t oy = q / Wo, ox = q % Wo;
    const int64_t iy = oy * p.stride_h - p.pad_h + ky * p.dil_h, ix = ox * p.stride_w - p.pad_w + kx * p.dil_w;
    const bool inside = iy >= 0 && iy < H && ix >= 0 && ix < W;
    col[(n * K + k) * P + q] = inside ? x[((n * C + c) * H + iy) * W + ix] : 0.0f;
  }
};

}  // namespace

void csr_linear(const Tensor& row_ptr, const Tensor& col_idx, const Tensor& values, const Tensor& x,
                const Tensor& bias, Epilogue act, Tensor& y) {
  const int64_t n = x.size(0), K = x.size(1), O = row_ptr.numel() - 1;
  if (n == 0 || O == 0) return;
  cusparseHandle_t h = cusparse();  // first: refuses a StreamGuard before anything is queued
  float* Y = y.data<float>();
  const float* bp = bias.defined() ? bias.data<float>() : nullptr;
  if (values.numel() == 0 || K == 0) {  // nothing to multiply: y = act(bias)
    map(y.numel(), BiasOnly{Y, bp, 1, O, act});
    return;
  }
  SpMat a;
  make_csr(a, row_ptr, col_idx, values, O, K);
  // beta = 0 below; zeroing y first keeps a NaN in fresh (poisoned) memory from surviving as
  // 0 * NaN should the library read the output anyway.
  memset_zero(x.device().index, Y, sizeof(float) * size_t(y.numel()));
  if (n == 1) {
    check_i32("input length", K);
    DnVec xv;
    TRIM_CUSPARSE_CHECK(cusparseCreateConstDnVec(&xv.d, K, x.data<float>(), CUDA_R_32F));
    cusparseDnVecDescr_t yv = nullptr;
    TRIM_CUSPARSE_CHECK(cusparseCreateDnVec(&yv, O, Y, CUDA_R_32F));
    struct Destroy {
      cusparseDnVecDescr_t d;
      ~Destroy() { cusparseDestroyDnVec(d); }
    } destroy{yv};
    const float one = 1.0f, zero = 0.0f;
    size_t bytes = 0;
    TRIM_CUSPARSE_CHECK(cusparseSpMV_bufferSize(h, CUSPARSE_OPERATION_NON_TRANSPOSE, &one, a.d, xv.d, &zero, yv,
                                                CUDA_R_32F, CUSPARSE_SPMV_ALG_DEFAULT, &bytes));
    Scratch work(std::max<size_t>(bytes, 16));
    TRIM_CUSPARSE_CHECK(cusparseSpMV(h, CUSPARSE_OPERATION_NON_TRANSPOSE, &one, a.d, xv.d, &zero, yv, CUDA_R_32F,
                                     CUSPARSE_SPMV_ALG_DEFAULT, work.get()));
  } else {
    DnMat b;
    make_dn(b, K, n, K, x.data<float>(), CUSPARSE_ORDER_COL);  // xᵀ [K, n]
    OutMat c(O, n, O, Y, CUSPARSE_ORDER_COL);                 // yᵀ [O, n]
    spmm(h, a, b, c.d);
  }
  if (bp || act != Epilogue::none) map(y.numel(), BiasAct{Y, bp, 1, O, act});
}

void csr_conv2d(const Tensor& row_ptr, const Tensor& col_idx, const Tensor& values, const Tensor& x, int kh, int kw,
                const Tensor& bias, const Conv2dParams& p, Epilogue act, const Tensor& residual, Tensor& y) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t O = y.size(1), Ho = y.size(2), Wo = y.size(3), P = Ho * Wo, K = C * kh * kw;
  if (N == 0 || O == 0 || P == 0) return;
  cusparseHandle_t h = cusparse();  // first: refuses a StreamGuard before anything is queued
  float* Y = y.data<float>();
  const float* X = x.data<float>();
  const float* bp = bias.defined() ? bias.data<float>() : nullptr;
  const float* rp = residual.defined() ? residual.data<float>() : nullptr;
  if (values.numel() == 0) {
    map(y.numel(), BiasOnly{Y, bp, P, O, act, rp});
    return;
  }
  SpMat a;
  make_csr(a, row_ptr, col_idx, values, O, K);
  memset_zero(x.device().index, Y, sizeof(float) * size_t(y.numel()));  // as in csr_linear
  const bool direct = kh == 1 && kw == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 0 && p.pad_w == 0;
  // Images per im2col chunk.
  const int64_t per_image = K * P * int64_t(sizeof(float));
  const int64_t chunk = direct ? N : std::max<int64_t>(1, std::min<int64_t>(N, kColumnBytes / std::max<int64_t>(1, per_image)));
  Scratch cols(direct ? 0 : size_t(chunk * per_image));
  for (int64_t n0 = 0; n0 < N; n0 += chunk) {
    const int64_t nb = std::min(chunk, N - n0);
    if (!direct)
      map3(nb, K, P, Im2col{X + n0 * C * H * W, cols.as<float>(), C, H, W, kh, kw, Wo, K, P, p});
    for (int64_t i = 0; i < nb; ++i) {
      const float* B = direct ? X + (n0 + i) * C * P : cols.as<float>() + i * K * P;
      DnMat b;
      make_dn(b, K, P, P, B, CUSPARSE_ORDER_ROW);
      OutMat c(O, P, P, Y + (n0 + i) * O * P, CUSPARSE_ORDER_ROW);
      spmm(h, a, b, c.d);
    }
  }
  if (bp || rp || act != Epilogue::none) map(y.numel(), BiasAct{Y, bp, P, O, act, rp});
}

}  // namespace trim::cuda
