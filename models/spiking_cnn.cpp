// "spiking_cnn": a small convolutional SNN for Fashion-MNIST-sized images (see models.h).
#include "core/ops/shape_ops.h"
#include "layers/init.h"
#include "models/spiking_options.h"
#include "models/zoo.h"
#include "spiking/firing_rates.h"
#include "spiking/time_fold.h"

namespace trim {
namespace {

using spiking::fold_time;
using spiking::unfold_time;

// Direct encoding: the first conv + BN see the static image once; the result is repeated T times.
// Then per width: neuron, max-pool 2, and (after the first) conv3x3 + BN, all with T folded into
// the batch; then flatten, optionally Linear + BN + neuron (the hidden layer), the mean over T and a
// Linear read-out. With encoder_pool, the first max-pool runs on the static currents before the
// repeat (conv-BN-pool-neuron): the encoder stays time-invariant, and the first neuron and pool
// work on a quarter of the positions, T times fewer.
class SpikingCnn final : public spiking::SpikingNetwork {
 public:
  SpikingCnn(int64_t in, int64_t size, const std::vector<int64_t>& widths, int64_t hidden, int64_t classes,
             int64_t T, bool encoder_pool, const spiking::NeuronConfig& neuron)
      : T_(T), encoder_pool_(encoder_pool) {
    for (size_t i = 0; i < widths.size(); ++i) {
      auto c = std::make_shared<Conv2d>(Conv2dOptions{.in = in, .out = widths[i], .kernel = 3, .padding = 1, .bias = false});
      kaiming_normal_(c->weight, FanMode::fan_out);
      std::string n = std::to_string(i + 1);
      convs_.push_back(register_module("conv" + n, c));
      bns_.push_back(register_module("bn" + n, std::make_shared<BatchNorm2d>(widths[i])));
      sns_.push_back(register_module("sn" + n, make_neuron_layer(neuron)));
      in = widths[i];
      size /= 2;
    }
    pool_ = register_module("pool", std::make_shared<MaxPool2d>(2, 2));
    int64_t features = in * size * size;
    if (hidden > 0) {
      fc_hidden_ = register_module("fc1", std::make_shared<Linear>(features, hidden, false));
      bn_hidden_ = register_module("bn_fc1", std::make_shared<BatchNorm2d>(hidden));
      sn_hidden_ = register_module("sn_fc1", make_neuron_layer(neuron));
      features = hidden;
    }
    fc_ = register_module("fc", std::make_shared<Linear>(features, classes));
  }

 protected:
  Tensor forward_steps(const Tensor& x) override {
    TRIM_CHECK(x.ndim() == 4, cat("spiking_cnn: expected images [N, C, H, W], got ", x.shape().str()));
    Tensor current = (*bns_[0])((*convs_[0])(x));
    if (encoder_pool_) current = (*pool_)(current);
    Tensor y = spiking::repeat_time(current, T_);  // [T, N, C, H, W]
    for (size_t i = 0; i < convs_.size(); ++i) {
      if (i > 0) y = unfold_time((*bns_[i])((*convs_[i])(fold_time(y))), T_);
      y = (*sns_[i])(y);
      if (i > 0 || !encoder_pool_) y = spiking::seq_to_ann(*pool_, y);
    }
    Tensor f = flatten(fold_time(y));  // [T·N, features]
    if (fc_hidden_) f = fold_time((*sn_hidden_)(unfold_time((*bn_hidden_)((*fc_hidden_)(f)), T_)));
    // The read-out is linear, so the mean over T may come first: one matrix product, not T.
    return (*fc_)(spiking::mean_time(unfold_time(f, T_)));
  }

 private:
  int64_t T_;
  bool encoder_pool_;
  std::vector<std::shared_ptr<Conv2d>> convs_;
  std::vector<std::shared_ptr<BatchNorm2d>> bns_;
  std::vector<std::shared_ptr<spiking::NeuronLayer>> sns_;
  std::shared_ptr<MaxPool2d> pool_;
  std::shared_ptr<Linear> fc_hidden_;
  std::shared_ptr<BatchNorm2d> bn_hidden_;
  std::shared_ptr<spiking::NeuronLayer> sn_hidden_;
  std::shared_ptr<Linear> fc_;
};

}  // namespace

std::shared_ptr<Module> make_spiking_cnn(const Config& spec) {
  int64_t in = spec.get<int64_t>("in_channels", 1);
  int64_t size = spec.get<int64_t>("image_size", 28);
  auto widths = spec.get<std::vector<int64_t>>("widths", {32, 64});
  int64_t hidden = spec.get<int64_t>("hidden", 0);
  int64_t classes = spec.get<int64_t>("num_classes", 10);
  int64_t T = read_time_steps(spec);
  bool encoder_pool = spec.get<bool>("encoder_pool", false);
  if (in < 1) spec.fail("in_channels", "expected an integer >= 1");
  if (classes < 1) spec.fail("num_classes", "expected an integer >= 1");
  if (hidden < 0) spec.fail("hidden", "expected 0 (no hidden layer) or a width >= 1");
  if (widths.empty()) spec.fail("widths", "needs at least one width");
  for (int64_t w : widths)
    if (w < 1) spec.fail("widths", cat("expected widths >= 1, found ", w));
  int64_t s = size;
  for (size_t i = 0; i < widths.size(); ++i, s /= 2)
    if (s < 2) spec.fail("widths", cat(widths.size(), " pooling stages are too many for image_size ", size));
  spiking::NeuronConfig neuron =
      read_model_neuron(spec, {"name", "in_channels", "image_size", "widths", "hidden", "num_classes", "T", "encoder_pool"});
  return std::make_shared<SpikingCnn>(in, size, widths, hidden, classes, T, encoder_pool, neuron);
}

}  // namespace trim
