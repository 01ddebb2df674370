// The training step as a CUDA graph (core/optim/step_graph.h, apps/runner/graph_step.h): replays
// of a captured small-CNN step give the parameters eager steps give, with a changing lr and
// dropout; replays draw fresh dropout masks (the very masks eager steps would draw); the loop runs
// a batch of another shape eagerly and says so once; a captured region that keeps memory it
// allocated is refused with CaptureLeak.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "apps/runner/trainer.h"
#include "core/autograd/grad_mode.h"
#include "core/config.h"
#include "core/cuda/graph.h"
#include "core/device.h"
#include "core/ops/elementwise.h"
#include "core/ops/loss.h"
#include "core/optim/sgd.h"
#include "core/optim/step_graph.h"
#include "core/random/generator.h"
#include "models/models.h"
#include "test/support/fixtures.h"
#include "test/support/runs.h"
#include "test/support/stderr_capture.h"
#include "test/support/tiny_mlp.h"

using namespace trim;

namespace {

const Device kGpu = Device::cuda(0);

// cnn_small with dropout on the GPU, its optimizer and one fixed batch; built from `seed`, so two
// are identical.
struct SmallCnn {
  explicit SmallCnn(uint64_t seed) {
    default_generator().set_state(seed, 0);
    nlohmann::json j = {{"name", "cnn_small"}, {"in_channels", 1}, {"widths", {8, 16}}, {"hidden", 32}, {"dropout", 0.2}};
    Config spec(j, "test", "/model");
    model = build_model(spec);
    spec.finish();
    model->to(kGpu);
    model->train();
    std::vector<OptimParam> params = optim_params(*model);
    opt = std::make_unique<DenseSgd>(std::move(params), SgdOptions{0.1f, 0.9f, true, 5e-4f});
    x = Tensor::empty(Shape{16, 1, 28, 28}, DType::f32, kGpu);
    normal_(x, 0.0f, 1.0f);
    std::vector<int32_t> lv(16);
    for (size_t i = 0; i < lv.size(); ++i) lv[i] = int32_t(i % 10);
    labels = Tensor::from_vector(Shape{16}, lv).to(kGpu);
  }
  // One whole step up to the staged update; everything it allocates is dropped inside it.
  void forward_backward() {
    Tensor loss = cross_entropy((*model)(x), labels);
    opt->zero_grad();
    loss.backward();
  }
  std::vector<std::vector<float>> parameters() const {
    std::vector<std::vector<float>> out;
    for (const NamedParameter& p : model->named_parameters()) out.push_back(p.tensor.to_vector<float>());
    return out;
  }
  std::shared_ptr<Module> model;
  std::unique_ptr<DenseSgd> opt;
  Tensor x, labels;
};

const std::vector<float> kLrs = {0.1f, 0.05f, 0.08f, 0.02f, 0.06f, 0.03f, 0.07f};  // warm-up, capture, replays

}  // namespace

TEST_CASE("replays of a captured CNN step give the parameters of eager steps, with a changing lr and dropout",
          "[cuda][graph]") {
  SmallCnn eager(11), graphed(11);
  REQUIRE(eager.parameters() == graphed.parameters());

  default_generator().set_state(5, 0);
  for (float lr : kLrs) {
    eager.opt->set_lr(lr);
    eager.forward_backward();
    eager.opt->step();
  }
  const uint64_t eager_offset = default_generator().offset();

  default_generator().set_state(5, 0);
  StepGraph g(*graphed.opt, [&] {
    graphed.forward_backward();
    graphed.opt->step_staged();
  }, "test step");
  for (size_t i = 0; i < kLrs.size(); ++i) {
    graphed.opt->set_lr(kLrs[i]);
    g.run();
    CHECK(g.replaying() == (int(i) >= StepGraph::kWarmupSteps));
  }
  CHECK(g.fallback().empty());
  // Dropout drew in the replays what it drew eagerly: the generator ends where the eager run did.
  CHECK(default_generator().offset() == eager_offset);

  // The same kernels on the same data in the same order (deterministic cuDNN algorithms, chosen by
  // heuristics on both sides): equal to rounding, in practice bit for bit.
  const auto a = eager.parameters(), b = graphed.parameters();
  REQUIRE(a.size() == b.size());
  for (size_t t = 0; t < a.size(); ++t) {
    REQUIRE(a[t].size() == b[t].size());
    for (size_t i = 0; i < a[t].size(); ++i) REQUIRE(b[t][i] == Approx(a[t][i]).margin(1e-6).epsilon(1e-5));
  }
  // And the graph did train: the parameters moved from their initial values.
  CHECK(SmallCnn(11).parameters() != b);
}

TEST_CASE("each replay draws a fresh dropout mask, the one an eager step would draw", "[cuda][graph]") {
  test::TinyMlp mlp(kGpu);
  DenseSgd opt(mlp.params(), {0.1f, 0.9f, false, 0.0f});
  const Tensor ones = Tensor::full(Shape{4096}, 1.0f, DType::f32, kGpu);
  Tensor mask = Tensor::empty(Shape{4096}, DType::f32, kGpu);  // static: written by the body
  auto body = [&] {
    NoGradGuard no_grad;
    mask.copy_(dropout(ones, 0.5f, true));
    opt.zero_grad();
    opt.step_staged();
  };
  constexpr int kSteps = StepGraph::kWarmupSteps + 4;

  default_generator().set_state(21, 0);
  std::vector<std::vector<float>> eager;
  for (int i = 0; i < kSteps; ++i) {
    NoGradGuard no_grad;
    eager.push_back(dropout(ones, 0.5f, true).to_vector<float>());
  }

  default_generator().set_state(21, 0);
  StepGraph g(opt, body, "dropout step");
  std::vector<std::vector<float>> graphed;
  for (int i = 0; i < kSteps; ++i) {
    g.run();
    graphed.push_back(mask.to_vector<float>());
  }
  REQUIRE(g.replaying());
  for (int i = StepGraph::kWarmupSteps + 1; i < kSteps; ++i) {
    INFO("replay " << i);
    CHECK(graphed[size_t(i)] != graphed[size_t(i - 1)]);  // fresh masks, not the captured one again
  }
  CHECK(graphed == eager);
}

TEST_CASE("the loop with cuda.graph runs a short last batch eagerly, says so once, and trains as eager steps",
          "[cuda][graph][train]") {
  test::TempDir tmp("graph-cuda");
  const std::string log = test::train_eager_and_graphed(tmp.path().string(), "cuda");  // a short batch per epoch
  INFO(log);
  CHECK(test::occurrences(log, "captured as a CUDA graph") == 1);
  CHECK(test::occurrences(log, "run eagerly (logged once)") == 1);  // two short batches, one line
  CHECK(test::occurrences(log, "not captured as a CUDA graph") == 0);
  const auto a = test::metrics_without_timing(tmp.file("eager")), b = test::metrics_without_timing(tmp.file("graphed"));
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("line " << i << "\neager   " << a[i].dump() << "\ngraphed " << b[i].dump());
    REQUIRE(a[i].contains("train_loss"));
    CHECK(b[i]["train_loss"].get<double>() == Approx(a[i]["train_loss"].get<double>()).epsilon(1e-4));
    if (a[i].contains("test_accuracy"))
      CHECK(b[i]["test_accuracy"].get<double>() == Approx(a[i]["test_accuracy"].get<double>()).margin(0.005));
  }
}

TEST_CASE("a captured step that keeps memory it allocated is refused with CaptureLeak", "[cuda][graph]") {
  test::TinyMlp mlp(kGpu);
  DenseSgd opt(mlp.params(), {0.1f, 0.9f, false, 0.0f});
  Tensor kept;
  StepGraph g(opt, [&] {
    kept = Tensor::empty(Shape{1024}, DType::f32, kGpu);  // outlives the step: a leak under capture
    opt.step_staged();
  }, "leaky step");
  for (int i = 0; i < StepGraph::kWarmupSteps; ++i) g.run();
  CHECK_THROWS_AS(g.run(), cuda::CaptureLeak);
  CHECK_FALSE(g.replaying());
  // `kept` now names memory of the discarded graph: drop it without use.
  kept = Tensor();
}
