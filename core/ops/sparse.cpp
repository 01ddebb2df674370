#include "core/ops/sparse.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "core/error.h"
#include "core/kernels/kernels.h"

// The CSR weight's conversions and checks, and the sparse ops: argument checks here, the products
// in the backends (cpu/sparse.cpp, cuda/sparse.cu; kernel_list.inc: csr_linear, csr_conv2d). The
// conversions go through host vectors on every device: they run once per deployed weight.
namespace trim {
namespace {

// User input (a deployed file): one clear trim::Error, no file:line of ours.
void need(bool ok, const std::string& message) {
  if (!ok) throw Error(message);
}

// The weight's tensors agree with each other and with x (cheap checks only: the indices themselves
// are validate()'s job, once, when the weight is read).
void check_weight(const char* op, const Tensor& x, const CsrMatrix& w, const Tensor& bias) {
  check_dtype(op, x, DType::f32, "x");
  TRIM_CHECK(w.row_ptr.defined() && w.col_idx.defined() && w.values.defined(), cat(op, ": the CSR weight is empty"));
  TRIM_CHECK(w.row_ptr.dtype() == DType::i32 && w.col_idx.dtype() == DType::i32 && w.values.dtype() == DType::f32,
             cat(op, ": the CSR weight needs i32 row_ptr and col_idx and f32 values"));
  TRIM_CHECK(w.row_ptr.numel() == w.rows + 1 && w.col_idx.numel() == w.values.numel(),
             cat(op, ": the CSR weight's row_ptr has ", w.row_ptr.numel(), " entries for ", w.rows, " rows and col_idx ",
                 w.col_idx.numel(), " for ", w.values.numel(), " values"));
  check_same_device(op, x, w.row_ptr);
  check_same_device(op, x, w.col_idx);
  check_same_device(op, x, w.values);
  if (bias.defined()) {
    check_same_device(op, x, bias);
    check_shape(op, bias, Shape{w.rows}, "bias");
  }
}

}  // namespace

CsrMatrix CsrMatrix::from_dense(const Tensor& w) {
  check_dtype("CsrMatrix::from_dense", w, DType::f32, "weight");
  TRIM_CHECK(w.ndim() >= 2, cat("CsrMatrix::from_dense: expected a matrix or a conv weight, found ", w.shape().str()));
  int64_t rows = w.size(0), cols = 1;
  for (int i = 1; i < w.ndim(); ++i) cols *= w.size(i);
  TRIM_CHECK(rows < std::numeric_limits<int32_t>::max() && cols <= std::numeric_limits<int32_t>::max(),
             cat("CsrMatrix::from_dense: ", w.shape().str(), " has more rows or columns than i32 indices address"));
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
  check_weight("sparse_linear", x, w, bias);
  TRIM_CHECK(x.ndim() == 2 && x.size(1) == w.cols,
             cat("sparse_linear: input ", x.shape().str(), " does not match weight [", w.rows, ", ", w.cols, "]"));
  Tensor y = Tensor::empty(Shape{x.size(0), w.rows}, DType::f32, x.device());
  TRIM_DISPATCH(x.device(), csr_linear, w.row_ptr, w.col_idx, w.values, x, bias, act, y);
  return y;
}

Tensor sparse_conv2d(const Tensor& x, const CsrMatrix& w, int kh, int kw, const Tensor& bias, const Conv2dParams& p,
                     Epilogue act, const Tensor& residual) {
  check_weight("sparse_conv2d", x, w, bias);
  TRIM_CHECK(p.groups == 1, "sparse_conv2d: groups must be 1");
  TRIM_CHECK(kh > 0 && kw > 0 && p.stride_h > 0 && p.stride_w > 0 && p.dil_h > 0 && p.dil_w > 0 && p.pad_h >= 0 &&
                 p.pad_w >= 0,
             cat("sparse_conv2d: kernel ", kh, "x", kw, ", strides, dilations must be positive and padding >= 0"));
  TRIM_CHECK(x.ndim() == 4 && x.size(1) * kh * kw == w.cols,
             cat("sparse_conv2d: input ", x.shape().str(), " does not match weight [", w.rows, ", ", w.cols, "] with a ",
                 kh, "x", kw, " kernel"));
  int64_t h = x.size(2), wd = x.size(3);
  int64_t ho = window_out(h, kh, p.stride_h, p.pad_h, p.dil_h), wo = window_out(wd, kw, p.stride_w, p.pad_w, p.dil_w);
  TRIM_CHECK(ho > 0 && wo > 0, cat("sparse_conv2d: input ", x.shape().str(), " is smaller than the kernel"));
  const Shape out{x.size(0), w.rows, ho, wo};
  if (residual.defined()) {
    check_dtype("sparse_conv2d", residual, DType::f32, "residual");
    check_same_device("sparse_conv2d", x, residual);
    check_shape("sparse_conv2d", residual, out, "residual");
  }
  Tensor y = Tensor::empty(out, DType::f32, x.device());  // fresh: the kernels need y not to alias the residual
  TRIM_DISPATCH(x.device(), csr_conv2d, w.row_ptr, w.col_idx, w.values, x, kh, kw, bias, p, act, residual, y);
  return y;
}

}  // namespace trim
