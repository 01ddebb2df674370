#pragma once
#include "core/kernels/epilogue.h"
#include "core/kernels/params.h"
#include "core/random/generator.h"
#include "core/tensor.h"

namespace trim {

// Differentiable element-wise ops on same-shape f32 tensors.
Tensor add(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& x, float s);
Tensor relu(const Tensor& x);
// min(max(x, 0), 6); the gradient passes where 0 < x < 6 (PyTorch's hardtanh backward).
Tensor relu6(const Tensor& x);
// An Epilogue (core/kernels/epilogue.h) as an op: x, relu(x) or relu6(x).
Tensor activate(const Tensor& x, Epilogue act);

// Inverted dropout: in training, zeroes each element with probability p (drawn from `gen`) and
// scales the rest by 1/(1-p); otherwise returns x. 0 <= p < 1.
Tensor dropout(const Tensor& x, float p, bool training, Generator& gen = default_generator());

// y += alpha * x in place; never recorded (gradient accumulation, optimizers).
void add_(Tensor& y, const Tensor& x, float alpha = 1.0f);
// y *= m in place, element-wise; never recorded (applying pruning masks to parameter arenas).
void mul_(Tensor& y, const Tensor& m);

// u8 images [N, C, ...] -> f32 x * a.scale[c] + a.shift[c]; not differentiable.
Tensor affine_u8(const Tensor& images, const ChannelAffine& a);

// Fill with random numbers in place (never recorded); the stream position comes from `gen`.
void uniform_(Tensor& t, float lo, float hi, Generator& gen = default_generator());
void normal_(Tensor& t, float mean, float stddev, Generator& gen = default_generator());
void bernoulli_(Tensor& t, float p, Generator& gen = default_generator());

}  // namespace trim
