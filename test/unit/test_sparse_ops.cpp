// The sparse ops (core/ops/sparse.h) on the CPU: closed-form values, every op-table row against the
// dense op on the same (pruned) weight and against the plain reference loops below, on every
// instruction set this CPU has, both convolution methods and both AVX-512 tile kernels; the CSR
// conversions; PreparedConv2d; validate()'s refusals.
#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

#include "apps/bench/op_cases.h"
#include "core/cpu/sparse_impl.h"
#include "core/ops/conv_infer.h"
#include "core/ops/ops.h"
#include "core/ops/sparse.h"
#include "core/threads.h"
#include "test/support/compare.h"

using namespace trim;
using namespace trim::test;

namespace {

// ---- the reference: plain loops, correct and slow (the oracle for the vectorised kernels) ----

std::vector<float> reference_linear(const Tensor& x, const CsrMatrix& w, const Tensor& bias, Epilogue act) {
  std::vector<int32_t> ptr = w.row_ptr.to_vector<int32_t>(), col = w.col_idx.to_vector<int32_t>();
  std::vector<float> val = w.values.to_vector<float>(), xp = x.to_vector<float>();
  std::vector<float> bp = bias.defined() ? bias.to_vector<float>() : std::vector<float>(size_t(w.rows), 0.0f);
  int64_t n = x.size(0);
  std::vector<float> y(size_t(n * w.rows));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t r = 0; r < w.rows; ++r) {
      double s = bp[size_t(r)];
      for (int32_t k = ptr[size_t(r)]; k < ptr[size_t(r) + 1]; ++k)
        s += double(val[size_t(k)]) * xp[size_t(i * w.cols + col[size_t(k)])];
      y[size_t(i * w.rows + r)] = apply_epilogue(act, float(s));
    }
  return y;
}

// act(conv + bias + residual); residual undefined: none.
std::vector<float> reference_conv2d(const Tensor& x, const CsrMatrix& w, int kh, int kw, const Tensor& bias,
                                    const Conv2dParams& p, Epilogue act, const Tensor& residual = Tensor()) {
  const std::vector<float> res = residual.defined() ? residual.to_vector<float>() : std::vector<float>();
  std::vector<int32_t> ptr = w.row_ptr.to_vector<int32_t>(), col = w.col_idx.to_vector<int32_t>();
  std::vector<float> val = w.values.to_vector<float>(), xp = x.to_vector<float>();
  std::vector<float> bp = bias.defined() ? bias.to_vector<float>() : std::vector<float>(size_t(w.rows), 0.0f);
  int64_t n = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3);
  int64_t ho = window_out(h, kh, p.stride_h, p.pad_h, p.dil_h), wo = window_out(wd, kw, p.stride_w, p.pad_w, p.dil_w);
  std::vector<float> y(size_t(n * w.rows * ho * wo));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t o = 0; o < w.rows; ++o)
      for (int64_t oy = 0; oy < ho; ++oy)
        for (int64_t ox = 0; ox < wo; ++ox) {
          double s = bp[size_t(o)];
          for (int32_t k = ptr[size_t(o)]; k < ptr[size_t(o) + 1]; ++k) {
            int64_t ci = col[size_t(k)] / (kh * kw), rem = col[size_t(k)] % (kh * kw), ky = rem / kw, kx = rem % kw;
            int64_t iy = oy * p.stride_h - p.pad_h + ky * p.dil_h, ix = ox * p.stride_w - p.pad_w + kx * p.dil_w;
            if (iy >= 0 && iy < h && ix >= 0 && ix < wd)
              s += double(val[size_t(k)]) * xp[size_t(((i * c + ci) * h + iy) * wd + ix)];
          }
          const size_t at = size_t(((i * w.rows + o) * ho + oy) * wo + ox);
          if (!res.empty()) s += double(res[at]);
          y[at] = apply_epilogue(act, float(s));
        }
  return y;
}

// The reference output of a sparse op-table row (its args say the op's parameters).
std::vector<float> reference_of(const OpCase& c, const std::vector<Tensor>& t) {
  auto arg = [&](const char* key) {
    for (const auto& [k, v] : c.args)
      if (k == key) return v;
    FAIL("row " << c.name << " has no argument " << key);
    return int64_t(0);
  };
  CsrMatrix w = CsrMatrix::from_dense(t[1]);
  Tensor bias = t.size() > 2 ? t[2] : Tensor();
  Epilogue act = Epilogue(arg("act"));
  if (c.op() == "sparse_linear") return reference_linear(t[0], w, bias, act);
  Conv2dParams p{int(arg("stride_h")), int(arg("stride_w")), int(arg("pad_h")), int(arg("pad_w")),
                 int(arg("dil_h")),    int(arg("dil_w")),    1};
  const int64_t residual = arg("residual");
  return reference_conv2d(t[0], w, int(t[1].size(2)), int(t[1].size(3)), t.size() > 2 && residual != 2 ? t[2] : Tensor(), p,
                          act, residual ? t[size_t(residual)] : Tensor());
}

std::vector<cpu::SparseIsa> isas() {
  std::vector<cpu::SparseIsa> v;
  for (cpu::SparseIsa i : {cpu::SparseIsa::scalar, cpu::SparseIsa::avx2, cpu::SparseIsa::avx512})
    if (cpu::cpu_supports(i)) v.push_back(i);
  return v;
}

// Restores the kernels' choices when a test section ends.
struct SparseChoiceGuard {
  cpu::SparseIsa isa = cpu::sparse_isa();
  cpu::SparseConvMethod method = cpu::sparse_conv_method();
  bool tiles = cpu::sparse_conv_tiles();
  ~SparseChoiceGuard() {
    cpu::set_sparse_conv_tiles(tiles);
    cpu::set_sparse_isa(isa);
    cpu::set_sparse_conv_method(method);
  }
};

Tensor t2(Shape s, std::vector<float> v) { return Tensor::from_vector(s, v); }

}  // namespace

TEST_CASE("this machine runs the widest sparse kernels it has", "[sparse]") {
  // The test machine has AVX-512 (lscpu): then every variant below is exercised.
  CHECK(cpu::sparse_isa() == (cpu::cpu_supports(cpu::SparseIsa::avx512) ? cpu::SparseIsa::avx512
                              : cpu::cpu_supports(cpu::SparseIsa::avx2) ? cpu::SparseIsa::avx2
                                                                        : cpu::SparseIsa::scalar));
}

TEST_CASE("CSR from a dense matrix: PyTorch's crow/col/values, exact zeros dropped, round trip", "[sparse]") {
  Tensor w = t2(Shape{3, 4}, {0, 2, 0, -0.5f, 0, 0, 0, 0, 1, 0, 3, 0});
  CsrMatrix m = CsrMatrix::from_dense(w);
  CHECK(m.rows == 3);
  CHECK(m.cols == 4);
  CHECK(m.nnz() == 4);
  CHECK(m.row_ptr.to_vector<int32_t>() == std::vector<int32_t>{0, 2, 2, 4});
  CHECK(m.col_idx.to_vector<int32_t>() == std::vector<int32_t>{1, 3, 0, 2});
  CHECK(m.values.to_vector<float>() == std::vector<float>{2, -0.5f, 1, 3});
  CHECK(m.to_dense().to_vector<float>() == w.to_vector<float>());
  CHECK_NOTHROW(m.validate("test"));
  // A conv weight [O, C, kh, kw] reads as [O, C kh kw].
  CsrMatrix c = CsrMatrix::from_dense(Tensor::zeros(Shape{2, 3, 2, 2}));
  CHECK(c.rows == 2);
  CHECK(c.cols == 12);
  CHECK(c.nnz() == 0);
  CHECK(c.row_ptr.to_vector<int32_t>() == std::vector<int32_t>{0, 0, 0});
}

TEST_CASE("sparse_linear: closed-form values with bias and every epilogue", "[sparse]") {
  // W = [[0, 2, 0], [1, 0, 3]], x = [[1, 2, 3], [-1, 0, 1]]: x Wᵀ = [[4, 10], [0, 2]].
  CsrMatrix w = CsrMatrix::from_dense(t2(Shape{2, 3}, {0, 2, 0, 1, 0, 3}));
  Tensor x = t2(Shape{2, 3}, {1, 2, 3, -1, 0, 1});
  Tensor b = t2(Shape{2}, {-5, 1});
  for (cpu::SparseIsa isa : isas()) {
    SparseChoiceGuard guard;
    cpu::set_sparse_isa(isa);
    INFO(cpu::sparse_isa_name(isa));
    CHECK(sparse_linear(x, w, Tensor()).to_vector<float>() == std::vector<float>{4, 10, 0, 2});
    CHECK(sparse_linear(x, w, b).to_vector<float>() == std::vector<float>{-1, 11, -5, 3});
    CHECK(sparse_linear(x, w, b, Epilogue::relu).to_vector<float>() == std::vector<float>{0, 11, 0, 3});
    CHECK(sparse_linear(x, w, b, Epilogue::relu6).to_vector<float>() == std::vector<float>{0, 6, 0, 3});
    // The packed-batch path (batch >= 4): the same rows repeated.
    Tensor x4 = t2(Shape{4, 3}, {1, 2, 3, -1, 0, 1, 1, 2, 3, -1, 0, 1});
    CHECK(sparse_linear(x4, w, b, Epilogue::relu6).to_vector<float>() == std::vector<float>{0, 6, 0, 3, 0, 6, 0, 3});
  }
}

TEST_CASE("sparse_conv2d: a single centre tap scales the image, a shifted tap shifts it", "[sparse]") {
  // x [1, 1, 3, 4] = 1..12; a 3x3 kernel with only the centre (2) or only the top-left (1) tap.
  std::vector<float> xs(12);
  for (int i = 0; i < 12; ++i) xs[size_t(i)] = float(i + 1);
  Tensor x = Tensor::from_vector(Shape{1, 1, 3, 4}, xs);
  Conv2dParams same{1, 1, 1, 1, 1, 1, 1};
  std::vector<float> centre(9, 0.0f), corner(9, 0.0f);
  centre[4] = 2.0f;
  corner[0] = 1.0f;
  for (cpu::SparseConvMethod m : {cpu::SparseConvMethod::implicit, cpu::SparseConvMethod::im2col,
                                         cpu::SparseConvMethod::automatic}) {
    SparseChoiceGuard guard;
    cpu::set_sparse_conv_method(m);
    CsrMatrix wc = CsrMatrix::from_dense(Tensor::from_vector(Shape{1, 1, 3, 3}, centre));
    std::vector<float> want(12);
    for (int i = 0; i < 12; ++i) want[size_t(i)] = 2.0f * float(i + 1);
    CHECK(sparse_conv2d(x, wc, 3, 3, Tensor(), same).to_vector<float>() == want);
    // Top-left tap with padding 1: y[i, j] = x[i - 1, j - 1], 0 off the image; bias -3 then relu.
    CsrMatrix wk = CsrMatrix::from_dense(Tensor::from_vector(Shape{1, 1, 3, 3}, corner));
    Tensor b = Tensor::from_vector(Shape{1}, std::vector<float>{-3.0f});
    std::vector<float> shifted{0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 3, 4};  // relu(x[i-1, j-1] - 3)
    CHECK(sparse_conv2d(x, wk, 3, 3, b, same, Epilogue::relu).to_vector<float>() == shifted);
  }
}

TEST_CASE("every sparse op-table row matches the dense op and the reference loops, on every ISA, method and tile kernel",
          "[sparse][ops]") {
  int rows = 0;
  for (const OpCase& c : op_cases()) {
    if (!c.dense) continue;
    ++rows;
    SECTION(c.name) {
      std::vector<Tensor> inputs = make_inputs(c, 7);
      std::vector<Tensor> in = inputs;
      const std::vector<float> dense = c.dense(in).to_vector<float>();
      const std::vector<float> reference = reference_of(c, inputs);
      CHECK(compare(reference, dense, kFp32) == "");
      for (cpu::SparseIsa isa : isas())
        for (cpu::SparseConvMethod m : {cpu::SparseConvMethod::implicit, cpu::SparseConvMethod::im2col,
                                         cpu::SparseConvMethod::automatic})
          for (int threads : {1, 2})
            for (bool tiles : {true, false}) {
              if (!tiles && isa != cpu::SparseIsa::avx512) continue;  // the other ISAs have the spmm tiles only
              SparseChoiceGuard guard;
              cpu::set_sparse_isa(isa);
              cpu::set_sparse_conv_method(m);
              cpu::set_sparse_conv_tiles(tiles);
              int before = num_threads();
              set_num_threads(threads);
              std::vector<Tensor> args = inputs;
              const std::vector<float> got = c.run(args).to_vector<float>();
              set_num_threads(before);
              INFO(c.name << " on " << cpu::sparse_isa_name(isa) << ", "
                          << (m == cpu::SparseConvMethod::implicit ? "implicit"
                              : m == cpu::SparseConvMethod::im2col ? "im2col"
                                                                   : "automatic")
                          << ", " << threads << " threads, " << (tiles ? "conv" : "spmm") << " tiles");
              CHECK(compare(got, reference, kFp32) == "");
            }
    }
  }
  CHECK(rows >= 18);
}

TEST_CASE("validate() refuses malformed CSR tensors with the name, what was expected and what was found",
          "[sparse]") {
  auto csr = [](std::vector<int32_t> ptr, std::vector<int32_t> col, int64_t rows, int64_t cols) {
    CsrMatrix m;
    m.rows = rows;
    m.cols = cols;
    m.row_ptr = Tensor::from_vector(Shape{int64_t(ptr.size())}, ptr);
    m.col_idx = Tensor::from_vector(Shape{int64_t(col.size())}, col);
    m.values = Tensor::full(Shape{int64_t(col.size())}, 1.0f);
    return m;
  };
  const std::string what = "model_deploy.safetensors: fc1.weight";
  CHECK_NOTHROW(csr({0, 1, 3}, {2, 0, 1}, 2, 3).validate(what));
  CHECK_THROWS_WITH(csr({0, 1, 3}, {2, 0, 3}, 2, 3).validate(what),
                    Catch::Contains(what) && Catch::Contains("col_indices[2] = 3 is outside [0, 3)"));
  CHECK_THROWS_WITH(csr({0, 1, 3}, {-1, 0, 1}, 2, 3).validate(what), Catch::Contains("col_indices[0] = -1"));
  CHECK_THROWS_WITH(csr({0, 2, 1, 3}, {0, 1, 2}, 3, 3).validate(what),
                    Catch::Contains(what) && Catch::Contains("crow_indices decreases at row 1 (2 > 1)"));
  CHECK_THROWS_WITH(csr({0, 1, 3}, {2, 1, 1}, 2, 3).validate(what),
                    Catch::Contains("col_indices not increasing in row 1 at entry 2"));
  CHECK_THROWS_WITH(csr({1, 1, 3}, {2, 0, 1}, 2, 3).validate(what),
                    Catch::Contains("crow_indices must run from 0 to nnz = 3; found 1 .. 3"));
  CHECK_THROWS_WITH(csr({0, 1, 2}, {2, 0, 1}, 2, 3).validate(what), Catch::Contains("found 0 .. 2"));
  CHECK_THROWS_WITH(csr({0, 1}, {0}, 2, 3).validate(what),
                    Catch::Contains("crow_indices has 2 entries; expected rows + 1 = 3"));
  CsrMatrix f = csr({0, 1, 3}, {2, 0, 1}, 2, 3);
  f.row_ptr = Tensor::full(Shape{3}, 0.0f);
  CHECK_THROWS_WITH(f.validate(what), Catch::Contains(what) && Catch::Contains("expected i32 crow_indices") &&
                                          Catch::Contains("found f32, i32, f32"));
  CsrMatrix v = csr({0, 1, 3}, {2, 0, 1}, 2, 3);
  v.values = Tensor::full(Shape{2}, 1.0f);
  CHECK_THROWS_WITH(v.validate(what), Catch::Contains("col_indices has 3 entries but values has 2"));
  CsrMatrix missing;
  CHECK_THROWS_WITH(missing.validate(what), Catch::Contains(what) && Catch::Contains("missing CSR tensors"));
}

TEST_CASE("the sparse ops refuse inputs that do not match the weight", "[sparse]") {
  CsrMatrix w = CsrMatrix::from_dense(t2(Shape{2, 3}, {0, 2, 0, 1, 0, 3}));
  CHECK_THROWS_WITH(sparse_linear(Tensor::zeros(Shape{1, 4}), w, Tensor()),
                    Catch::Contains("sparse_linear: input [1, 4] does not match weight [2, 3]"));
  CHECK_THROWS_WITH(sparse_linear(Tensor::zeros(Shape{1, 3}), w, Tensor::zeros(Shape{3})), Catch::Contains("bias"));
  CsrMatrix wc = CsrMatrix::from_dense(Tensor::zeros(Shape{2, 1, 3, 3}));
  Conv2dParams p{1, 1, 1, 1, 1, 1, 1};
  CHECK_THROWS_WITH(sparse_conv2d(Tensor::zeros(Shape{1, 2, 5, 5}), wc, 3, 3, Tensor(), p),
                    Catch::Contains("does not match weight [2, 9] with a 3x3 kernel"));
  // A residual must be f32 [N, O, Ho, Wo] on the input's device.
  CHECK_THROWS_WITH(sparse_conv2d(Tensor::zeros(Shape{1, 1, 5, 5}), wc, 3, 3, Tensor(), p, Epilogue::relu,
                                  Tensor::zeros(Shape{1, 2, 4, 5})),
                    Catch::Contains("sparse_conv2d") && Catch::Contains("residual") && Catch::Contains("[1, 2, 5, 5]"));
  CHECK_THROWS_WITH(sparse_conv2d(Tensor::zeros(Shape{1, 1, 5, 5}), wc, 3, 3, Tensor(), p, Epilogue::relu,
                                  Tensor::zeros(Shape{1, 2, 5, 5}, DType::i32)),
                    Catch::Contains("residual") && Catch::Contains("f32"));
  Conv2dParams g2{1, 1, 1, 1, 1, 1, 2};
  CHECK_THROWS_WITH(sparse_conv2d(Tensor::zeros(Shape{1, 1, 5, 5}), wc, 3, 3, Tensor(), g2),
                    Catch::Contains("groups must be 1"));
  CsrMatrix broken = w;
  broken.rows = 3;
  CHECK_THROWS_WITH(sparse_linear(Tensor::zeros(Shape{1, 3}), broken, Tensor()),
                    Catch::Contains("row_ptr has 3 entries for 3 rows"));
}

TEST_CASE("PreparedConv2d equals the convolution with its bias and activation, for every input shape it meets",
          "[sparse][deploy]") {
  struct Case {
    const char* what;
    Shape w;
    Conv2dParams p;
    bool bias;
    Epilogue act;
    int64_t c, h, wd;
  };
  auto params = [](int stride, int pad, int dil) {
    Conv2dParams p;
    p.stride_h = p.stride_w = stride;
    p.pad_h = p.pad_w = pad;
    p.dil_h = p.dil_w = dil;
    return p;
  };
  const Case cases[] = {
      {"stem: 3 input channels", Shape{8, 3, 3, 3}, params(1, 1, 1), true, Epilogue::relu, 3, 9, 9},
      {"channels off the 16-blocks, stride 2, relu6, no bias", Shape{20, 24, 3, 3}, params(2, 1, 1), false,
       Epilogue::relu6, 24, 7, 6},
      {"1x1, no activation", Shape{48, 32, 1, 1}, params(1, 0, 1), true, Epilogue::none, 32, 8, 8},
      {"dilation 2", Shape{16, 16, 3, 3}, params(1, 2, 2), true, Epilogue::relu, 16, 10, 10},
  };
  uint64_t seed = 11;
  auto random = [&](const Shape& s) {
    std::vector<float> v(size_t(s.numel()));
    for (float& x : v) {
      seed = seed * 6364136223846793005ull + 1442695040888963407ull;
      x = float(int64_t(seed >> 40) % 2001 - 1000) / 1000.0f;
    }
    return Tensor::from_vector(s, v);
  };
  for (const Case& k : cases) {
    Tensor w = random(k.w), b = k.bias ? random(Shape{k.w[0]}) : Tensor();
    PreparedConv2d conv(w, b, k.p);
    // A second input shape, then the first one again (its cached primitive); with and without a
    // residual (a primitive of its own).
    for (int64_t n : {1, 3, 1})
      for (bool with_residual : {false, true})
        for (int threads : {1, 2}) {
          int before = num_threads();
          set_num_threads(threads);
          Tensor x = random(Shape{n, k.c, k.h, k.wd});
          const int64_t ho = window_out(k.h, int(k.w[2]), k.p.stride_h, k.p.pad_h, k.p.dil_h);
          const int64_t wo = window_out(k.wd, int(k.w[3]), k.p.stride_w, k.p.pad_w, k.p.dil_w);
          Tensor r = with_residual ? random(Shape{n, k.w[0], ho, wo}) : Tensor();
          const std::vector<float> got = conv.forward(x, k.act, r).to_vector<float>();
          set_num_threads(before);
          INFO(k.what << ", batch " << n << ", " << threads << " threads, residual " << with_residual);
          CHECK(compare(reference_conv2d(x, CsrMatrix::from_dense(w), int(k.w[2]), int(k.w[3]), b, k.p, k.act, r), got,
                        kFp32) == "");
        }
  }
}
