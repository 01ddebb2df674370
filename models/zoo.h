#pragma once
// Internal: one factory per model family (see models.h for the specs), and what they share. Each
// factory reads and bounds every option with its JSON path; mlp, sap_cnn and cnn_small also count
// the parameters they will create (with overflow checks) and call check_model_size before they
// allocate anything.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "layers/channels.h"
#include "layers/layers.h"

namespace trim {

std::shared_ptr<Module> make_mlp(const Config& spec);
std::shared_ptr<Module> make_sap_cnn(const Config& spec);
std::shared_ptr<Module> make_cnn_small(const Config& spec);
std::shared_ptr<Module> make_sew_resnet18(const Config& spec);
std::shared_ptr<Module> make_sew_resnet34(const Config& spec);
std::shared_ptr<Module> make_spiking_cnn(const Config& spec);

std::shared_ptr<Module> make_resnet(const Config& spec);         // resnet18, resnet34, resnet50
std::shared_ptr<Module> make_mobilenet_v1(const Config& spec);
std::shared_ptr<Module> make_mobilenet_v2(const Config& spec);
std::shared_ptr<Module> make_vgg(const Config& spec);            // vgg19, vgg19_bn
std::shared_ptr<Module> make_vgg_cifar(const Config& spec);      // vgg19_cifar
std::shared_ptr<Module> make_alexnet(const Config& spec);
std::shared_ptr<Module> make_cifar_resnet(const Config& spec);   // resnet20, resnet56
std::shared_ptr<Module> make_preact_resnet(const Config& spec);  // preact_resnet18
std::shared_ptr<Module> make_wrn(const Config& spec);            // wrn28_8

// How a factory initialises a conv or linear weight (biases are zeroed except for torch_default).
enum class Init {
  torch_default,    // PyTorch's layer default: kaiming-uniform(a = sqrt 5), bias the same bound
  kaiming_fan_out,  // kaiming-normal, fan_out, ReLU gain (torchvision's convs)
  kaiming_fan_in,   // kaiming-normal, fan_in, ReLU gain (akamaster's / GReg's CIFAR code)
  normal_001,       // N(0, 0.01) (torchvision's VGG and MobileNet classifiers)
  default_weight,   // PyTorch's default weight, bias 0 (SAP's classifiers)
};

std::shared_ptr<Conv2d> make_conv(int64_t in, int64_t out, int kernel, int stride, int padding, Init init,
                                  bool bias = false, int groups = 1);
std::shared_ptr<Linear> make_linear(int64_t in, int64_t out, Init init, bool bias = true);

// A list option with as many entries as `fallback` (its value when absent), each in
// [1, kMaxChannels]; a scalar in [1, kMaxChannels] ([1, kMaxClasses] for "num_classes").
std::vector<int64_t> widths_option(const Config& spec, const std::string& key, const std::vector<int64_t>& fallback);
int64_t positive_option(const Config& spec, const std::string& key, int64_t fallback);

// Base of the zoo's conv nets: a Module that lists its channel groups, built while it is assembled.
class ZooModel : public Module, public ChannelCoupled {
 public:
  const std::vector<ChannelGroup>& channel_groups() const override { return groups_; }

 protected:
  // A new group; returns its index for member().
  size_t group(std::string name, int64_t channels, bool prunable, std::string option, int64_t index = -1);
  void member(size_t group, std::string layer, ChannelRole role, int64_t offset = 0, int64_t spatial = 1);

  std::vector<ChannelGroup> groups_;
};

// A chain of layers whose weighted layers feed each other through channel-wise modules only (ReLU,
// pooling, Flatten, Dropout, BatchNorm): mlp, sap_cnn, cnn_small. Once assembled, each weighted
// layer but the last (the classifier) makes one prunable group: its rows and bias, the BNs after
// it, and the next weighted layer's input channels (columns channel-major after a Flatten).
class ChainModel : public Sequential, public ChannelCoupled {
 public:
  const std::vector<ChannelGroup>& channel_groups() const override { return groups_; }
  // `options[k]`: the spec option and index that set the k-th weighted layer's width.
  void describe_channels(const std::vector<std::pair<std::string, int64_t>>& options);

 private:
  std::vector<ChannelGroup> groups_;
};

// Bounds of the model options: far above real networks, far below int64 overflow of any product
// of them.
constexpr int64_t kMaxChannels = int64_t(1) << 16;
constexpr int64_t kMaxFeatures = int64_t(1) << 24;
constexpr int64_t kMaxClasses = int64_t(1) << 20;
constexpr int64_t kMaxImageSize = int64_t(1) << 16;
constexpr size_t kMaxLayers = 64;

// A parameter count that saturates instead of overflowing; add(a * b) for a weight of a x b.
class ParamCount {
 public:
  void add(int64_t a, int64_t b = 1, int64_t c = 1, int64_t d = 1);
  bool overflowed() const { return overflow_; }
  uint64_t value() const { return n_; }

 private:
  uint64_t n_ = 0;
  bool overflow_ = false;
};

// Refuses (naming the spec's path) a model whose parameters, with their gradients and optimizer
// state, would not fit in this machine's memory; called before any tensor is allocated.
void check_model_size(const Config& spec, const ParamCount& params);

}  // namespace trim
