// trim-bench: times forward + backward of conv2d, batch_norm (training mode) and linear on the
// distinct layer shapes of a network (--shapes: torchvision's ResNet-50 v1.5 or ResNet-18 at
// 224x224, or SAP's CNN at 28x28), one JSON line per case:
//   {"op":"conv2d","shape":"64x256x56x56 k1 s1 p0 o64","name":"layer1.1.conv1","count":2,"ms":...}
// scripts/bench_torch.py builds the same cases with the same shape strings and the same timing
// method, and scripts/bench_compare.py joins the two files into a trim/PyTorch ratio table.
// Absolute times here mean little on their own; the ratio measured in one run on one machine does.
// `trim-bench model NAME` times whole training steps instead (bench_model.cpp).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/bench/bench_model.h"
#include "core/autograd/node.h"
#include "core/cpu/conv_backend.h"
#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "core/ops/ops.h"
#include "core/tensor.h"

namespace {

using trim::Device;
using trim::Shape;
using trim::Tensor;

// One benchmark case. For conv2d the input is [n, c, h, w] and the output has `out` channels;
// for batch_norm [n, c, h, w] is the activation; for linear the input is [n, c] and w is [out, c].
struct Case {
  std::string op;
  std::string name;  // the first layer of the network with this shape
  int64_t n = 0, c = 0, h = 0, w = 0;
  int64_t out = 0;
  int kernel = 1, stride = 1, pad = 0;
  bool input_grad = true;  // false for the stem: the image needs no gradient
  int count = 1;           // how often the shape occurs in one pass of the network

  // The join key with the PyTorch results; bench_torch.py writes exactly the same strings.
  std::string shape() const {
    if (op == "conv2d")
      return trim::cat(n, "x", c, "x", h, "x", w, " k", kernel, " s", stride, " p", pad, " o", out);
    if (op == "batch_norm") return trim::cat(n, "x", c, "x", h, "x", w);
    return trim::cat(n, "x", c, " o", out);
  }
};

// Collects a network's layers in forward order; distinct() folds repeated shapes into counts.
struct Layers {
  int64_t batch;
  std::vector<Case> all;

  // Returns the output size.
  int64_t conv(const std::string& name, int64_t c, int64_t hw, int64_t out, int k, int s, bool input_grad = true) {
    Case x;
    x.op = "conv2d", x.name = name, x.n = batch, x.c = c, x.h = hw, x.w = hw, x.out = out;
    x.kernel = k, x.stride = s, x.pad = k / 2, x.input_grad = input_grad;
    all.push_back(x);
    return trim::window_out(hw, k, s, k / 2);
  }
  void bn(const std::string& name, int64_t c, int64_t hw) {
    Case x;
    x.op = "batch_norm", x.name = name, x.n = batch, x.c = c, x.h = hw, x.w = hw;
    all.push_back(x);
  }
  void fc(const std::string& name, int64_t c, int64_t out) {
    Case x;
    x.op = "linear", x.name = name, x.n = batch, x.c = c, x.out = out;
    all.push_back(x);
  }
  std::vector<Case> distinct() const {
    std::vector<Case> out;
    std::map<std::string, size_t> seen;
    for (const Case& x : all) {
      auto [it, fresh] = seen.try_emplace(x.op + "|" + x.shape(), out.size());
      if (fresh)
        out.push_back(x);
      else
        ++out[it->second].count;
    }
    return out;
  }
};

// Every conv, batch-norm and the classifier of ResNet-50 v1.5 (stride on the 3x3 conv of each
// stage's first block, as torchvision), deduplicated by shape in network order with a count.
std::vector<Case> resnet50_cases(int64_t batch) {
  Layers L{batch, {}};
  int64_t hw = L.conv("conv1", 3, 224, 64, 7, 2, false);
  L.bn("bn1", 64, hw);
  hw = trim::window_out(hw, 3, 2, 1);  // the 3x3/2 max-pool (not benchmarked)
  int64_t in_c = 64;
  const int blocks[4] = {3, 4, 6, 3};
  for (int stage = 0; stage < 4; ++stage) {
    const int64_t width = int64_t(64) << stage, out_c = width * 4;
    for (int b = 0; b < blocks[stage]; ++b) {
      const int s = (b == 0 && stage > 0) ? 2 : 1;
      const std::string p = trim::cat("layer", stage + 1, ".", b, ".");
      L.conv(p + "conv1", in_c, hw, width, 1, 1);
      L.bn(p + "bn1", width, hw);
      const int64_t hw2 = L.conv(p + "conv2", width, hw, width, 3, s);
      L.bn(p + "bn2", width, hw2);
      L.conv(p + "conv3", width, hw2, out_c, 1, 1);
      L.bn(p + "bn3", out_c, hw2);
      if (b == 0) {
        L.conv(p + "downsample.0", in_c, hw, out_c, 1, s);
        L.bn(p + "downsample.1", out_c, hw2);
      }
      in_c = out_c, hw = hw2;
    }
  }
  L.fc("fc", in_c, 1000);
  return L.distinct();
}

// torchvision's ResNet-18 at 224x224: basic blocks of two 3x3 convs, the first block of stages
// 2-4 strided with a 1x1 strided downsample.
std::vector<Case> resnet18_cases(int64_t batch) {
  Layers L{batch, {}};
  int64_t hw = L.conv("conv1", 3, 224, 64, 7, 2, false);
  L.bn("bn1", 64, hw);
  hw = trim::window_out(hw, 3, 2, 1);  // the 3x3/2 max-pool (not benchmarked)
  int64_t in_c = 64;
  for (int stage = 0; stage < 4; ++stage) {
    const int64_t width = int64_t(64) << stage;
    for (int b = 0; b < 2; ++b) {
      const int s = (b == 0 && stage > 0) ? 2 : 1;
      const std::string p = trim::cat("layer", stage + 1, ".", b, ".");
      const int64_t hw2 = L.conv(p + "conv1", in_c, hw, width, 3, s);
      L.bn(p + "bn1", width, hw2);
      L.conv(p + "conv2", width, hw2, width, 3, 1);
      L.bn(p + "bn2", width, hw2);
      if (s != 1 || in_c != width) {
        L.conv(p + "downsample.0", in_c, hw, width, 1, s);
        L.bn(p + "downsample.1", width, hw2);
      }
      in_c = width, hw = hw2;
    }
  }
  L.fc("fc", in_c, 1000);
  return L.distinct();
}

// SAP's CNN on 28x28 Fashion-MNIST (models/cnn.cpp make_sap_cnn): conv3x3 + BN per width
// 64, 128, 256, 512, a 2x2 max-pool between them (not benchmarked), the 10-way classifier.
std::vector<Case> sap_cnn_cases(int64_t batch) {
  Layers L{batch, {}};
  int64_t in_c = 1, hw = 28;
  const int64_t widths[4] = {64, 128, 256, 512};
  for (int i = 0; i < 4; ++i) {
    L.conv(trim::cat("conv", i + 1), in_c, hw, widths[i], 3, 1, i > 0);
    L.bn(trim::cat("bn", i + 1), widths[i], hw);
    in_c = widths[i];
    if (i < 3) hw /= 2;
  }
  L.fc("fc", in_c, 10);
  return L.distinct();
}

std::vector<Case> network_cases(const std::string& net, int64_t batch) {
  if (net == "resnet50") return resnet50_cases(batch);
  if (net == "resnet18") return resnet18_cases(batch);
  if (net == "sap_cnn") return sap_cnn_cases(batch);
  throw trim::Error(trim::cat("--shapes: expected resnet50, resnet18 or sap_cnn, found '", net, "'"));
}

Tensor randn(const Shape& shape, float stddev, Device d) {
  Tensor t = Tensor::empty(shape, trim::DType::f32, d);
  trim::normal_(t, 0.0f, stddev);
  return t;
}

// A fresh non-leaf view of `leaf` whose gradient is dropped. Inside a network a layer's input
// comes from the layer before, so its gradient flows on to that layer's node; feeding a leaf
// instead would make autograd copy dx into leaf.grad(), work the real layer never does.
Tensor from_upstream(const Tensor& leaf) {
  Tensor x = leaf.detach();
  trim::record(x, "bench_upstream", {&leaf},
               [](std::span<const Tensor>, const trim::GradRequest&) { return std::vector<Tensor>{Tensor()}; });
  return x;
}

// One forward + backward step of a case, with its inputs allocated once.
std::function<void()> make_step(const Case& k, Device d) {
  if (k.op == "conv2d") {
    Tensor x = randn({k.n, k.c, k.h, k.w}, 1.0f, d);
    x.set_requires_grad(k.input_grad);
    const float fan_in = float(k.c * k.kernel * k.kernel);
    Tensor w = randn({k.out, k.c, k.kernel, k.kernel}, std::sqrt(2.0f / fan_in), d);
    w.set_requires_grad(true);
    trim::Conv2dParams p;
    p.stride_h = p.stride_w = k.stride;
    p.pad_h = p.pad_w = k.pad;
    const int64_t ho = trim::window_out(k.h, k.kernel, k.stride, k.pad);
    const int64_t wo = trim::window_out(k.w, k.kernel, k.stride, k.pad);
    Tensor g = randn({k.n, k.out, ho, wo}, 1.0f, d);
    return [=]() mutable {
      Tensor y = trim::conv2d(k.input_grad ? from_upstream(x) : x, w, Tensor(), p);
      trim::run_backward(y, g);
      w.set_grad(Tensor());  // as zero_grad(set_to_none=True) between steps
    };
  }
  if (k.op == "batch_norm") {
    Tensor x = randn({k.n, k.c, k.h, k.w}, 1.0f, d);
    x.set_requires_grad(true);
    Tensor gamma = Tensor::full({k.c}, 1.0f, trim::DType::f32, d);
    Tensor beta = Tensor::zeros({k.c}, trim::DType::f32, d);
    gamma.set_requires_grad(true);
    beta.set_requires_grad(true);
    Tensor mean = Tensor::zeros({k.c}, trim::DType::f32, d);
    Tensor var = Tensor::full({k.c}, 1.0f, trim::DType::f32, d);
    Tensor g = randn({k.n, k.c, k.h, k.w}, 1.0f, d);
    return [=]() mutable {
      Tensor y = trim::batch_norm(from_upstream(x), gamma, beta, mean, var, true, 0.1f, 1e-5f);
      trim::run_backward(y, g);
      gamma.set_grad(Tensor());
      beta.set_grad(Tensor());
    };
  }
  if (k.op == "linear") {
    Tensor x = randn({k.n, k.c}, 1.0f, d);
    x.set_requires_grad(true);
    Tensor w = randn({k.out, k.c}, 1.0f / std::sqrt(float(k.c)), d);
    Tensor b = randn({k.out}, 1.0f / std::sqrt(float(k.c)), d);
    w.set_requires_grad(true);
    b.set_requires_grad(true);
    Tensor g = randn({k.n, k.out}, 1.0f, d);
    return [=]() mutable {
      Tensor y = trim::linear(from_upstream(x), w, b);
      trim::run_backward(y, g);
      w.set_grad(Tensor());
      b.set_grad(Tensor());
    };
  }
  throw trim::Error(trim::cat("unknown op '", k.op, "'"));
}

struct Timing {
  double median_ms = 0, min_ms = 0, max_ms = 0;
};

// Warm-up steps (cuDNN's algorithm search, the allocator's pool filling), then `repeats` timed
// runs of `iters` steps each, with the device synchronised on both sides of every run, so the
// host clock spans all queued device work. Reports per-step milliseconds.
Timing time_steps(const std::function<void()>& step, Device d, int warmup, int iters, int repeats) {
  for (int i = 0; i < warmup; ++i) step();
  std::vector<double> ms;
  for (int r = 0; r < repeats; ++r) {
    trim::synchronize(d);
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) step();
    trim::synchronize(d);
    const auto t1 = std::chrono::steady_clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count() / iters);
  }
  std::sort(ms.begin(), ms.end());
  const size_t m = ms.size();
  const double median = m % 2 ? ms[m / 2] : 0.5 * (ms[m / 2 - 1] + ms[m / 2]);
  return {median, ms.front(), ms.back()};
}

int run(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "model") return trim::bench::run_model(argc - 1, argv + 1);
  std::string device_spec = "cuda", out_path, filter, shapes = "resnet50";
  int64_t batch = 64;
  int iters = 20, repeats = 5, warmup = 5;
  CLI::App app{"trim-bench: forward + backward timings of conv2d, batch_norm and linear on a network's layer shapes "
               "(`trim-bench model --help`: whole training steps)"};
  app.add_option("--shapes", shapes, "the network whose layer shapes are timed: resnet50 | resnet18 | sap_cnn")
      ->capture_default_str();
  app.add_option("--device", device_spec, "cpu | cuda | cuda:N | auto")->capture_default_str();
  app.add_option("--batch", batch, "batch size")->capture_default_str()->check(CLI::Range(1, 1000000));
  app.add_option("--iters", iters, "steps per timed run")->capture_default_str()->check(CLI::Range(1, 1000000));
  app.add_option("--repeats", repeats, "timed runs per case (the median is reported)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  app.add_option("--warmup", warmup, "untimed steps before the timed runs")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  app.add_option("--filter", filter, "only cases whose op, layer name or shape contains this text");
  app.add_option("--out", out_path, "write the JSON lines here instead of stdout");
  bool cudnn_benchmark = false;
  app.add_flag("--cudnn-benchmark", cudnn_benchmark,
               "choose cuDNN algorithms by timing them (cudnnFind*), as PyTorch's cudnn.benchmark = True; "
               "default: cuDNN's heuristics, trim's default (pass the same to scripts/bench_torch.py)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  const Device d = trim::resolve_device(device_spec, "--device");
  trim::set_benchmark(cudnn_benchmark);
  trim::set_deterministic(true);  // trim's default; bench_torch.py sets cudnn.deterministic = True too
  std::vector<Case> cases;
  for (const Case& k : network_cases(shapes, batch)) {
    const std::string text = k.op + " " + k.name + " " + k.shape();
    if (filter.empty() || text.find(filter) != std::string::npos) cases.push_back(k);
  }
  if (cases.empty())
    throw trim::Error(trim::cat("--filter '", filter, "' matches none of the ", shapes, " cases"));

  std::ofstream file;
  if (!out_path.empty()) {
    file.open(out_path);
    if (!file) throw trim::Error(trim::cat("cannot open --out file '", out_path, "' for writing"));
  }
  std::ostream& out = out_path.empty() ? std::cout : file;

  trim::log_info(trim::cat("trim-bench: ", cases.size(), " ", shapes, " cases on ", d.str(), ", batch ", batch, ", ", warmup,
                           " warm-up + ", repeats, " x ", iters, " timed steps each, cuDNN algorithms by ",
                           cudnn_benchmark ? "timing (cudnnFind)" : "heuristics"));
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& k = cases[i];
    Timing t;
    {
      // The step holds the case's tensors; they are freed before the next case allocates.
      std::function<void()> step = make_step(k, d);
      t = time_steps(step, d, warmup, iters, repeats);
    }
    nlohmann::json j = {{"op", k.op},           {"shape", k.shape()},   {"name", k.name},
                        {"count", k.count},     {"ms", t.median_ms},    {"ms_min", t.min_ms},
                        {"ms_max", t.max_ms},   {"batch", batch},       {"iters", iters},
                        {"repeats", repeats},   {"device", d.str()},    {"framework", "trim"},
                        {"cudnn_benchmark", cudnn_benchmark}, {"shapes", shapes},
                        {"cpu_conv", trim::cpu::conv_backend_name(trim::cpu::conv_backend())}};
    out << j.dump() << "\n" << std::flush;
    trim::log_info(trim::cat("trim-bench: [", i + 1, "/", cases.size(), "] ", k.op, " ", k.shape(), ": ", t.median_ms,
                             " ms"));
  }
  if (file.is_open()) {
    file.close();
    if (!file) throw trim::Error(trim::cat("writing '", out_path, "' failed"));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (...) {
    return trim::report_exception("trim-bench");  // any exception: one line, exit status 1
  }
}
