#pragma once
// Small RAII wrappers for cuDNN descriptors used by conv, batch norm and pooling.
#include <cudnn.h>

#include <climits>

#include "core/cuda/check.h"
#include "core/shape.h"

namespace trim::cuda {

// A 4-d NCHW float tensor descriptor; 2-d shapes [N, C] are described as [N, C, 1, 1].
class TensorDesc {
 public:
  explicit TensorDesc(const Shape& s) {
    // The legacy API takes int dimensions and strides: every element offset must fit.
    TRIM_CHECK(s.numel() <= INT_MAX, cat("cuDNN: tensor ", s.str(), " has ", s.numel(),
                                         " elements; cuDNN's legacy API takes at most 2^31 - 1"));
    TRIM_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d_));
    int64_t h = s.ndim() == 4 ? s[2] : 1, w = s.ndim() == 4 ? s[3] : 1;
    TRIM_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(s[0]), int(s[1]), int(h), int(w)));
  }
  ~TensorDesc() { cudnnDestroyTensorDescriptor(d_); }
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
  operator cudnnTensorDescriptor_t() const { return d_; }

 private:
  cudnnTensorDescriptor_t d_ = nullptr;
};

inline const float kOne = 1.0f, kZero = 0.0f;

}  // namespace trim::cuda
