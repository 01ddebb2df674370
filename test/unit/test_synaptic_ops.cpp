// Synaptic operations, energy and evaluation-pass firing rates of a spiking network
// (spiking/synaptic_ops.h; definitions in spiking/README.md#synaptic-operations-and-energy), on a
// two-layer network small enough to count every spike by hand.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "core/autograd/grad_mode.h"
#include "layers/layers.h"
#include "spiking/firing_rates.h"
#include "spiking/neuron.h"
#include "spiking/neuron_layer.h"
#include "spiking/synaptic_ops.h"
#include "spiking/time_fold.h"

using namespace trim;
using namespace trim::spiking;

namespace {

// fc1 (2 -> 2, reads the image once) -> repeat T = 2 -> IF sn1 -> fc2 (2 -> 3, T folded) -> IF sn2
// -> mean over T -> fc3 (3 -> 2, the read-out). `readout_per_step` instead applies fc3 to every step
// (folded), as a network without the mean-first shortcut would: the counts must agree.
class TwoLayerSnn final : public SpikingNetwork {
 public:
  explicit TwoLayerSnn(bool readout_per_step) : per_step_(readout_per_step) {
    fc1 = register_module("fc1", std::make_shared<Linear>(2, 2, false));
    sn1 = register_module("sn1", std::make_shared<IFNode>());
    fc2 = register_module("fc2", std::make_shared<Linear>(2, 3, false));
    sn2 = register_module("sn2", std::make_shared<IFNode>());
    fc3 = register_module("fc3", std::make_shared<Linear>(3, 2, false));
    // fc1 = identity (2 non-zero weights); fc2 has one pruned synapse (5 of 6 remain).
    fc1->weight.copy_(Tensor::from_vector(Shape{2, 2}, std::vector<float>{1, 0, 0, 1}));
    fc2->weight.copy_(Tensor::from_vector(Shape{3, 2}, std::vector<float>{1, 1, 1, 0, 1, 1}));
    fc3->weight.copy_(Tensor::from_vector(Shape{2, 3}, std::vector<float>{1, 1, 1, 1, 1, 1}));
  }
  std::shared_ptr<Linear> fc1, fc2, fc3;
  std::shared_ptr<NeuronLayer> sn1, sn2;

 protected:
  Tensor forward_steps(const Tensor& x) override {
    const int64_t T = 2;
    Tensor y = (*sn1)(repeat_time((*fc1)(x), T));           // [T, N, 2]
    y = (*sn2)(unfold_time((*fc2)(fold_time(y)), T));        // [T, N, 3]
    if (per_step_) return mean_time(unfold_time((*fc3)(fold_time(y)), T));
    return (*fc3)(mean_time(y));
  }

 private:
  bool per_step_;
};

}  // namespace

// By hand, image 1 = [1.5, 0.5] (IF: V_th 1, hard reset to 0, fires at H = V_th):
//   sn1 sees [1.5, 0.5] at t = 1, 2: neuron a fires at t = 1 and 2; b (H = 0.5, 1.0) at t = 2.
//     3 spikes. fc2 per step: t = 1 input [1, 0] reaches 3 non-zero weights, t = 2 input [1, 1]
//     reaches 3 + 2: 8 accumulates. fc2's outputs [1, 1, 1] then [2, 1, 2] make each sn2
//     neuron fire twice: 6 spikes, each reaching fc3's 2 weights: 12 accumulates.
// Image 2 = [0, 0]: no spikes, no accumulates. Per image: fc2 4, fc3 6, total 10; fc1 reads the
// image once: 2 MACs (its zero weights cost nothing).
// Rates: sn1 3 / (T 2 · 2 neurons · 2 images) = 0.375, sn2 6 / (2 · 3 · 2) = 0.5; weighted by
// neurons (3 + 6) / (2 · 5 · 2) = 0.45 (the plain mean over layers would be 0.4375).
TEST_CASE("synaptic operations of a hand-counted two-layer spiking network", "[spiking][sops]") {
  for (bool per_step : {false, true}) {
    INFO("read-out applied " << (per_step ? "per step" : "to the mean over T"));
    TwoLayerSnn net(per_step);
    auto comm = comm::make_single_communicator();
    Tensor images = Tensor::from_vector(Shape{2, 2}, std::vector<float>{1.5f, 0.5f, 0.0f, 0.0f});
    nlohmann::json line;
    {
      EvalRecording rec(net);
      REQUIRE(rec.active());
      net.eval();
      NoGradGuard no_grad;
      net(images);
      rec.write(line, *comm);
    }
    REQUIRE(line.contains("synaptic_operations"));
    const nlohmann::json& s = line["synaptic_operations"];
    CHECK(s["image_layer"] == "fc1");
    CHECK(s["image_macs"].get<double>() == Approx(2.0));
    CHECK(s["layers"]["fc1"].get<double>() == Approx(2.0));
    CHECK(s["layers"]["fc2"].get<double>() == Approx(4.0));
    CHECK(s["layers"]["fc3"].get<double>() == Approx(6.0));
    CHECK(s["total"].get<double>() == Approx(10.0));
    CHECK(line["energy_mj_per_image"].get<double>() == Approx((4.6 * 2 + 0.9 * 10) * 1e-9));
    CHECK(line["firing_rates_eval"]["sn1"].get<double>() == Approx(0.375));
    CHECK(line["firing_rates_eval"]["sn2"].get<double>() == Approx(0.5));
    CHECK(line["firing_rate_eval"].get<double>() == Approx(0.45));
    // Recording ended with its scope: a later evaluation pass is not counted, and probes are gone.
    CHECK_FALSE(bool(net.fc2->input_probe));
  }
}

TEST_CASE("synaptic operations: a second evaluation batch adds per image, training passes do not count",
          "[spiking][sops]") {
  TwoLayerSnn net(false);
  auto comm = comm::make_single_communicator();
  nlohmann::json line;
  EvalRecording rec(net);
  net.train();
  {
    NoGradGuard no_grad;
    net(Tensor::from_vector(Shape{1, 2}, std::vector<float>{5.0f, 5.0f}));  // training mode: ignored
    net.eval();
    net(Tensor::from_vector(Shape{1, 2}, std::vector<float>{1.5f, 0.5f}));
    net(Tensor::from_vector(Shape{1, 2}, std::vector<float>{0.0f, 0.0f}));
  }
  rec.write(line, *comm);
  CHECK(line["synaptic_operations"]["total"].get<double>() == Approx(10.0));
  CHECK(line["firing_rate_eval"].get<double>() == Approx(0.45));
}

TEST_CASE("synaptic operations: nothing is written without an evaluation pass or for a non-spiking model",
          "[spiking][sops]") {
  auto comm = comm::make_single_communicator();
  TwoLayerSnn net(false);
  nlohmann::json line = nlohmann::json::object();
  {
    EvalRecording rec(net);
    rec.write(line, *comm);
  }
  CHECK(line.empty());
  Linear plain(2, 2);
  EvalRecording rec(plain);
  CHECK_FALSE(rec.active());
  rec.write(line, *comm);
  CHECK(line.empty());
}
