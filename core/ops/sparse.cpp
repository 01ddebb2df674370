#include "core/ops/sparse.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "core/error.h"

// Reference implementation: plain loops on the CPU, correct and slow. The vectorised CPU kernels
// and cuSPARSE replace it behind the same functions.
namespace trim {
namespace {

float apply(Epilogue act, float v) {
  switch (act) {
    case Epilogue::none: return v;
    case Epilogue::relu: return v > 0.0f ? v : 0.0f;
    case Epilogue::relu6: return std::min(std::max(v, 0.0f), 6.0f);
  }
  return v;
}

// User input (a deployed file): one clear trim::Error, no file:line of ours.
void need(bool ok, const std::string& message) {
  if (!ok) throw Error(message);
}

void check_cpu(const char* op, const Tensor& x) {
  TRIM_CHECK(!x.is_cuda(), cat(op, ": the CUDA path is not built yet"));
}

}  // namespace

CsrMatrix CsrMatrix::from_dense(const Tensor& w) {
  check_dtype("CsrMatrix::from_dense", w, DType::f32, "weight");
  TRIM_CHECK(w.ndim() >= 2, cat("CsrMatrix::from_dense: expected a matrix or a conv weight, found ", w.shape().str()));
  int64_t rows = w.size(0), cols = w.numel() / std::max<int64_t>(rows, 1);
  std::vector<float> dense = w.to_vector<float>();
  std::vector<int32_t> ptr(size_t(rows) + 1, 0), col;
  std::vector<float> val;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      float v = dense[size_t(r * cols + c)];
      if (v != 0.0f) {
        col.push_back(int32_t(c));
        val.push_back(v);
      }
    }
    TRIM_CHECK(val.size() < size_t(std::numeric_limits<int32_t>::max()),
               "CsrMatrix::from_dense: more than 2^31 - 1 nonzeros");
    ptr[size_t(r) + 1] = int32_t(val.size());
  }
  CsrMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.row_ptr = Tensor::from_vector(Shape{rows + 1}, ptr, w.device());
  m.col_idx = Tensor::from_vector(Shape{int64_t(col.size())}, col, w.device());
  m.values = Tensor::from_vector(Shape{int64_t(val.size())}, val, w.device());
  return m;
}

Tensor CsrMatrix::to_dense() const {
  std::vector<int32_t> ptr = row_ptr.to_vector<int32_t>(), col = col_idx.to_vector<int32_t>();
  std::vector<float> val = values.to_vector<float>(), dense(size_t(rows * cols), 0.0f);
  for (int64_t r = 0; r < rows; ++r)
    for (int32_t k = ptr[size_t(r)]; k < ptr[size_t(r) + 1]; ++k) dense[size_t(r * cols + col[size_t(k)])] = val[size_t(k)];
  return Tensor::from_vector(Shape{rows, cols}, dense, device());
}

CsrMatrix CsrMatrix::to(Device d) const {
  CsrMatrix m = *this;
  m.row_ptr = row_ptr.to(d);
  m.col_idx = col_idx.to(d);
  m.values = values.to(d);
  return m;
}

void CsrMatrix::validate(const std::string& what) const {
  need(row_ptr.defined() && col_idx.defined() && values.defined(), cat(what, ": missing CSR tensors"));
  need(row_ptr.dtype() == DType::i32 && col_idx.dtype() == DType::i32 && values.dtype() == DType::f32,
                   cat(what, ": expected i32 crow_indices and col_indices and f32 values, found ",
                       dtype_name(row_ptr.dtype()), ", ", dtype_name(col_idx.dtype()), ", ", dtype_name(values.dtype())));
  need(row_ptr.ndim() == 1 && col_idx.ndim() == 1 && values.ndim() == 1,
                   cat(what, ": CSR tensors must be 1-D"));
  need(row_ptr.numel() == rows + 1,
                   cat(what, ": crow_indices has ", row_ptr.numel(), " entries; expected rows + 1 = ", rows + 1));
  need(col_idx.numel() == values.numel(),
                   cat(what, ": col_indices has ", col_idx.numel(), " entries but values has ", values.numel()));
  std::vector<int32_t> ptr = row_ptr.to_vector<int32_t>(), col = col_idx.to_vector<int32_t>();
  need(ptr.front() == 0 && ptr.back() == int64_t(col.size()),
                   cat(what, ": crow_indices must run from 0 to nnz = ", col.size(), "; found ", ptr.front(), " .. ",
                       ptr.back()));
  for (int64_t r = 0; r < rows; ++r) {
    int32_t b = ptr[size_t(r)], e = ptr[size_t(r) + 1];
    need(b <= e, cat(what, ": crow_indices decreases at row ", r, " (", b, " > ", e, ")"));
    for (int32_t k = b; k < e; ++k) {
      int32_t c = col[size_t(k)];
      need(c >= 0 && c < cols,
                       cat(what, ": col_indices[", k, "] = ", c, " is outside [0, ", cols, ") (row ", r, ")"));
      need(k == b || col[size_t(k) - 1] < c,
                       cat(what, ": col_indices not increasing in row ", r, " at entry ", k));
    }
  }
}

Tensor sparse_linear(const Tensor& x, const CsrMatrix& w, const Tensor& bias, Epilogue act) {
  check_dtype("sparse_linear", x, DType::f32, "x");
  check_cpu("sparse_linear", x);
  TRIM_CHECK(x.ndim() == 2 && x.size(1) == w.cols,
             cat("sparse_linear: input ", x.shape().str(), " does not match weight [", w.rows, ", ", w.cols, "]"));
  if (bias.defined()) check_shape("sparse_linear", bias, Shape{w.rows}, "bias");
  int64_t n = x.size(0);
  Tensor y = Tensor::empty(Shape{n, w.rows}, DType::f32, x.device());
  const int32_t* ptr = w.row_ptr.data<int32_t>();
  const int32_t* col = w.col_idx.data<int32_t>();
  const float* val = w.values.data<float>();
  const float* xp = x.data<float>();
  const float* bp = bias.defined() ? bias.data<float>() : nullptr;
  float* yp = y.data<float>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t r = 0; r < w.rows; ++r) {
      float s = bp ? bp[r] : 0.0f;
      for (int32_t k = ptr[r]; k < ptr[r + 1]; ++k) s += val[k] * xp[i * w.cols + col[k]];
      yp[i * w.rows + r] = apply(act, s);
    }
  return y;
}

Tensor sparse_conv2d(const Tensor& x, const CsrMatrix& w, int kh, int kw, const Tensor& bias, const Conv2dParams& p,
                     Epilogue act) {
  check_dtype("sparse_conv2d", x, DType::f32, "x");
  check_cpu("sparse_conv2d", x);
  TRIM_CHECK(p.groups == 1, "sparse_conv2d: groups must be 1");
  TRIM_CHECK(x.ndim() == 4 && x.size(1) * kh * kw == w.cols,
             cat("sparse_conv2d: input ", x.shape().str(), " does not match weight [", w.rows, ", ", w.cols, "] with a ",
                 kh, "x", kw, " kernel"));
  if (bias.defined()) check_shape("sparse_conv2d", bias, Shape{w.rows}, "bias");
  int64_t n = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3);
  int64_t ho = window_out(h, kh, p.stride_h, p.pad_h, p.dil_h), wo = window_out(wd, kw, p.stride_w, p.pad_w, p.dil_w);
  TRIM_CHECK(ho > 0 && wo > 0, cat("sparse_conv2d: input ", x.shape().str(), " is smaller than the kernel"));
  Tensor y = Tensor::empty(Shape{n, w.rows, ho, wo}, DType::f32, x.device());
  const int32_t* ptr = w.row_ptr.data<int32_t>();
  const int32_t* col = w.col_idx.data<int32_t>();
  const float* val = w.values.data<float>();
  const float* xp = x.data<float>();
  const float* bp = bias.defined() ? bias.data<float>() : nullptr;
  float* yp = y.data<float>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t o = 0; o < w.rows; ++o)
      for (int64_t oy = 0; oy < ho; ++oy)
        for (int64_t ox = 0; ox < wo; ++ox) {
          float s = bp ? bp[o] : 0.0f;
          for (int32_t k = ptr[o]; k < ptr[o + 1]; ++k) {
            int64_t ci = col[k] / (kh * kw), rem = col[k] % (kh * kw), ky = rem / kw, kx = rem % kw;
            int64_t iy = oy * p.stride_h - p.pad_h + ky * p.dil_h, ix = ox * p.stride_w - p.pad_w + kx * p.dil_w;
            if (iy >= 0 && iy < h && ix >= 0 && ix < wd) s += val[k] * xp[((i * c + ci) * h + iy) * wd + ix];
          }
          yp[((i * w.rows + o) * ho + oy) * wo + ox] = apply(act, s);
        }
  return y;
}

}  // namespace trim
