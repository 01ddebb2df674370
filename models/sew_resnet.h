#pragma once
// SEW ResNet (Fang et al., NeurIPS 2021, arXiv 2102.04159; spiking/README.md, "SEW ResNet-18"):
// ResNet-18 / -34 at ImageNet shapes with spiking neurons and spike-element-wise residual
// connections. Module and parameter names follow SpikingJelly's
// activation_based/model/sew_resnet.py, so state dicts read "conv1.weight", "bn1.running_mean",
// "layer1.0.conv1.weight", "layer2.0.downsample.0.weight", "layer2.0.downsample.1.bias", "fc.weight"
// (neurons: "sn1", "layer1.0.sn1", "layer2.0.downsample_sn"; PLIF adds their "w").
//
// Layout: the image [N, C, H, W] goes through the stem's conv and BN once (direct encoding), is
// repeated to [T, N, ...], and every later conv, BN and pooling runs with T folded into the batch
// (BN statistics over T·N). The head averages the pooled features over T, then applies fc.
#include <cstdint>
#include <memory>
#include <vector>

#include "layers/channels.h"
#include "layers/layers.h"
#include "spiking/firing_rates.h"
#include "spiking/neuron.h"
#include "spiking/sew_connect.h"

namespace trim {

// SEW ResNet's IF neuron: V_th 1, hard reset to 0, detach_reset, ATan(2).
spiking::NeuronConfig sew_if_neuron();

// A = SN(BN(conv3x3(SN(BN(conv3x3(x)))))); identity I = x, or SN(BN(conv1x1/stride(x))) when the
// shape changes; output g(A, I) (ADD A + I, AND A·I, IAND I·(1 − A)), with no neuron after g.
class SewBasicBlock : public Module {
 public:
  // width: conv1's outputs (-1: out; a slimmed network's own).
  SewBasicBlock(int64_t in, int64_t out, int stride, spiking::Connect connect, const spiking::NeuronConfig& neuron,
                int64_t width = -1);
  Tensor forward(const Tensor& x) override;  // [T, N, in, H, W] -> [T, N, out, H / stride, W / stride]

  std::shared_ptr<Conv2d> conv1, conv2;
  std::shared_ptr<BatchNorm2d> bn1, bn2;
  std::shared_ptr<spiking::NeuronLayer> sn1, sn2;
  std::shared_ptr<Sequential> downsample;             // conv1x1 + BN; null when the shape is kept
  std::shared_ptr<spiking::NeuronLayer> downsample_sn;  // null with downsample
  spiking::Connect connect;
};

struct SewResNetOptions {
  std::vector<int64_t> blocks{2, 2, 2, 2};  // BasicBlocks per stage (ResNet-18; ResNet-34: 3, 4, 6, 3)
  int64_t T = 4;
  int64_t in_channels = 3;
  int64_t num_classes = 1000;
  spiking::Connect connect = spiking::Connect::add;
  spiking::NeuronConfig neuron = sew_if_neuron();
  // Each block's last BN starts with gamma 0 (and beta 1 under AND, so that the block starts as
  // the identity); off in the SEW paper's ImageNet runs.
  bool zero_init_residual = false;
  // Widths, for slimmed networks (layers/channels.h): the stem's, each stage's stream, and each
  // block's conv1 in order (empty: the stage's). The stem's feed stage 1's identity adds when equal.
  int64_t stem_width = 64;
  std::vector<int64_t> stage_widths{64, 128, 256, 512};
  std::vector<int64_t> widths;
};

class SewResNet : public spiking::SpikingNetwork, public ChannelCoupled {
 public:
  explicit SewResNet(const SewResNetOptions& o);
  const std::vector<ChannelGroup>& channel_groups() const override { return groups_; }
  int64_t time_steps() const { return T_; }

  std::shared_ptr<Conv2d> conv1;  // 7x7/2, no bias
  std::shared_ptr<BatchNorm2d> bn1;
  std::shared_ptr<spiking::NeuronLayer> sn1;
  std::shared_ptr<MaxPool2d> maxpool;                    // 3x3/2, padding 1
  std::vector<std::shared_ptr<Sequential>> stages;       // "layer1" .. "layer4" (widths 64 .. 512)
  std::shared_ptr<AdaptiveAvgPool2d> avgpool;
  std::shared_ptr<Linear> fc;

  // Runs up to and including `stage` (0 = the stem after max-pooling, 1..4 = layerN) on an image
  // batch [N, C, H, W] and returns the activations [T, N, C', H', W'] (for shape checks).
  Tensor features(const Tensor& x, int stage);

 protected:
  Tensor forward_steps(const Tensor& x) override;  // [N, C, H, W] -> logits [N, num_classes]

 private:
  Tensor stem(const Tensor& x);
  int64_t T_;
  std::vector<ChannelGroup> groups_;
};

}  // namespace trim
