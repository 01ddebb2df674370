#include <cblas.h>

#include "core/cpu/blas.h"
#include "core/kernels/kernels.h"

namespace trim::cpu {

void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, const float* b,
          float beta, float* c) {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum: BLAS would reject the zero leading dimension
    for (int64_t i = 0; i < m * n; ++i) c[i] = beta == 0.0f ? 0.0f : beta * c[i];
    return;
  }
  blas().sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k),
               alpha, a, int(ta ? m : k), b, int(tb ? k : n), beta, c, int(n));
}

}  // namespace trim::cpu
