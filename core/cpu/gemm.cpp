// Matrix products on the CPU: f32 through OpenBLAS's sgemm; bf16 operands (the bf16 precision
// policy) through oneDNN's matmul primitive with bf16 sources and f32 accumulation and output,
// cached per shape. Debian's OpenBLAS exports no sbgemm, so oneDNN is the one bf16 path; without
// native bf16 (bf16_support.h) the operands are rounded to f32 and sgemm runs (the same numbers).
#include <cblas.h>

#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "core/bf16.h"
#include "core/cpu/bf16_support.h"
#include "core/cpu/blas.h"
#include "core/cpu/parallel.h"
#include "core/kernels/kernels.h"

#ifdef TRIM_HAVE_DNNL
#include <omp.h>

#include "core/cpu/onednn_context.h"
#endif

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

namespace {

std::vector<float> widen(const bf16* x, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  float* o = out.data();
  map(n, [=](int64_t i) { o[i] = bf16_to_float(x[i]); });
  return out;
}

#ifdef TRIM_HAVE_DNNL
using dnnl::memory;

// A matmul primitive per (transposes, sizes, alpha, beta, threads): oneDNN fixes its blocking and
// work split when a primitive is created. The plain row-major operands are described by strides
// (a transpose is a swapped pair), so no reorder runs around the call.
struct Matmul {
  dnnl::matmul prim;
  memory::desc a, b, c;
};

using Key = std::tuple<bool, bool, int64_t, int64_t, int64_t, uint32_t, uint32_t, int>;

Matmul& matmul_for(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, float beta) {
  static std::mutex lock;
  static std::map<Key, std::unique_ptr<Matmul>> cache;
  uint32_t abits, bbits;
  std::memcpy(&abits, &alpha, 4);
  std::memcpy(&bbits, &beta, 4);
  Key key{ta, tb, m, n, k, abits, bbits, omp_get_max_threads()};
  std::lock_guard<std::mutex> guard(lock);
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  if (cache.size() >= 256) cache.clear();  // a benchmark sweeping shapes starts afresh
  auto mm = std::make_unique<Matmul>();
  mm->a = memory::desc({m, k}, memory::data_type::bf16, ta ? memory::dims{1, m} : memory::dims{k, 1});
  mm->b = memory::desc({k, n}, memory::data_type::bf16, tb ? memory::dims{1, k} : memory::dims{n, 1});
  mm->c = memory::desc({m, n}, memory::data_type::f32, memory::dims{n, 1});
  dnnl::primitive_attr attr;
  if (alpha != 1.0f) attr.set_output_scales(0, {alpha});
  if (beta != 0.0f) {
    dnnl::post_ops ops;
    ops.append_sum(beta);
    attr.set_post_ops(ops);
  }
  dnnl::matmul::desc d(mm->a, mm->b, mm->c);
  mm->prim = dnnl::matmul(dnnl::matmul::primitive_desc(d, attr, onednn_engine()));
  return *cache.emplace(key, std::move(mm)).first->second;
}
#endif

}  // namespace

void gemm_bf16(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const bf16* a, const bf16* b,
               float beta, float* c) {
  if (m == 0 || n == 0) return;
  if (k == 0) return gemm(ta, tb, m, n, k, alpha, nullptr, nullptr, beta, c);
#ifdef TRIM_HAVE_DNNL
  if (bf16_native()) {
    try {
      Matmul& mm = matmul_for(ta, tb, m, n, k, alpha, beta);
      dnnl::engine& e = onednn_engine();
      dnnl::stream& s = onednn_stream();
      memory A(mm.a, e, const_cast<bf16*>(a)), B(mm.b, e, const_cast<bf16*>(b)), C(mm.c, e, c);
      mm.prim.execute(s, {{DNNL_ARG_SRC, A}, {DNNL_ARG_WEIGHTS, B}, {DNNL_ARG_DST, C}});
      s.wait();
      return;
    } catch (const dnnl::error& err) {
      throw Error(cat("oneDNN bf16 matmul ", m, "x", k, " by ", k, "x", n, ": ", err.what(), " (status ",
                      int(err.status), ")"));
    }
  }
#endif
  note_bf16_emulated();
  std::vector<float> fa = widen(a, m * k), fb = widen(b, k * n);
  gemm(ta, tb, m, n, k, alpha, fa.data(), fb.data(), beta, c);
}

}  // namespace trim::cpu
