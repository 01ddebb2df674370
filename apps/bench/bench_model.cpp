// `trim-bench model NAME`: times whole training steps of a zoo model on random input, the way
// trim-train runs them (forward, cross-entropy, zero_grad, backward into the parameter store's
// gradient arena, SGD step with momentum and weight decay) under --precision fp32 | bf16 (as the
// manifest key: bf16 copies of the weights written by the step, products in bf16), one JSON line
// per run:
//   {"op":"model","shape":"resnet18 8x3x224x224","ms":...,"images_per_s":...}
// With --cuda-graph the step is captured once as a CUDA graph and replayed (core/optim/step_graph.h;
// the warm-up then covers the capture), and the line says whether it was ("cuda_graph") or why not
// ("graph_fallback").
// scripts/bench_torch_model.py times the same step in PyTorch with the same shape string, so
// scripts/bench_compare.py joins the two files like trim-bench's per-layer results.
#include "apps/bench/bench_model.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "core/autograd/grad_mode.h"
#include "core/cpu/conv_backend.h"
#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "core/ops/ops.h"
#include "core/ops/precision.h"
#include "core/optim/sgd.h"
#include "core/optim/step_graph.h"
#include "core/tensor.h"
#include "core/threads.h"
#include "models/models.h"

namespace trim::bench {

std::vector<int64_t> parse_input(const std::string& text) {
  std::vector<int64_t> dims;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    size_t used = 0;
    int64_t v = 0;
    try {
      v = std::stoll(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != part.size() || part.empty() || v < 1 || v > 65536)
      throw Error(cat("--input '", text, "': expected C,H,W as positive integers, found '", part, "'"));
    dims.push_back(v);
  }
  if (dims.size() != 3) throw Error(cat("--input '", text, "': expected three sizes C,H,W, found ", dims.size()));
  return dims;
}

int run_model(int argc, char** argv) {
  std::string name, device_spec = "cpu", input = "3,224,224", out_path, precision_name = "fp32";
  int64_t batch = 8, classes = 0;
  int iters = 5, repeats = 3, warmup = 2;
  bool cuda_graph = false, channels_last = true;
  CLI::App app{"trim-bench model: images per second of whole training steps of a zoo model on random input"};
  app.add_option("name", name, "zoo model (models/models.h), e.g. resnet18, sap_cnn")->required();
  app.add_option("--device", device_spec, "cpu | cuda | cuda:N | auto")->capture_default_str();
  app.add_option("--batch", batch, "images per step")->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("--input", input, "image size C,H,W")->capture_default_str();
  app.add_option("--classes", classes, "num_classes of the model (default: the model's own)")->check(CLI::Range(1, 1 << 20));
  app.add_option("--iters", iters, "steps per timed run")->capture_default_str()->check(CLI::Range(1, 1000000));
  app.add_option("--repeats", repeats, "timed runs (the median is reported)")->capture_default_str()->check(CLI::Range(1, 1000000));
  app.add_option("--warmup", warmup, "untimed steps first")->capture_default_str()->check(CLI::Range(0, 1000000));
  app.add_option("--precision", precision_name, "what convolutions and products compute in")
      ->capture_default_str()
      ->check(CLI::IsMember({"fp32", "bf16"}));
  app.add_flag("--cuda-graph", cuda_graph,
               "capture the step as a CUDA graph and replay it (CUDA devices; at least 3 warm-up steps)");
  app.add_flag("--channels-last,!--no-channels-last", channels_last,
               "bf16 convolutions on channels-last (NHWC) operands in cuDNN (CUDA devices; default on)");
  app.add_option("--out", out_path, "append the JSON line to this file instead of stdout");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  set_cudnn_channels_last(channels_last);

  const Device d = resolve_device(device_spec, "--device");
  const std::vector<int64_t> chw = parse_input(input);
  nlohmann::json spec = {{"name", name}, {"in_channels", chw[0]}};
  if (classes > 0) spec["num_classes"] = classes;
  Config model_spec(spec, "trim-bench model", "/model");
  std::shared_ptr<Module> model = build_model(model_spec);
  model_spec.finish();
  model->to(d);
  model->train();
  std::vector<OptimParam> params = optim_params(*model);
  SgdOptions so;
  so.lr = 0.01f, so.momentum = 0.9f, so.weight_decay = 5e-4f;
  DenseSgd opt(std::move(params), so);
  const Precision precision = precision_from_name(precision_name);
  if (precision == Precision::bf16) opt.store().enable_bf16_copies();

  Tensor x = Tensor::empty(Shape{batch, chw[0], chw[1], chw[2]}, DType::f32, d);
  normal_(x, 0.0f, 1.0f);
  // Labels from the first forward's class count, spread over the classes.
  int64_t n_classes = 0;
  {
    NoGradGuard no_grad;
    n_classes = (*model)(x).size(1);
  }
  std::vector<int32_t> lv(static_cast<size_t>(batch));
  for (int64_t i = 0; i < batch; ++i) lv[size_t(i)] = int32_t((i * 7919) % n_classes);
  Tensor labels = Tensor::from_vector(Shape{batch}, lv).to(d);

  // The body ends in step_staged(): StepGraph stages the scalars before every step, eager or
  // replayed (core/optim/step_graph.h). Everything it allocates is dropped inside it.
  auto body = [&] {
    PrecisionScope scope(precision);
    Tensor loss = cross_entropy((*model)(x), labels);
    opt.zero_grad();
    loss.backward();
    opt.step_staged();
  };
  const std::string refusal = cuda_graph ? graph_refusal(graph_request(d, "dense", true, 1)) : "";
  StepGraph graph(opt, body, cat("trim-bench model ", name), refusal);
  auto step = [&] {
    if (cuda_graph) {
      graph.run();
    } else {
      opt.stage_scalars();
      body();
    }
  };
  // The capture happens at the step after StepGraph's own warm-up: untimed.
  if (cuda_graph) warmup = std::max(warmup, StepGraph::kWarmupSteps + 1);
  for (int i = 0; i < warmup; ++i) step();
  // Wall time, and the process's CPU time (all threads): on a machine shared with other work the
  // CPU time is the steadier measure of the work done (with OMP_WAIT_POLICY=PASSIVE, so that
  // threads waiting at a barrier sleep instead of spinning).
  auto cpu_now = [] {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return double(t.tv_sec) * 1e3 + double(t.tv_nsec) * 1e-6;
  };
  std::vector<double> ms, cpu_ms;
  for (int r = 0; r < repeats; ++r) {
    synchronize(d);
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = cpu_now();
    for (int i = 0; i < iters; ++i) step();
    synchronize(d);
    cpu_ms.push_back((cpu_now() - c0) / iters);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / iters);
  }
  std::sort(ms.begin(), ms.end());
  std::sort(cpu_ms.begin(), cpu_ms.end());
  const double median = ms.size() % 2 ? ms[ms.size() / 2] : 0.5 * (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]);

  const std::string shape = cat(name, " ", batch, "x", chw[0], "x", chw[1], "x", chw[2]);  // as PyTorch's script
  nlohmann::json j = {{"op", "model"},        {"shape", shape},
                      {"name", name},         {"count", 1},
                      {"ms", median},         {"ms_min", ms.front()},
                      {"ms_max", ms.back()},  {"images_per_s", 1000.0 * double(batch) / median},
                      {"cpu_ms_min", cpu_ms.front()},
                      {"batch", batch},       {"iters", iters},
                      {"repeats", repeats},   {"device", d.str()},
                      {"threads", num_threads()}, {"framework", "trim"},
                      {"precision", precision_name},
                      {"cuda_graph", graph.replaying()},
                      {"channels_last", channels_last},
                      {"cpu_conv", cpu::conv_backend_name(cpu::conv_backend())}};
  if (cuda_graph && !graph.replaying()) j["graph_fallback"] = graph.fallback();
  if (out_path.empty()) {
    std::cout << j.dump() << "\n" << std::flush;
  } else {
    std::ofstream file(out_path, std::ios::app);
    file << j.dump() << "\n";
    file.close();
    if (!file) throw Error(cat("cannot append to --out file '", out_path, "'"));
  }
  log_info(cat("trim-bench model: ", shape, " on ", d.str(), " in ", precision_name,
               graph.replaying() ? " (CUDA graph)" : "", ": ", median, " ms per step, ",
               1000.0 * double(batch) / median, " images/s"));
  return 0;
}

}  // namespace trim::bench
