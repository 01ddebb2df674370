// The CUDA-graph step's decisions that need no GPU (core/optim/step_graph.h): why a step is
// refused, that a refused StepGraph runs every step eagerly with the same result as plain steps,
// and that a run with cuda.graph on the CPU trains exactly as one without it.
#include <catch2/catch.hpp>

#include <string>

#include "apps/runner/run_config.h"
#include "core/optim/sgd.h"
#include "core/optim/step_graph.h"
#include "test/support/fixtures.h"
#include "test/support/runs.h"
#include "test/support/stderr_capture.h"
#include "test/support/tiny_mlp.h"

using namespace trim;

namespace {
GraphRequest request(Device d) {
  GraphRequest r;
  r.device = d;
  return r;
}
}  // namespace

TEST_CASE("graph_refusal names each reason a step cannot be captured, and none for a plain CUDA step",
          "[optim][graph]") {
  CHECK(graph_refusal(request(Device::cuda(0))).empty());

  CHECK_THAT(graph_refusal(request(Device::cpu())), Catch::Contains("the device is cpu"));

  GraphRequest dp = request(Device::cuda(0));
  dp.world = 2;
  CHECK_THAT(graph_refusal(dp), Catch::Contains("data-parallel training over 2 ranks"));

  GraphRequest method = request(Device::cuda(0));
  method.method = "gmp";
  method.method_graph_safe = false;
  CHECK_THAT(graph_refusal(method), Catch::Contains("the method 'gmp'"));

  GraphRequest sync = request(Device::cuda(0));
  sync.sync_each_call = true;
  CHECK_THAT(graph_refusal(sync), Catch::Contains("TRIM_CUDA_SYNC=1"));

  // graph_request reads the process's setting; the CPU is refused whatever else holds.
  CHECK_THAT(graph_refusal(graph_request(Device::cpu(), "dense", true, 1)), Catch::Contains("the device is cpu"));
}

TEST_CASE("a refused StepGraph runs every step eagerly, exactly as plain steps with a changing lr",
          "[optim][graph]") {
  test::TinyMlp plain, graphed;
  DenseSgd a(plain.params(), {0.1f, 0.9f, true, 5e-4f});
  DenseSgd b(graphed.params(), {0.1f, 0.9f, true, 5e-4f});
  auto body = [&] {
    b.zero_grad();
    graphed.backward();
    b.step_staged();
  };
  const std::string why = graph_refusal(graph_request(Device::cpu(), "dense", true, 1));
  StepGraph g(b, body, "test step", why);
  CHECK_FALSE(g.replaying());
  CHECK(g.fallback() == why);
  for (int i = 0; i < StepGraph::kWarmupSteps + 3; ++i) {
    const float lr = 0.1f / float(i + 1);
    a.set_lr(lr);
    b.set_lr(lr);
    a.zero_grad();
    plain.backward();
    a.step();
    g.run();
    CHECK_FALSE(g.replaying());
  }
  for (size_t i = 0; i < plain.p.size(); ++i) CHECK(plain.p[i].to_vector<float>() == graphed.p[i].to_vector<float>());
}

TEST_CASE("cuda.graph on the CPU runs eagerly and trains exactly as without it", "[train][graph]") {
  test::TempDir tmp("graph-cpu");
  const std::string log = test::train_eager_and_graphed(tmp.path().string(), "cpu");  // dropout: random draws too
  INFO(log);
  CHECK(test::occurrences(log, "not captured as a CUDA graph, every step runs eagerly: the device is cpu") == 1);
  CHECK(test::metrics_without_timing(tmp.file("eager")) == test::metrics_without_timing(tmp.file("graphed")));
  CHECK(test::same_checkpoint_weights(tmp.file("eager"), tmp.file("graphed")));
}

TEST_CASE("a refused cuda.graph is logged once in a run of several rounds", "[train][graph]") {
  test::TempDir tmp("graph-rounds");
  nlohmann::json j = test::mlp_run(tmp.file("omp"), {{"method", "omp"}, {"target", 0.5}, {"finetune_epochs", 1}});
  j["cuda"] = {{"graph", true}};  // omp is graph-safe: only the CPU device refuses
  std::string log;
  {
    test::StderrCapture err;
    test::run_method(j);
    log = err.text();
  }
  INFO(log);
  CHECK(test::occurrences(log, "not captured as a CUDA graph") == 1);  // two rounds, two optimizers, one line
}

TEST_CASE("cuda.graph is a strict manifest key, false by default", "[manifest][graph]") {
  nlohmann::json j = test::small_run("unused");
  CHECK_FALSE(parse_run_config(test::as_manifest(j)).cuda_graph);
  j["cuda"] = {{"graph", true}};
  CHECK(parse_run_config(test::as_manifest(j)).cuda_graph);
  j["cuda"] = {{"graph", "yes"}};
  CHECK_THROWS_WITH(parse_run_config(test::as_manifest(j)), Catch::Contains("/cuda/graph"));
  j["cuda"] = {{"grpah", true}};  // a misspelt key: refused, the message lists the real one
  CHECK_THROWS_WITH(parse_run_config(test::as_manifest(j)),
                    Catch::Contains("/cuda/grpah: unknown key") && Catch::Contains("deterministic, graph, tf32_conv"));
}
