// trim-bench-spiking: times neuron_forward + backward through time of IF (SEW ResNet's: hard
// reset, detach_reset, ATan) and LIF (SpikingJelly's defaults: tau 2, decay_input, Sigmoid) on
// the distinct neuron input shapes of SEW ResNet-18 at 224 x 224 with T = 4 steps.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "core/autograd/grad_mode.h"
#include "core/autograd/node.h"
#include "core/device.h"
#include "core/log.h"
#include "core/ops/ops.h"
#include "spiking/neuron.h"

using namespace trim;

namespace {

struct Case {
  std::string neuron;  // "if" | "lif"
  int64_t c, hw;       // per-step activation [N, c, hw, hw]
  int count;           // neuron layers of SEW ResNet-18 with this shape
};

// Stem IF at 64 x 112 x 112 (before the max-pool); layer1: 4 neurons at 64 x 56 x 56; layers 2-4:
// 2 + 2 neurons in the blocks plus the downsample branch's one.
std::vector<Case> sew_resnet18_cases() {
  std::vector<Case> out;
  for (const char* n : {"if", "lif"}) {
    out.push_back({n, 64, 112, 1});
    out.push_back({n, 64, 56, 4});
    out.push_back({n, 128, 28, 5});
    out.push_back({n, 256, 14, 5});
    out.push_back({n, 512, 7, 5});
  }
  return out;
}

spiking::NeuronConfig config_for(const std::string& neuron) {
  spiking::NeuronConfig c;
  if (neuron == "if") {
    c.kind = spiking::NeuronKind::if_node;
    c.detach_reset = true;
    c.surrogate = {surrogate::Kind::atan, 2.0f};
  }
  return c;
}

std::string shape_key(int64_t T, int64_t batch, const Case& k) {
  return cat(T, "x", batch, "x", k.c, "x", k.hw, "x", k.hw);
}

int run(int argc, char** argv) {
  int64_t batch = 8, T = 4;
  int iters = 3, repeats = 3, warmup = 1;
  std::string device_spec = "cpu", out_path;
  CLI::App app{"trim-bench-spiking: IF / LIF forward + backward on SEW ResNet-18 activation shapes"};
  app.add_option("--device", device_spec, "cpu | cuda | cuda:N | auto")->capture_default_str();
  app.add_option("--batch", batch, "batch size")->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("--steps", T, "time steps T")->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--iters", iters, "steps per timed run")->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("--repeats", repeats, "timed runs per case (median reported)")->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--warmup", warmup, "untimed steps first")->capture_default_str()->check(CLI::Range(0, 1000));
  app.add_option("--out", out_path, "write the JSON lines here instead of stdout");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  const Device d = resolve_device(device_spec, "--device");
  std::ofstream file;
  if (!out_path.empty()) {
    file.open(out_path);
    if (!file) throw Error(cat("cannot open --out file '", out_path, "' for writing"));
  }
  std::ostream& out = out_path.empty() ? std::cout : file;
  for (const Case& k : sew_resnet18_cases()) {
    spiking::NeuronConfig cfg = config_for(k.neuron);
    Shape s{T, batch, k.c, k.hw, k.hw};
    Tensor x = Tensor::empty(s, DType::f32, d), g = Tensor::empty(s, DType::f32, d);
    normal_(x, 0.8f, 1.0f);
    normal_(g, 0.0f, 1.0f);
    x.set_requires_grad(true);
    // The op's forward, then its backward node called directly: what the neuron costs inside a
    // network, where x comes from BN and its gradient flows on (a leaf's grad would be a clone).
    auto step = [&] {
      Tensor spikes = spiking::neuron_forward(x, cfg).spikes;
      NoGradGuard no_grad;  // as the engine runs backward
      std::vector<Tensor> gx = spikes.grad_fn()->backward(std::span<const Tensor>(&g, 1), GradRequest{{true, false, false}, {}, {}});
      if (!gx[0].defined()) throw Error("trim-bench-spiking: backward returned no input gradient");
    };
    for (int i = 0; i < warmup; ++i) step();
    std::vector<double> ms;
    for (int r = 0; r < repeats; ++r) {
      synchronize(d);
      auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < iters; ++i) step();
      synchronize(d);
      auto t1 = std::chrono::steady_clock::now();
      ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count() / iters);
    }
    std::sort(ms.begin(), ms.end());
    double median = ms.size() % 2 ? ms[ms.size() / 2] : 0.5 * (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]);
    nlohmann::json j = {{"op", k.neuron}, {"shape", shape_key(T, batch, k)}, {"count", k.count},
                        {"ms", median},   {"ms_min", ms.front()},             {"ms_max", ms.back()},
                        {"device", d.str()}, {"framework", "trim"}};
    out << j.dump() << "\n" << std::flush;
    log_info(cat("trim-bench-spiking: ", k.neuron, " ", shape_key(T, batch, k), ": ", median, " ms"));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "trim-bench-spiking: %s\n", e.what());
    return 1;
  }
}
