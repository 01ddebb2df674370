#pragma once
// The model zoo, built by name from a JSON spec (see build_model).
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/registry.h"
#include "layers/module.h"

namespace trim {

// Builds the model named spec["name"]; every other key is that model's option and unknown keys
// are errors (the caller calls spec.finish()). Models:
//   "mlp"       {in_features: 784, hidden: [128, 256], num_classes: 10}
//               Flatten, then Linear+ReLU per hidden width, then Linear (SAP's MLP). Linear biases 0.
//   "sap_cnn"   {in_channels: 1, widths: [64, 128, 256, 512], num_classes: 10}
//               SAP's CNN: per width conv3x3(pad 1, bias)+BN+ReLU, max-pool 2 after all but the
//               last, global average pool, Linear. Convs kaiming-normal (fan_out), Linear bias 0.
//   "cnn_small" {in_channels: 1, image_size: 28, widths: [32, 64], hidden: 128, dropout: 0.0, num_classes: 10}
//               the fast default: per width conv3x3(pad 1, no bias)+BN+ReLU+max-pool 2, Flatten,
//               Linear(hidden)+ReLU(+Dropout), Linear. Convs kaiming-normal (fan_in).
//
// Conv nets (models/resnet.cpp, mobilenet.cpp, vgg.cpp, alexnet.cpp, cifar_resnet.cpp, wrn.cpp) use
// the module names of the code they follow, so state dicts move between trim and PyTorch (trim's
// BatchNorm2d has no num_batches_tracked: drop it when loading a PyTorch file). Each also describes
// its channel coupling (layers/channels.h: channel_groups(model)). Common options: in_channels,
// num_classes. Width options give every layer's output channels explicitly, so that a
// filter-pruned, physically slimmed network can be rebuilt; each channel group names the option
// entry that sets its size. Order: "widths" lists the prunable (not residual-tied) convs in
// forward order; "stage_widths" the residual streams, one per stage.
//   ImageNet (torchvision's architecture, names, initialisation and parameter counts):
//   "resnet18" | "resnet34" | "resnet50"  {num_classes: 1000, classifier: "linear" | "conv", stem_width: 64,
//               stage_widths: [64, 128, 256, 512] (resnet50: [256, 512, 1024, 2048]),
//               widths: per block, conv1's output (resnet50: conv1's and conv2's)}
//               v1.5: a bottleneck strides on its 3x3. A block gets a 1x1 conv + BN downsample when
//               its stride or width changes (torchvision's rule). classifier "conv": fc is a 1x1
//               conv without bias, as LATS's and STR's ResNet-50 (1000 parameters fewer).
//   "mobilenet_v2" {num_classes: 1000, width_mult: 1.0, dropout: 0.2, stem_width: 32,
//               stage_widths: [16, 24, 32, 64, 96, 160, 320], last_width: 1280,
//               widths: the hidden (expanded) width of each of the 16 blocks with t = 6}
//               widths default to torchvision's rounding of width_mult (multiples of 8).
//   "alexnet"   {num_classes: 1000, widths: [64, 192, 384, 256, 256], hidden: [4096, 4096], dropout: 0.5}
//   "vgg19" | "vgg19_bn" {num_classes: 1000, widths: the 16 convs' outputs, hidden: [4096, 4096], dropout: 0.5}
//   "mobilenet_v1" {num_classes: 1000, width_mult: 1.0, classifier: "linear" | "conv",
//               widths: the stem's and the 13 pointwise convs' outputs (14 entries)}
//               STR's / LATS's names (model.N.k, fc); "conv" makes the classifier a 1x1 conv
//               without bias, as STR and LATS do. Default widths max(8, int(c * width_mult)).
//   CIFAR (32x32 inputs; num_classes defaults to 10):
//   "resnet20" | "resnet56" {stage_widths: [16, 32, 64], widths: each block's conv1 (9 or 27)}
//               option-A shortcuts (strided identity + zero channel padding, (out - in) / 2 in
//               front), kaiming-normal fan_in as akamaster's and GReg's code.
//   "vgg19_cifar" {widths: the 16 convs, batch_norm: true}  GReg's VGG-19 (no bias, no last
//               max-pool, average pool, one Linear "classifier").
//   "preact_resnet18" {stage_widths: [64, 128, 256, 512], widths: each block's conv1 (8)}
//   "wrn28_8"   {stem_width: 16, stage_widths: [128, 256, 512], widths: each block's conv1 (12),
//               dropout: 0.0}  SAP's pre-activation nets: 3x3 stem, no max-pool, 1x1 shortcut
//               convs without BN.
// Every option is bounded (channels and widths 1..65536, features 1..2^24, classes 1..2^20, at
// most 64 layers, dropout in [0, 1)) and refused with its JSON path ("/model/num_classes: expected
// an integer in [1, 1048576], found 0"); an mlp, sap_cnn or cnn_small whose parameters, with
// gradients and optimizer state, exceed the machine's memory is refused before anything is
// allocated (the conv nets above are not size-checked yet).
// Spiking models (spiking/README.md). Besides their own keys they take the neuron keys of
// spiking/README.md (neuron, tau, decay_input, v_threshold, v_reset, detach_reset, surrogate,
// alpha) with SEW ResNet's IF neuron as the default: {neuron: "if", detach_reset: true,
// surrogate: "atan"} (alpha 2, V_th 1, V_reset 0). Input [N, C, H, W]; direct encoding (the first
// conv + BN see the image once, then it is repeated T times); later layers fold T into the batch
// (BN statistics over T·N); logits [N, classes] from the mean over T. Their training forward passes
// record per-layer firing rates (spiking/firing_rates.h).
//   "sew_resnet18" {T: 4, connect: "add", num_classes: 1000, in_channels: 3, zero_init_residual: false, neuron keys}
//   "sew_resnet34" the same with [3, 4, 6, 3] blocks (models/sew_resnet.h). connect: "add" | "and" |
//               "iand" (any case). ImageNet shapes: conv7x7/2 + BN + SN + max-pool 3x3/2, 4 stages of
//               SEW basic blocks (64..512), global average pool, mean over T, fc. SpikingJelly's names.
//   "spiking_cnn" {in_channels: 1, image_size: 28, widths: [32, 64], hidden: 0, num_classes: 10, T: 4,
//                encoder_pool: false, neuron keys}
//               per width conv3x3(pad 1, no bias)+BN+SN+max-pool 2 (the first conv + BN once, before
//               the repeat; with encoder_pool also the first max-pool, before the first SN), Flatten,
//               with hidden > 0 Linear(hidden, no bias)+BN+SN, mean over T, Linear. Convs
//               kaiming-normal (fan_out).
// Parameters are created on the CPU from the default generator (seed it first).
std::shared_ptr<Module> build_model(const Config& spec);

// A model of the zoo: its factory (reads spec's options, see above), the input it is usually run
// on per example ([3, 224, 224] for the ImageNet models, [3, 32, 32] for the CIFAR ones,
// [1, 28, 28] for cnn_small, sap_cnn and spiking_cnn, [784] for mlp) and one line for --list.
struct ModelEntry {
  std::function<std::shared_ptr<Module>(const Config&)> make;
  Shape input;
  std::string about;
};

// Every model by name. To add one: write its factory (models/<family>.cpp, declared in
// models/zoo.h, listed in models/CMakeLists.txt) and add its row to model_registry() in
// models/registry.cpp; a test in test/unit/test_zoo.cpp checks its shapes and parameter count.
const Registry<ModelEntry>& model_registry();

}  // namespace trim
