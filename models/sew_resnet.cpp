#include "models/sew_resnet.h"

#include "core/ops/shape_ops.h"
#include "layers/init.h"
#include "models/spiking_options.h"
#include "models/zoo.h"
#include "spiking/time_fold.h"

namespace trim {
namespace {

using spiking::fold_time;
using spiking::unfold_time;

// Convs kaiming-normal (fan_out, ReLU gain), as SpikingJelly's and torchvision's ResNets.
std::shared_ptr<Conv2d> conv(int64_t in, int64_t out, int kernel, int stride, int padding) {
  auto c = std::make_shared<Conv2d>(
      Conv2dOptions{.in = in, .out = out, .kernel = kernel, .stride = stride, .padding = padding, .bias = false});
  kaiming_normal_(c->weight, FanMode::fan_out);
  return c;
}

// conv + BN over x [T, N, ...] with T folded into the batch.
Tensor conv_bn(Conv2d& c, BatchNorm2d& bn, const Tensor& x) { return unfold_time(bn(c(fold_time(x))), x.size(0)); }

}  // namespace

spiking::NeuronConfig sew_if_neuron() {
  spiking::NeuronConfig n;
  n.kind = spiking::NeuronKind::if_node;
  n.v_threshold = 1.0f;
  n.v_reset = 0.0f;
  n.detach_reset = true;
  n.surrogate = {surrogate::Kind::atan, 2.0f};
  return n;
}

SewBasicBlock::SewBasicBlock(int64_t in, int64_t out, int stride, spiking::Connect f,
                             const spiking::NeuronConfig& neuron)
    : connect(f) {
  // Registration order is SpikingJelly's, so state dicts list tensors in the same order.
  conv1 = register_module("conv1", conv(in, out, 3, stride, 1));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(out));
  sn1 = register_module("sn1", make_neuron_layer(neuron));
  conv2 = register_module("conv2", conv(out, out, 3, 1, 1));
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(out));
  sn2 = register_module("sn2", make_neuron_layer(neuron));
  if (stride != 1 || in != out) {
    downsample = register_module(
        "downsample", std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{
                          conv(in, out, 1, stride, 0), std::make_shared<BatchNorm2d>(out)}));
    downsample_sn = register_module("downsample_sn", make_neuron_layer(neuron));
  }
}

Tensor SewBasicBlock::forward(const Tensor& x) {
  TRIM_CHECK(x.ndim() == 5, cat("SewBasicBlock: expected [T, N, C, H, W], got ", x.shape().str()));
  Tensor a = (*sn1)(conv_bn(*conv1, *bn1, x));
  a = (*sn2)(conv_bn(*conv2, *bn2, a));
  Tensor identity = downsample ? (*downsample_sn)(spiking::seq_to_ann(*downsample, x)) : x;
  return spiking::sew_connect(a, identity, connect);
}

SewResNet::SewResNet(const SewResNetOptions& o) : T_(o.T) {
  TRIM_CHECK(o.T >= 1, cat("SewResNet: T must be >= 1, got ", o.T));
  TRIM_CHECK(o.blocks.size() == 4, cat("SewResNet: expected blocks for 4 stages, got ", o.blocks.size()));
  TRIM_CHECK(o.in_channels >= 1 && o.num_classes >= 1, "SewResNet: in_channels and num_classes must be >= 1");
  conv1 = register_module("conv1", conv(o.in_channels, 64, 7, 2, 3));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(64));
  sn1 = register_module("sn1", make_neuron_layer(o.neuron));
  maxpool = register_module("maxpool", std::make_shared<MaxPool2d>(3, 2, 1));
  int64_t in = 64;
  const int64_t widths[4] = {64, 128, 256, 512};
  for (int s = 0; s < 4; ++s) {
    TRIM_CHECK(o.blocks[size_t(s)] >= 1, cat("SewResNet: stage ", s + 1, " needs at least one block"));
    auto stage = std::make_shared<Sequential>();
    for (int64_t b = 0; b < o.blocks[size_t(s)]; ++b) {
      auto block = std::make_shared<SewBasicBlock>(in, widths[s], b == 0 && s > 0 ? 2 : 1, o.connect, o.neuron);
      if (o.zero_init_residual) {
        block->bn2->weight.fill_(0.0f);
        // Under AND, A = 1 keeps I: beta 1 makes the fresh branch fire at every step.
        if (o.connect == spiking::Connect::and_) block->bn2->bias.fill_(1.0f);
      }
      stage->push_back(block);
      in = widths[s];
    }
    stages.push_back(register_module(cat("layer", s + 1), stage));
  }
  avgpool = register_module("avgpool", std::make_shared<AdaptiveAvgPool2d>(1));
  fc = register_module("fc", std::make_shared<Linear>(in, o.num_classes));
}

Tensor SewResNet::stem(const Tensor& x) {
  TRIM_CHECK(x.ndim() == 4, cat("SewResNet: expected images [N, C, H, W], got ", x.shape().str()));
  // Direct encoding: conv and BN see the static image once (BN statistics over N only).
  Tensor s = spiking::repeat_time((*bn1)((*conv1)(x)), T_);
  return spiking::seq_to_ann(*maxpool, (*sn1)(s));
}

Tensor SewResNet::features(const Tensor& x, int stage) {
  TRIM_CHECK(stage >= 0 && stage <= 4, cat("SewResNet::features: stage must be 0..4, got ", stage));
  Tensor y = stem(x);
  for (int s = 0; s < stage; ++s) y = (*stages[size_t(s)])(y);
  return y;
}

Tensor SewResNet::forward_steps(const Tensor& x) {
  Tensor y = features(x, 4);  // [T, N, 512, h, w]
  Tensor pooled = (*avgpool)(fold_time(y));  // [T·N, 512, 1, 1]
  Tensor steps = reshape(pooled, Shape{y.size(0), y.size(1), y.size(2)});
  return (*fc)(spiking::mean_time(steps));
}

namespace {

std::shared_ptr<Module> make_sew_resnet(const Config& spec, std::vector<int64_t> blocks) {
  SewResNetOptions o;
  o.blocks = std::move(blocks);
  o.T = read_time_steps(spec);
  o.in_channels = spec.get<int64_t>("in_channels", 3);
  if (o.in_channels < 1) spec.fail("in_channels", "expected an integer >= 1");
  o.num_classes = spec.get<int64_t>("num_classes", 1000);
  if (o.num_classes < 1) spec.fail("num_classes", "expected an integer >= 1");
  o.connect = spiking::parse_connect(spec, "connect", spiking::Connect::add);
  o.zero_init_residual = spec.get<bool>("zero_init_residual", false);
  o.neuron = read_model_neuron(spec, {"name", "T", "in_channels", "num_classes", "connect", "zero_init_residual"});
  return std::make_shared<SewResNet>(o);
}

}  // namespace

std::shared_ptr<Module> make_sew_resnet18(const Config& spec) { return make_sew_resnet(spec, {2, 2, 2, 2}); }
std::shared_ptr<Module> make_sew_resnet34(const Config& spec) { return make_sew_resnet(spec, {3, 4, 6, 3}); }

}  // namespace trim
