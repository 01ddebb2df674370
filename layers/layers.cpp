#include "layers/layers.h"

#include "core/ops/ops.h"
#include "layers/init.h"

namespace trim {

Conv2d::Conv2d(const Conv2dOptions& o) {
  TRIM_CHECK(o.in >= 1 && o.out >= 1 && o.kernel >= 1 && o.groups >= 1 && o.in % o.groups == 0 && o.out % o.groups == 0,
             cat("Conv2d: in=", o.in, " out=", o.out, " kernel=", o.kernel, " groups=", o.groups, " is not a valid layer"));
  weight = Tensor::empty(Shape{o.out, o.in / o.groups, o.kernel, o.kernel});
  if (o.bias) bias = Tensor::empty(Shape{o.out});
  default_init_(weight, bias);
  params = {o.stride, o.stride, o.padding, o.padding, o.dilation, o.dilation, o.groups};
  register_parameter("weight", &weight, {ParamKind::weight, true});
  if (o.bias) register_parameter("bias", &bias, {ParamKind::bias, false});
}

Tensor Conv2d::forward(const Tensor& x) {
  if (deployed) return deployed(x, Tensor(), Epilogue::none);
  Tensor y = conv2d(x, forward_weight(), bias, params);
  last_input = x.shape();
  last_output = y.shape();
  uses_per_weight = y.size(2) * y.size(3);
  if (input_probe) input_probe(x);
  return y;
}

BatchNorm2d::BatchNorm2d(int64_t channels, float m, float e) : momentum(m), eps(e) {
  weight = Tensor::full(Shape{channels}, 1.0f);
  bias = Tensor::zeros(Shape{channels});
  running_mean = Tensor::zeros(Shape{channels});
  running_var = Tensor::full(Shape{channels}, 1.0f);
  register_parameter("weight", &weight, {ParamKind::norm, false});
  register_parameter("bias", &bias, {ParamKind::norm, false});
  register_buffer("running_mean", &running_mean);
  register_buffer("running_var", &running_var);
}

Tensor BatchNorm2d::forward(const Tensor& x) {
  last_input = x.shape();
  if (folded) return x;
  return batch_norm(x, weight, bias, running_mean, running_var, training(), momentum, eps);
}

Tensor BatchNorm2d::forward_relu(const Tensor& x) {
  last_input = x.shape();
  if (folded) return relu(x);
  return batch_norm_relu(x, weight, bias, running_mean, running_var, training(), momentum, eps);
}

Linear::Linear(int64_t in, int64_t out, bool with_bias) {
  TRIM_CHECK(in >= 1 && out >= 1, cat("Linear: in=", in, " out=", out, " is not a valid layer"));
  weight = Tensor::empty(Shape{out, in});
  if (with_bias) bias = Tensor::empty(Shape{out});
  default_init_(weight, bias);
  register_parameter("weight", &weight, {ParamKind::weight, true});
  if (with_bias) register_parameter("bias", &bias, {ParamKind::bias, false});
}

Tensor Linear::forward(const Tensor& x) {
  if (deployed) return deployed(x, Tensor(), Epilogue::none);
  Tensor y = linear(x, forward_weight(), bias);
  last_input = x.shape();
  last_output = y.shape();
  uses_per_weight = 1;
  if (input_probe) input_probe(x);
  return y;
}

Tensor ReLU::forward(const Tensor& x) { return folded ? x : relu(x); }

MaxPool2d::MaxPool2d(int k, int s, int p) : params{k, k, s, s, p, p} {}
Tensor MaxPool2d::forward(const Tensor& x) { return max_pool2d(x, params); }

AvgPool2d::AvgPool2d(int k, int s, int p) : params{k, k, s, s, p, p} {}
Tensor AvgPool2d::forward(const Tensor& x) { return avg_pool2d(x, params); }

AdaptiveAvgPool2d::AdaptiveAvgPool2d(int s) : size(s) { TRIM_CHECK(s >= 1, "AdaptiveAvgPool2d: size must be >= 1"); }

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) {
  TRIM_CHECK(x.ndim() == 4, cat("AdaptiveAvgPool2d: expected [N, C, H, W], got ", x.shape().str()));
  if (size == 1) return reshape(global_avg_pool(x), Shape{x.size(0), x.size(1), 1, 1});
  if (x.size(2) % size != 0 || x.size(3) % size != 0) return adaptive_avg_pool2d(x, size, size);
  int kh = int(x.size(2) / size), kw = int(x.size(3) / size);  // equal windows: plain average pooling
  return avg_pool2d(x, Pool2dParams{kh, kw, kh, kw, 0, 0});
}

Dropout::Dropout(float prob) : p(prob) { TRIM_CHECK(p >= 0.0f && p < 1.0f, cat("Dropout: p must be in [0, 1), got ", p)); }
Tensor Dropout::forward(const Tensor& x) { return dropout(x, p, training()); }

Tensor Flatten::forward(const Tensor& x) { return flatten(x); }

Tensor ReLU6::forward(const Tensor& x) { return folded ? x : relu6(x); }

ShortcutA::ShortcutA(int64_t i, int64_t o, int s) : in(i), out(o), stride(s) {
  TRIM_CHECK(i >= 1 && o >= i && s >= 1, cat("ShortcutA: in=", i, " out=", o, " stride=", s, " is not a valid shortcut"));
}

Tensor ShortcutA::forward(const Tensor& x) {
  TRIM_CHECK(x.ndim() == 4 && x.size(1) == in,
             cat("ShortcutA(", in, " -> ", out, "): expected [N, ", in, ", H, W], got ", x.shape().str()));
  return shortcut_a(x, stride, (out - in) / 2, out);
}

Sequential::Sequential(std::vector<std::shared_ptr<Module>> layers) {
  for (auto& l : layers) push_back(std::move(l));
}

void Sequential::push_back(std::shared_ptr<Module> layer) {
  register_module(std::to_string(layers_.size()), layer);
  layers_.push_back(std::move(layer));
}

Tensor conv_bn(Conv2d& conv, BatchNorm2d& bn, const Tensor& x, Epilogue act, const Tensor& residual) {
  if (conv.deployed && bn.folded) return conv.deployed(x, residual, act);
  Tensor c = conv(x);
  if (!residual.defined() && act == Epilogue::relu) return bn.forward_relu(c);
  Tensor y = residual.defined() ? add(bn(c), residual) : bn(c);
  return activate(y, act);
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (size_t i = 0; i < layers_.size(); ++i) {
    // A batch norm followed by a ReLU runs as one fused op (the same values, one pass fewer).
    auto* bn = dynamic_cast<BatchNorm2d*>(layers_[i].get());
    // (Deployed, both were folded into the conv before them and pass their input through.)
    if (bn && !bn->folded && i + 1 < layers_.size() && dynamic_cast<ReLU*>(layers_[i + 1].get())) {
      y = bn->forward_relu(y);
      ++i;
    } else {
      y = layers_[i]->forward(y);
    }
  }
  return y;
}

}  // namespace trim
