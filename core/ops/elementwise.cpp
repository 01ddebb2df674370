#include "core/ops/elementwise.h"

#include "core/autograd/node.h"
#include "core/kernels/kernels.h"

namespace trim {
namespace {

void check_pair(const char* op, const Tensor& a, const Tensor& b) {
  check_dtype(op, a, DType::f32, "a");
  check_dtype(op, b, DType::f32, "b");
  check_same_device(op, a, b);
  check_shape(op, b, a.shape(), "b");
}

Tensor like(const Tensor& t) { return Tensor::empty(t.shape(), DType::f32, t.device()); }

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  check_pair("add", a, b);
  Tensor y = like(a);
  TRIM_DISPATCH(a.device(), add, a, b, y);
  if (any_requires_grad({&a, &b}))
    record(y, "add", {&a, &b}, [](std::span<const Tensor> g, const GradRequest&) { return std::vector<Tensor>{g[0], g[0]}; });
  return y;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  check_pair("mul", a, b);
  Tensor y = like(a);
  TRIM_DISPATCH(a.device(), mul, a, b, y);
  if (any_requires_grad({&a, &b})) {
    Tensor sa = a.detach(), sb = b.detach();
    record(y, "mul", {&a, &b}, [sa, sb](std::span<const Tensor> gout, const GradRequest& need) {
      const Tensor& g = gout[0];
      std::vector<Tensor> out(2);
      if (need[0]) out[0] = mul(g, sb);
      if (need[1]) out[1] = mul(g, sa);
      return out;
    }, {&sa, &sb});
  }
  return y;
}

Tensor scale(const Tensor& x, float s) {
  check_dtype("scale", x, DType::f32, "x");
  Tensor y = like(x);
  TRIM_DISPATCH(x.device(), scale, x, s, y);
  if (any_requires_grad({&x}))
    record(y, "scale", {&x}, [s](std::span<const Tensor> g, const GradRequest&) { return std::vector<Tensor>{scale(g[0], s)}; });
  return y;
}

Tensor relu(const Tensor& x) {
  check_dtype("relu", x, DType::f32, "x");
  Tensor y = like(x);
  TRIM_DISPATCH(x.device(), relu_forward, x, y);
  if (any_requires_grad({&x})) {
    Tensor sy = y.detach();
    record(y, "relu", {&x}, [sy](std::span<const Tensor> gout, const GradRequest&) {
      const Tensor& g = gout[0];
      Tensor gx = like(g);
      TRIM_DISPATCH(g.device(), relu_backward, sy, g, gx);
      return std::vector<Tensor>{gx};
    }, {&sy});
  }
  return y;
}

Tensor relu6(const Tensor& x) {
  check_dtype("relu6", x, DType::f32, "x");
  Tensor y = like(x);
  TRIM_DISPATCH(x.device(), relu6_forward, x, y);
  if (any_requires_grad({&x})) {
    Tensor sy = y.detach();
    record(y, "relu6", {&x}, [sy](std::span<const Tensor> gout, const GradRequest&) {
      const Tensor& g = gout[0];
      Tensor gx = like(g);
      TRIM_DISPATCH(g.device(), relu6_backward, sy, g, gx);
      return std::vector<Tensor>{gx};
    }, {&sy});
  }
  return y;
}

Tensor activate(const Tensor& x, Epilogue act) {
  return act == Epilogue::relu ? relu(x) : act == Epilogue::relu6 ? relu6(x) : x;
}

Tensor dropout(const Tensor& x, float p, bool training, Generator& gen) {
  TRIM_CHECK(p >= 0.0f && p < 1.0f, cat("dropout: p must be in [0, 1), got ", p));
  if (!training || p == 0.0f) return x;
  check_dtype("dropout", x, DType::f32, "x");
  RandomKey key = gen.reserve(x.numel());
  Tensor y = like(x);
  TRIM_DISPATCH(x.device(), dropout, x, p, key, y);
  if (any_requires_grad({&x}))
    record(y, "dropout", {&x}, [p, key](std::span<const Tensor> gout, const GradRequest&) {
      const Tensor& g = gout[0];
      Tensor gx = like(g);  // same keep mask: same key, same element indices
      TRIM_DISPATCH(g.device(), dropout, g, p, key, gx);
      return std::vector<Tensor>{gx};
    });
  return y;
}

void add_(Tensor& y, const Tensor& x, float alpha) {
  check_pair("add_", y, x);
  TRIM_DISPATCH(y.device(), add_scaled, y, x, alpha);
  y.bump_version();
}

void mul_(Tensor& y, const Tensor& m) {
  check_pair("mul_", y, m);
  TRIM_DISPATCH(y.device(), mul, y, m, y);
  y.bump_version();
}

Tensor affine_u8(const Tensor& images, const ChannelAffine& a) {
  check_dtype("affine_u8", images, DType::u8, "images");
  TRIM_CHECK(a.channels >= 1 && a.channels <= ChannelAffine::kMaxChannels,
             cat("affine_u8: 1 to ", ChannelAffine::kMaxChannels, " channels, got ", a.channels));
  TRIM_CHECK(images.ndim() >= 2 && images.size(1) == a.channels,
             cat("affine_u8: images ", images.shape().str(), " do not have ", a.channels, " channels in dim 1"));
  Tensor y = Tensor::empty(images.shape(), DType::f32, images.device());
  TRIM_DISPATCH(images.device(), affine_u8, images, a, y);
  return y;
}

void uniform_(Tensor& t, float lo, float hi, Generator& gen) {
  check_dtype("uniform_", t, DType::f32, "t");
  TRIM_DISPATCH(t.device(), uniform, t, lo, hi, gen.reserve(t.numel()));
  t.bump_version();
}

void normal_(Tensor& t, float mean, float stddev, Generator& gen) {
  check_dtype("normal_", t, DType::f32, "t");
  TRIM_DISPATCH(t.device(), normal, t, mean, stddev, gen.reserve(t.numel()));
  t.bump_version();
}

void bernoulli_(Tensor& t, float p, Generator& gen) {
  check_dtype("bernoulli_", t, DType::f32, "t");
  TRIM_DISPATCH(t.device(), bernoulli, t, p, gen.reserve(t.numel()));
  t.bump_version();
}

}  // namespace trim
