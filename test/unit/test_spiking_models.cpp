// The zoo's spiking models: SEW ResNet-18 / -34 (spiking/README.md, oracle 6 and the parameter counts
// of torchvision's ResNets), SEW connect functions inside a block, time folding, firing rates, and a
// short training run of the Fashion-MNIST spiking CNN through the trainer.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>

#include "apps/runner/trainer.h"
#include "core/autograd/grad_mode.h"
#include "core/ops/ops.h"
#include "core/random/generator.h"
#include "models/models.h"
#include "models/sew_resnet.h"
#include "pruning/prunable.h"
#include "spiking/time_fold.h"
#include "test/support/fixtures.h"
#include "test/support/runs.h"

using namespace trim;

namespace {

std::shared_ptr<Module> build(const nlohmann::json& spec) {
  Config c(spec, "net.json", "/model");
  auto m = build_model(c);
  c.finish();
  return m;
}

SewResNet& as_sew(const std::shared_ptr<Module>& m) {
  auto* s = dynamic_cast<SewResNet*>(m.get());
  REQUIRE(s != nullptr);
  return *s;
}

Tensor random_images(Shape s, uint64_t seed) {
  Generator g(seed);
  Tensor x = Tensor::empty(s);
  normal_(x, 0.0f, 1.0f, g);
  return x;
}

// Binary spikes with probability p.
Tensor random_spikes(Shape s, float p, uint64_t seed) {
  Generator g(seed);
  Tensor x = Tensor::empty(s);
  bernoulli_(x, p, g);
  return x;
}

// torchvision's ResNet state dict for BasicBlocks, without BN's num_batches_tracked.
std::vector<std::string> torchvision_names(const std::vector<int>& blocks) {
  auto bn = [](const std::string& p) {
    return std::vector<std::string>{p + ".weight", p + ".bias", p + ".running_mean", p + ".running_var"};
  };
  std::vector<std::string> n{"conv1.weight"};
  for (auto& s : bn("bn1")) n.push_back(s);
  for (int stage = 0; stage < 4; ++stage)
    for (int b = 0; b < blocks[size_t(stage)]; ++b) {
      std::string p = cat("layer", stage + 1, ".", b, ".");
      n.push_back(p + "conv1.weight");
      for (auto& s : bn(p + "bn1")) n.push_back(s);
      n.push_back(p + "conv2.weight");
      for (auto& s : bn(p + "bn2")) n.push_back(s);
      if (b == 0 && stage > 0) {
        n.push_back(p + "downsample.0.weight");
        for (auto& s : bn(p + "downsample.1")) n.push_back(s);
      }
    }
  n.push_back("fc.weight");
  n.push_back("fc.bias");
  return n;
}

}  // namespace

TEST_CASE("SEW ResNet-18 has the spec's shapes at 224x224 (oracle 6)", "[spiking][models]") {
  default_generator().set_state(1, 0);
  auto m = build({{"name", "sew_resnet18"}, {"T", 4}, {"neuron", "if"}, {"connect", "add"}});
  SewResNet& net = as_sew(m);
  NoGradGuard no_grad;  // training mode: BN normalises with batch statistics, as in training
  Tensor x = random_images(Shape{2, 3, 224, 224}, 7);
  Tensor stem = net.features(x, 0);
  CHECK(stem.shape() == Shape{4, 2, 64, 56, 56});
  // The stem's output is the max-pool of spikes; ADD blocks give non-negative integers, some above 1.
  int64_t not_binary = 0;
  for (float v : stem.to_vector<float>()) not_binary += v != 0.0f && v != 1.0f;
  CHECK(not_binary == 0);
  Tensor y = stem;
  const Shape expected[4] = {{4, 2, 64, 56, 56}, {4, 2, 128, 28, 28}, {4, 2, 256, 14, 14}, {4, 2, 512, 7, 7}};
  for (int s = 0; s < 4; ++s) {
    y = (*net.stages[size_t(s)])(y);
    CHECK(y.shape() == expected[s]);
    float top = 0.0f;
    int64_t not_count = 0;
    for (float v : y.to_vector<float>()) {
      not_count += !(v >= 0.0f && v == std::floor(v));
      top = std::max(top, v);
    }
    CHECK(not_count == 0);
    CHECK(top >= 2.0f);
  }
  Tensor logits = (*m)(x);
  CHECK(logits.shape() == Shape{2, 1000});
  for (float v : logits.to_vector<float>()) CHECK(std::isfinite(v));
}

TEST_CASE("SEW ResNet-18 and -34 have torchvision's parameter counts and SpikingJelly's names", "[spiking][models]") {
  auto r18 = build({{"name", "sew_resnet18"}});
  CHECK(r18->num_parameters() == 11689512);
  auto r34 = build({{"name", "sew_resnet34"}, {"T", 2}, {"connect", "IAND"}});
  CHECK(r34->num_parameters() == 21797672);

  for (auto [m, blocks] : {std::pair{r18, std::vector<int>{2, 2, 2, 2}}, std::pair{r34, std::vector<int>{3, 4, 6, 3}}}) {
    std::vector<std::string> names;
    for (const auto& [name, t] : m->state_dict()) names.push_back(name);
    CHECK(names == torchvision_names(blocks));  // same names, same order
  }

  std::vector<std::string> neurons;
  for (const auto& [name, n] : as_sew(r18).neuron_layers()) neurons.push_back(name);
  REQUIRE(neurons.size() == 20);  // stem, 2 per block, 3 downsample neurons
  CHECK(neurons[0] == "sn1");
  CHECK(neurons[1] == "layer1.0.sn1");
  CHECK(neurons[2] == "layer1.0.sn2");
  CHECK(std::find(neurons.begin(), neurons.end(), "layer2.0.downsample_sn") != neurons.end());
  CHECK(std::find(neurons.begin(), neurons.end(), "layer1.0.downsample_sn") == neurons.end());
  const auto& n0 = as_sew(r18).sn1->config();  // SEW ResNet's IF by default
  CHECK(n0.kind == spiking::NeuronKind::if_node);
  CHECK(n0.detach_reset);
  CHECK(n0.surrogate.kind == surrogate::Kind::atan);
  CHECK(n0.surrogate.alpha == 2.0f);

  // PLIF adds one w per neuron layer, named like SpikingJelly's ParametricLIFNode.
  auto plif = build({{"name", "sew_resnet18"}, {"neuron", "plif"}, {"tau", 2.0}});
  CHECK(plif->num_parameters() == 11689512 + 20);
  bool found = false;
  for (const NamedParameter& p : plif->named_parameters()) found = found || p.name == "layer2.0.downsample_sn.w";
  CHECK(found);
}

TEST_CASE("SEW ResNet options are read strictly", "[spiking][models]") {
  using Catch::Contains;
  CHECK(as_sew(build({{"name", "sew_resnet18"}, {"connect", "And"}})).stages[0]->size() == 2);
  CHECK_THROWS_WITH(build({{"name", "sew_resnet18"}, {"connect", "or"}}),
                    Contains("net.json: /model/connect: expected one of \"ADD\", \"AND\", \"IAND\""));
  CHECK_THROWS_WITH(build({{"name", "sew_resnet18"}, {"T", 0}}), Contains("/model/T: expected a number of time steps >= 1"));
  CHECK_THROWS_WITH(build({{"name", "sew_resnet18"}, {"neuron", "if"}, {"tau", 2.0}}), Contains("/model/tau: IF neurons"));
  CHECK_THROWS_WITH(build({{"name", "sew_resnet18"}, {"conect", "add"}}),
                    Contains("/model/conect: unknown key") && Contains("connect"));
  CHECK_THROWS_WITH(build({{"name", "spiking_cnn"}, {"widths", {8, 8, 8, 8, 8}}}), Contains("/model/widths"));
  auto lif = build({{"name", "spiking_cnn"}, {"neuron", "lif"}, {"tau", 3.0}, {"v_reset", nullptr}});
  auto* net = dynamic_cast<spiking::SpikingNetwork*>(lif.get());
  REQUIRE(net != nullptr);
  const auto& cfg = net->neuron_layers().at(0).second->config();
  CHECK(cfg.kind == spiking::NeuronKind::lif);
  CHECK(cfg.tau == 3.0f);
  CHECK_FALSE(cfg.v_reset.has_value());

  // encoder_pool moves the first max-pool before the first neuron; images still map to logits.
  auto pooled = build({{"name", "spiking_cnn"}, {"widths", {4, 8}}, {"encoder_pool", true}, {"T", 2}});
  Tensor logits = (*pooled)(random_images(Shape{3, 1, 28, 28}, 1));
  CHECK(logits.shape() == Shape{3, 10});
  auto& pnet = dynamic_cast<spiking::SpikingNetwork&>(*pooled);
  auto sn1 = pnet.neuron_layers().at(0).second;
  CHECK(sn1->firing_rate().defined());
  nlohmann::json line;
  pooled->take_metrics(line);
  CHECK(line["firing_rates"].size() == 2);
}

TEST_CASE("a SEW block joins its spiking branch A and identity I with ADD, AND, IAND", "[spiking][models]") {
  // Three blocks with the same weights: A = out_ADD - I, then AND must give A·I and IAND I·(1 − A)
  // (oracle 5's rules, element by element).
  spiking::NeuronConfig n = sew_if_neuron();
  default_generator().set_state(5, 0);
  SewBasicBlock add_block(8, 8, 1, spiking::Connect::add, n);
  SewBasicBlock and_block(8, 8, 1, spiking::Connect::and_, n);
  SewBasicBlock iand_block(8, 8, 1, spiking::Connect::iand, n);
  and_block.load_state_dict(add_block.state_dict(), "add block");
  iand_block.load_state_dict(add_block.state_dict(), "add block");
  CHECK_FALSE(add_block.downsample);
  Tensor I = random_spikes(Shape{3, 2, 8, 6, 6}, 0.4f, 11);
  std::vector<float> iv = I.to_vector<float>();
  std::vector<float> add_v = add_block(I).to_vector<float>();
  std::vector<float> and_v = and_block(I).to_vector<float>();
  std::vector<float> iand_v = iand_block(I).to_vector<float>();
  int64_t fired = 0, both = 0;
  for (size_t j = 0; j < iv.size(); ++j) {
    float a = add_v[j] - iv[j];
    REQUIRE((a == 0.0f || a == 1.0f));
    REQUIRE(and_v[j] == a * iv[j]);
    REQUIRE(iand_v[j] == iv[j] * (1.0f - a));
    fired += a == 1.0f;
    both += a == 1.0f && iv[j] == 1.0f;
  }
  CHECK(fired > 0);  // the branch is neither silent nor saturated, so the three rules differ here
  CHECK(fired < int64_t(iv.size()));
  CHECK(both > 0);

  // A downsampling block maps the identity through conv1x1/2 + BN + neuron.
  SewBasicBlock down(8, 16, 2, spiking::Connect::add, n);
  REQUIRE(down.downsample);
  CHECK(down(I).shape() == Shape{3, 2, 16, 3, 3});

  // zero_init_residual: every block starts as the identity, under each connect function.
  for (const char* f : {"add", "and", "iand"}) {
    auto m = build({{"name", "sew_resnet18"}, {"T", 2}, {"connect", f}, {"zero_init_residual", true}});
    auto& block = dynamic_cast<SewBasicBlock&>((*as_sew(m).stages[0])[1]);
    Tensor x = random_spikes(Shape{2, 1, 64, 4, 4}, 0.5f, 3);
    INFO(f);
    CHECK(block(x).to_vector<float>() == x.to_vector<float>());
  }
}

TEST_CASE("time folding runs per-step layers over T·N; BN statistics span all steps", "[spiking][models]") {
  Tensor x = random_images(Shape{3, 2, 4, 5, 5}, 2);
  CHECK(spiking::fold_time(x).shape() == Shape{6, 4, 5, 5});
  CHECK(spiking::unfold_time(spiking::fold_time(x), 3).to_vector<float>() == x.to_vector<float>());
  CHECK_THROWS_WITH(spiking::unfold_time(Tensor::zeros(Shape{5, 2}), 2), Catch::Contains("not a multiple of T = 2"));

  // A conv over the folded batch equals the conv of each step.
  default_generator().set_state(2, 0);
  Conv2d conv(Conv2dOptions{.in = 4, .out = 3, .kernel = 3, .padding = 1});
  Tensor y = spiking::seq_to_ann(conv, x);
  REQUIRE(y.shape() == Shape{3, 2, 3, 5, 5});
  for (int64_t t = 0; t < 3; ++t)
    CHECK(conv(x.narrow0(t, 1).view(Shape{2, 4, 5, 5})).to_vector<float>() ==
          y.narrow0(t, 1).view(Shape{2, 3, 5, 5}).to_vector<float>());

  // Steps with different means: BN over T·N centres the whole, not each step.
  std::vector<float> v = x.to_vector<float>();
  for (size_t j = 0; j < v.size(); ++j) v[j] += float(j / 200) * 3.0f;  // step t adds 3t
  Tensor shifted = Tensor::from_vector(x.shape(), v);
  BatchNorm2d bn(4);
  std::vector<float> out = spiking::seq_to_ann(bn, shifted).to_vector<float>();
  double all = 0.0, first = 0.0;
  for (size_t j = 0; j < out.size(); ++j) all += out[j], first += j < 200 ? out[j] : 0.0;
  CHECK(std::abs(all / double(out.size())) < 1e-5);
  CHECK(first / 200.0 < -0.5);  // the first step stays below the joint mean
  std::vector<float> rm = bn.running_mean.to_vector<float>();
  CHECK(rm[0] == Approx(0.3).margin(0.05));  // momentum 0.1 × the mean over all steps (shifts 0, 3, 6)
}

TEST_CASE("spiking models record the mean firing rate of their training passes", "[spiking][models]") {
  default_generator().set_state(4, 0);
  auto m = build({{"name", "spiking_cnn"}, {"widths", {4, 8}}, {"hidden", 16}, {"T", 3}});
  auto& net = dynamic_cast<spiking::SpikingNetwork&>(*m);
  auto layers = net.neuron_layers();
  REQUIRE(layers.size() == 3);
  CHECK(layers[0].first == "sn1");
  CHECK(layers[2].first == "sn_fc1");
  std::vector<double> sum(3, 0.0);
  for (uint64_t b = 0; b < 3; ++b) {
    (*m)(random_images(Shape{5, 1, 28, 28}, 20 + b));
    for (size_t i = 0; i < 3; ++i) sum[i] += layers[i].second->firing_rate().item();
  }
  m->eval();
  (*m)(random_images(Shape{5, 1, 28, 28}, 99));  // evaluation passes are not counted
  m->train();
  CHECK(net.recorded_passes() == 3);
  nlohmann::json line;
  m->take_metrics(line);
  REQUIRE(line.contains("firing_rates"));
  double mean = 0.0;
  for (size_t i = 0; i < 3; ++i) {
    double r = line["firing_rates"][layers[i].first].get<double>();
    CHECK(r == Approx(sum[i] / 3.0).epsilon(1e-5));
    CHECK((r > 0.0 && r < 1.0));
    mean += r / 3.0;
  }
  CHECK(line["firing_rate"].get<double>() == Approx(mean));
  nlohmann::json again;  // the sums restart
  m->take_metrics(again);
  CHECK(again.empty());
  CHECK(net.recorded_passes() == 0);

  nlohmann::json dense;  // a model without neurons gets no keys
  build({{"name", "mlp"}})->take_metrics(dense);
  CHECK(dense.empty());
}

TEST_CASE("pruning sees the spiking models' conv and linear weights, and their forward reads weight_fn",
          "[spiking][models]") {
  default_generator().set_state(6, 0);
  auto m = build({{"name", "sew_resnet18"}, {"T", 2}, {"num_classes", 10}});
  PrunableSet set = prunable_set(m->named_parameters());
  CHECK(set.size() == 21);  // 20 convs (stem, 16 in blocks, 3 downsample) and fc
  CHECK(set.names.front() == "conv1.weight");
  CHECK(set.names.back() == "fc.weight");
  CHECK(set.numel() == 11689512 - 512 * 1000 - 1000 + 512 * 10 - 2 * (64 * 5 + 128 * 5 + 256 * 5 + 512 * 5));

  // A soft mask that zeroes the stem's conv silences every neuron: the logits fall to fc's bias.
  SewResNet& net = as_sew(m);
  net.conv1->weight_fn = [](const Tensor& w) { return scale(w, 0.0f); };
  net.eval();
  Tensor logits = (*m)(random_images(Shape{2, 3, 64, 64}, 8));
  std::vector<float> bias = net.fc->bias.to_vector<float>(), l = logits.to_vector<float>();
  for (size_t j = 0; j < l.size(); ++j) CHECK(l[j] == Approx(bias[j % 10]).margin(1e-6));
}

TEST_CASE("SEW ResNet trains end to end: BPTT reaches every parameter", "[spiking][models]") {
  default_generator().set_state(9, 0);
  auto m = build({{"name", "sew_resnet18"}, {"T", 2}, {"num_classes", 5}, {"neuron", "plif"}});
  Tensor x = random_images(Shape{2, 3, 64, 64}, 10);
  Tensor labels = Tensor::from_vector(Shape{2}, std::vector<int32_t>{1, 3});
  Tensor loss = cross_entropy((*m)(x), labels);
  loss.backward();
  int64_t zero_grads = 0;
  for (const NamedParameter& p : m->named_parameters()) {
    INFO(p.name);
    REQUIRE(p.tensor.grad().defined());
    std::vector<float> g = p.tensor.grad().to_vector<float>();
    double norm = 0.0;
    for (float v : g) norm += double(v) * v;
    REQUIRE(std::isfinite(norm));
    zero_grads += norm == 0.0;
  }
  CHECK(zero_grads == 0);
}

TEST_CASE("the spiking CNN learns Fashion-MNIST through the trainer and reports firing rates", "[spiking][models][train]") {
  test::TempDir tmp("spiking_cnn");
  nlohmann::json j = test::small_run(tmp.file("run"));
  j["data"]["train_limit"] = 3000;
  j["data"]["test_limit"] = 1000;
  j["model"] = {{"name", "spiking_cnn"}, {"widths", {8, 16}}, {"T", 4}, {"neuron", "if"}, {"surrogate", "atan"}};
  j["optimizer"]["lr"] = 0.1;
  j["train"]["epochs"] = 2;
  nlohmann::json s = train_classifier(test::as_manifest(j));
  INFO(s.dump());
  CHECK(s["test_accuracy"].get<double>() >= 0.70);  // 3000 images, two epochs: measured 0.802
  std::vector<nlohmann::json> lines = test::metrics_without_timing(tmp.file("run"));
  REQUIRE(lines.size() == 2);
  for (const nlohmann::json& l : lines) {
    REQUIRE(l.contains("firing_rates"));
    CHECK(l["firing_rates"].size() == 2);
    for (const auto& [name, r] : l["firing_rates"].items()) CHECK((r.get<double>() > 0.0 && r.get<double>() < 1.0));
    CHECK(l["firing_rate"].get<double>() > 0.0);
  }
  CHECK(lines[0]["firing_rates"] != lines[1]["firing_rates"]);  // each epoch its own
  REQUIRE(s.contains("firing_rates"));
  CHECK(s["firing_rates"] == lines[1]["firing_rates"]);
  CHECK(s["firing_rate"] == lines[1]["firing_rate"]);
  std::ifstream in(tmp.file("run") + "/summary.json");
  nlohmann::json on_disk = nlohmann::json::parse(in);
  CHECK(on_disk["firing_rates"] == s["firing_rates"]);
}
