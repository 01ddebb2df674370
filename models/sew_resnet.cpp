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
Tensor conv_bn_steps(Conv2d& c, BatchNorm2d& bn, const Tensor& x) { return unfold_time(conv_bn(c, bn, fold_time(x)), x.size(0)); }

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
                             const spiking::NeuronConfig& neuron, int64_t width)
    : connect(f) {
  if (width < 0) width = out;
  // Registration order is SpikingJelly's, so state dicts list tensors in the same order.
  conv1 = register_module("conv1", conv(in, width, 3, stride, 1));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(width));
  sn1 = register_module("sn1", make_neuron_layer(neuron));
  conv2 = register_module("conv2", conv(width, out, 3, 1, 1));
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
  Tensor a = (*sn1)(conv_bn_steps(*conv1, *bn1, x));
  a = (*sn2)(conv_bn_steps(*conv2, *bn2, a));
  Tensor identity = downsample ? (*downsample_sn)(spiking::seq_to_ann(*downsample, x)) : x;
  return spiking::sew_connect(a, identity, connect);
}

SewResNet::SewResNet(const SewResNetOptions& o) : T_(o.T) {
  TRIM_CHECK(o.T >= 1, cat("SewResNet: T must be >= 1, got ", o.T));
  TRIM_CHECK(o.blocks.size() == 4, cat("SewResNet: expected blocks for 4 stages, got ", o.blocks.size()));
  TRIM_CHECK(o.in_channels >= 1 && o.num_classes >= 1, "SewResNet: in_channels and num_classes must be >= 1");
  TRIM_CHECK(o.stage_widths.size() == 4, cat("SewResNet: expected 4 stage widths, got ", o.stage_widths.size()));
  int64_t n_blocks = 0;
  for (int64_t b : o.blocks) n_blocks += b;
  TRIM_CHECK(o.widths.empty() || int64_t(o.widths.size()) == n_blocks,
             cat("SewResNet: expected ", n_blocks, " block widths, got ", o.widths.size()));
  conv1 = register_module("conv1", conv(o.in_channels, o.stem_width, 7, 2, 3));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(o.stem_width));
  sn1 = register_module("sn1", make_neuron_layer(o.neuron));
  maxpool = register_module("maxpool", std::make_shared<MaxPool2d>(3, 2, 1));
  // Channel groups (layers/channels.h), as torchvision's basic-block ResNets in models/resnet.cpp:
  // spike-element-wise connections (ADD, AND, IAND) map channel c of both inputs to channel c, so a
  // stream channel zero in every producer stays zero through every connection.
  auto group = [&](std::string name, int64_t channels, bool prunable, std::string option, int64_t index) {
    groups_.push_back({std::move(name), channels, prunable, std::move(option), index, {}, {}});
    return groups_.size() - 1;
  };
  auto member = [&](size_t g, std::string layer, ChannelRole role) { groups_[g].members.push_back({std::move(layer), role, 0, 1, {}}); };
  size_t cur = group("conv1", o.stem_width, true, "stem_width", -1);
  member(cur, "conv1", ChannelRole::output);
  member(cur, "bn1", ChannelRole::norm);
  int64_t in = o.stem_width;
  size_t w = 0;
  for (int s = 0; s < 4; ++s) {
    TRIM_CHECK(o.blocks[size_t(s)] >= 1, cat("SewResNet: stage ", s + 1, " needs at least one block"));
    auto stage = std::make_shared<Sequential>();
    std::string lname = cat("layer", s + 1);
    for (int64_t b = 0; b < o.blocks[size_t(s)]; ++b) {
      int64_t out = o.stage_widths[size_t(s)], width = o.widths.empty() ? out : o.widths[w];
      auto block = std::make_shared<SewBasicBlock>(in, out, b == 0 && s > 0 ? 2 : 1, o.connect, o.neuron, width);
      std::string name = cat(lname, ".", b, ".");
      member(cur, name + "conv1", ChannelRole::input);
      if (block->downsample) member(cur, name + "downsample.0", ChannelRole::input);
      size_t g = group(name + "conv1", width, true, "widths", int64_t(w++));
      member(g, name + "conv1", ChannelRole::output);
      member(g, name + "bn1", ChannelRole::norm);
      member(g, name + "conv2", ChannelRole::input);
      if (block->downsample) {
        cur = group(lname + " stream", out, false, "stage_widths", s);
        member(cur, name + "downsample.0", ChannelRole::output);
        member(cur, name + "downsample.1", ChannelRole::norm);
      } else {
        groups_[cur].prunable = false;  // an identity connection ties it to the block's output
        if (groups_[cur].option == "stem_width") {
          groups_[cur].name = "conv1 + " + lname + " stream";
          groups_[cur].option = "stage_widths", groups_[cur].index = s;
          groups_[cur].also_options.push_back({"stem_width", -1});
        }
      }
      member(cur, name + "conv2", ChannelRole::output);
      member(cur, name + "bn2", ChannelRole::norm);
      if (o.zero_init_residual) {
        block->bn2->weight.fill_(0.0f);
        // Under AND, A = 1 keeps I: beta 1 makes the fresh branch fire at every step.
        if (o.connect == spiking::Connect::and_) block->bn2->bias.fill_(1.0f);
      }
      stage->push_back(block);
      in = out;
    }
    stages.push_back(register_module(cat("layer", s + 1), stage));
  }
  avgpool = register_module("avgpool", std::make_shared<AdaptiveAvgPool2d>(1));
  fc = register_module("fc", std::make_shared<Linear>(in, o.num_classes));
  member(cur, "fc", ChannelRole::input);
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
  o.stem_width = positive_option(spec, "stem_width", 64);
  o.stage_widths = widths_option(spec, "stage_widths", {64, 128, 256, 512});
  int64_t n = 0;
  for (int64_t b : o.blocks) n += b;
  std::vector<int64_t> width_default;
  for (size_t s = 0; s < 4; ++s) width_default.insert(width_default.end(), size_t(o.blocks[s]), o.stage_widths[s]);
  o.widths = widths_option(spec, "widths", width_default);
  TRIM_CHECK(int64_t(o.widths.size()) == n, "sew_resnet: block widths");
  o.neuron = read_model_neuron(spec, {"name", "T", "in_channels", "num_classes", "connect", "zero_init_residual",
                                      "stem_width", "stage_widths", "widths"});
  return std::make_shared<SewResNet>(o);
}

}  // namespace

std::shared_ptr<Module> make_sew_resnet18(const Config& spec) { return make_sew_resnet(spec, {2, 2, 2, 2}); }
std::shared_ptr<Module> make_sew_resnet34(const Config& spec) { return make_sew_resnet(spec, {3, 4, 6, 3}); }

}  // namespace trim
