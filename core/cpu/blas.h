#pragma once
// OpenBLAS, loaded on first use. OpenBLAS picks its kernels when it is loaded, from the CPU model;
// an older OpenBLAS on a newer CPU (Debian 12's 0.3.21 on an Emerald Rapids Xeon, say) falls back
// to SSE3 kernels that run 4x slower. So trim does not link it: before loading it, trim sets
// OPENBLAS_CORETYPE from the CPU's own feature flags (AVX-512 -> SkylakeX, AVX2 + FMA -> Haswell)
// unless the user has set it.
#include <string>

namespace trim::cpu {

struct Blas {
  // Same signatures as cblas_sgemm (row-major, no transposes encoded as CBLAS enums) and friends.
  void (*sgemm)(int order, int transa, int transb, int m, int n, int k, float alpha, const float* a, int lda,
                const float* b, int ldb, float beta, float* c, int ldc);
  void (*set_num_threads)(int n);
  char* (*get_corename)();
};

// The loaded library; throws trim::Error naming the file if it cannot be loaded.
const Blas& blas();

// "SkylakeX", "Haswell", ...: the kernels OpenBLAS runs.
std::string blas_core();

}  // namespace trim::cpu
