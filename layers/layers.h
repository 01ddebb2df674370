#pragma once
// The core layers. Constructors create parameters on the CPU with PyTorch's default
// initialisation; Module::to moves them.
//
// To add a layer: a Module subclass here (or in its own layers/<name>.{h,cpp}, listed in
// layers/CMakeLists.txt) that registers its parameters and buffers under PyTorch's names and whose
// forward() calls ops (core/ops); a layer with a prunable weight derives from WeightedLayer. A
// test in test/unit/test_layers.cpp checks its outputs and gradients.
#include <functional>
#include <memory>
#include <vector>

#include "core/kernels/epilogue.h"
#include "core/kernels/params.h"
#include "layers/module.h"

namespace trim {

struct Conv2dOptions {
  int64_t in = 1, out = 1;
  int kernel = 3, stride = 1, padding = 0, dilation = 1, groups = 1;
  bool bias = true;
};

// A layer with a weight (Conv2d, Linear). Its forward pass reads forward_weight(): the weight
// itself, or what a training method's weight function makes of it (LTP's soft mask w * m(w, tau)),
// recorded by autograd like any op.
class WeightedLayer : public Module {
 public:
  Tensor weight, bias;  // bias is undefined when the layer has none
  std::function<Tensor(const Tensor& weight)> weight_fn;
  Tensor forward_weight() const { return weight_fn ? weight_fn(weight) : weight; }
  // Inference only (trim-deploy, apps/deploy/plan.h): when set, forward(x) returns
  // deployed(x, {}, none), the layer as deployed (folded, fused, maybe sparse), so a model's own
  // forward() runs it; deployed(x, r, act) is act(layer(x) + r) in one pass (conv_bn below).
  std::function<Tensor(const Tensor& x, const Tensor& residual, Epilogue act)> deployed;
  // Multiply-accumulates per example of the last forward pass, for each weight element: the output
  // positions a weight element takes part in (Ho * Wo for a conv, 1 for a linear layer). With it,
  // MACs = uses_per_weight * weight.numel() dense, or * nonzeros(weight) once pruned.
  int64_t uses_per_weight = 0;
  Shape last_output;  // shape of the last forward's output
  Shape last_input;   // shape of the last forward's input (layers/profile.h: layer_inputs)
  // When set, forward calls it with its input before returning (spiking/synaptic_ops.h counts the
  // synaptic operations of an evaluation pass with it).
  std::function<void(const Tensor& input)> input_probe;
};

class Conv2d : public WeightedLayer {
 public:
  explicit Conv2d(const Conv2dOptions& o);
  Tensor forward(const Tensor& x) override;  // weight [out, in / groups, k, k], bias [out]
  Conv2dParams params;
};

class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int64_t channels, float momentum = 0.1f, float eps = 1e-5f);
  Tensor forward(const Tensor& x) override;  // [N, C, H, W] or [N, C]
  // relu(forward(x)), fused in training (core/ops/batchnorm.h: batch_norm_relu); Sequential calls it
  // for a BatchNorm2d followed by a ReLU, and models call it where a ReLU follows the norm.
  Tensor forward_relu(const Tensor& x);
  Tensor weight, bias, running_mean, running_var;
  float momentum, eps;
  Shape last_input;  // shape of the last forward's input (layers/profile.h: layer_inputs)
  // Inference only (trim-deploy, apps/deploy/plan.h): its statistics were folded into the conv
  // before it, so forward() returns its input without a pass over it.
  bool folded = false;
};

class Linear : public WeightedLayer {
 public:
  Linear(int64_t in, int64_t out, bool bias = true);
  Tensor forward(const Tensor& x) override;  // [N, in] -> [N, out]; weight [out, in], bias [out]
};

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  // Inference only (trim-deploy): fused into the layer before it, so forward() returns its input.
  bool folded = false;
};

class MaxPool2d : public Module {
 public:
  MaxPool2d(int kernel, int stride, int padding = 0);
  Tensor forward(const Tensor& x) override;
  Pool2dParams params;
};

class AvgPool2d : public Module {
 public:
  AvgPool2d(int kernel, int stride, int padding = 0);
  Tensor forward(const Tensor& x) override;
  Pool2dParams params;
};

// Average pooling to an output of size x size with PyTorch's adaptive windows (size 1 is the
// global average pool; an output larger than the input repeats elements). Output [N, C, size, size].
class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(int size = 1);
  Tensor forward(const Tensor& x) override;
  int size;
};

class Dropout : public Module {
 public:
  explicit Dropout(float p = 0.5f);
  Tensor forward(const Tensor& x) override;  // identity in eval mode
  float p;
};

class Flatten : public Module {
 public:
  Tensor forward(const Tensor& x) override;  // [N, ...] -> [N, prod(...)]
};

class ReLU6 : public Module {
 public:
  Tensor forward(const Tensor& x) override;  // min(max(x, 0), 6)
  bool folded = false;  // as ReLU::folded
};

// The CIFAR ResNets' option-A shortcut: x[:, :, ::stride, ::stride] with zero channels around it,
// (out - in) / 2 in front and the rest behind (planes / 4 on each side when a stage doubles its
// width, as in He et al. and akamaster's code). No parameters.
class ShortcutA : public Module {
 public:
  ShortcutA(int64_t in, int64_t out, int stride);
  Tensor forward(const Tensor& x) override;
  int64_t in, out;
  int stride;
};

// act(bn(conv(x)) + residual) (residual undefined: none): the conv-BN unit of
// the residual networks. In training the ops one by one (BN and ReLU fused when nothing is added);
// in a deployed model whose BN was folded into the conv, one call of the deployed conv with the
// residual and the activation in its epilogue.
Tensor conv_bn(Conv2d& conv, BatchNorm2d& bn, const Tensor& x, Epilogue act = Epilogue::none,
               const Tensor& residual = Tensor());

// Children named "0", "1", ... applied in order.
class Sequential : public Module {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<std::shared_ptr<Module>> layers);
  void push_back(std::shared_ptr<Module> layer);
  Tensor forward(const Tensor& x) override;
  size_t size() const { return layers_.size(); }
  Module& operator[](size_t i) { return *layers_.at(i); }

 private:
  std::vector<std::shared_ptr<Module>> layers_;
};

}  // namespace trim
