// CPU backend of LTP's soft-mask op: one pass per direction over fixed chunks of kReduceChunk
// elements (OpenMP over chunks), each chunk summing its share of the layer reductions in double;
// the chunk sums are then added in chunk order, so the result does not depend on the thread count.
#include <algorithm>
#include <array>
#include <vector>

#include "core/cpu/parallel.h"
#include "pruning/ltp_kernels.h"
#include "pruning/ltp_math.h"

namespace trim::cpu {
namespace {

int64_t chunk_count(int64_t n) { return (n + ltp::kReduceChunk - 1) / ltp::kReduceChunk; }

// Runs body(lo, hi) -> partial sum(s) over every chunk and returns the chunk-ordered totals.
template <int K, class F>
std::array<double, K> chunked_sums(int64_t n, const F& body) {
  const int64_t chunks = chunk_count(n);
  std::vector<std::array<double, K>> part(static_cast<size_t>(chunks));
  parallel_for(chunks, n >= kParallelGrain, [&](int64_t c) {
    int64_t lo = c * ltp::kReduceChunk, hi = std::min(n, lo + ltp::kReduceChunk);
    part[size_t(c)] = body(lo, hi);
  });
  std::array<double, K> total{};
  for (const auto& p : part)
    for (int k = 0; k < K; ++k) total[size_t(k)] += p[size_t(k)];
  return total;
}

}  // namespace

void ltp_temperature(const Tensor& w, double t0, Tensor& temp) {
  temp.data<float>()[0] = float(ltp::temperature(w.data<float>(), w.numel(), t0));
}

void ltp_mask_forward(const ltp::MaskForwardArgs& a) {
  const int64_t n = a.w.numel();
  const float* w = a.w.data<float>();
  float* v = a.v.data<float>();
  const float tau = a.tau.data<float>()[0], temp = a.temp.data<float>()[0];
  if (!a.l0.defined()) {
    map(n, [=](int64_t i) { v[i] = ltp::masked_weight(w[i], ltp::soft_mask(w[i], tau, temp)); });
    return;
  }
  auto s = chunked_sums<2>(n, [=](int64_t lo, int64_t hi) {
    double l0 = 0.0, dl0 = 0.0;
    for (int64_t i = lo; i < hi; ++i) {
      float m = ltp::soft_mask(w[i], tau, temp);
      v[i] = ltp::masked_weight(w[i], m);
      l0 += m;
      dl0 += ltp::grad_tau_term(0.0f, w[i], m, temp, 1.0f);  // −m(1 − m)/T
    }
    return std::array<double, 2>{l0, dl0};
  });
  a.l0.data<float>()[0] = float(s[0]);
  a.dl0.data<float>()[0] = float(s[1]);
}

void ltp_mask_backward(const ltp::MaskBackwardArgs& a) {
  const int64_t n = a.w.numel();
  const float *w = a.w.data<float>(), *g = a.g.data<float>();
  const float tau = a.tau.data<float>()[0], temp = a.temp.data<float>()[0];
  float* gw = a.gw.defined() ? a.gw.data<float>() : nullptr;
  const float beta = a.beta;
  auto s = chunked_sums<1>(n, [=](int64_t lo, int64_t hi) {
    double gt = 0.0;
    for (int64_t i = lo; i < hi; ++i) {
      float m = ltp::soft_mask(w[i], tau, temp);
      if (gw) gw[i] = (beta != 0.0f ? beta * gw[i] : 0.0f) + ltp::grad_w(g[i], m);
      gt += ltp::grad_tau_term(g[i], w[i], m, temp, 0.0f);
    }
    return std::array<double, 1>{gt};
  });
  if (a.gtau.defined()) a.gtau.data<float>()[0] = float(s[0]);
}

void ltp_l0_backward(const Tensor& g, const Tensor& dl0, Tensor& gtau) {
  gtau.data<float>()[0] = g.data<float>()[0] * dl0.data<float>()[0];
}

void ltp_count_clamped(const Tensor& g, float clip, Tensor& count) {
  const float* gp = g.data<float>();
  int32_t* c = count.data<int32_t>();
  for (int64_t i = 0; i < g.numel(); ++i) c[i] += ltp::clamp_binds(gp[i], clip) ? 1 : 0;
}

}  // namespace trim::cpu
