// trim-bench-step: the fused optimizer step against an unfused one on ResNet-50's parameter
// shapes (25.6 M parameters in 161 tensors), for the dense, hard-mask and LATS rules.
//   trim-bench-step [--device cpu|cuda] [--iters N] [--out results.jsonl]
// Fused: trim's step, one pass over memory (one launch on CUDA) for every tensor. Unfused: what a
// framework without a fused pruning step does: per tensor, one pass per operation (mask the
// gradient, add weight decay, momentum, update, mask the weight, mask the momentum), written here
// with the same per-element arithmetic so both compute the same result. Memory traffic is reported
// against an in-place a += s*c pass measured in the same run: the ratio is what means something on a
// shared machine, not the absolute times.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/cpu/parallel.h"
#include "core/device.h"
#include "core/error.h"
#include "core/ops/ops.h"
#include "core/optim/sgd.h"
#include "pruning/lats_rule.h"
#include "pruning/mask_rule.h"

namespace {

using namespace trim;
using Clock = std::chrono::steady_clock;

// torchvision ResNet-50 v1.5: every parameter's shape, in registration order.
std::vector<Shape> resnet50_shapes() {
  std::vector<Shape> s{{64, 3, 7, 7}, {64}, {64}};
  int64_t in = 64;
  const int64_t blocks[] = {3, 4, 6, 3}, widths[] = {64, 128, 256, 512};
  for (int stage = 0; stage < 4; ++stage) {
    int64_t w = widths[stage], out = 4 * w;
    for (int64_t b = 0; b < blocks[stage]; ++b) {
      for (Shape conv : {Shape{w, in, 1, 1}, Shape{w, w, 3, 3}, Shape{out, w, 1, 1}}) {
        s.push_back(conv);
        s.push_back(Shape{conv[0]});
        s.push_back(Shape{conv[0]});
      }
      if (b == 0) {
        s.push_back(Shape{out, in, 1, 1});
        s.push_back(Shape{out});
        s.push_back(Shape{out});
      }
      in = out;
    }
  }
  s.push_back(Shape{1000, 2048});
  s.push_back(Shape{1000});
  return s;
}

double time_ms(const std::function<void()>& f, Device d, int iters) {
  f();  // warm-up (and table builds)
  synchronize(d);
  std::vector<double> ms;
  for (int i = 0; i < iters; ++i) {
    auto t0 = Clock::now();
    f();
    synchronize(d);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// The unfused mask + SGD step of one tensor: six passes (CPU loops), same arithmetic as MaskRule.
void unfused_step_cpu(float* w, float* g, float* v, const float* m, int64_t n, float lr, float mu, float wd) {
  cpu::map(n, [=](int64_t i) { g[i] = g[i] * m[i]; });
  cpu::map(n, [=](int64_t i) { g[i] = g[i] + wd * w[i]; });
  cpu::map(n, [=](int64_t i) { v[i] = mu * v[i] + g[i]; });
  cpu::map(n, [=](int64_t i) { w[i] = w[i] - lr * v[i]; });
  cpu::map(n, [=](int64_t i) { w[i] = w[i] * m[i]; });
  cpu::map(n, [=](int64_t i) { v[i] = v[i] * m[i]; });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"trim-bench-step: fused vs unfused optimizer step on ResNet-50's parameter shapes"};
  std::string device_spec = "cpu", out_path;
  int iters = 10;
  app.add_option("--device", device_spec, "cpu | cuda | cuda:N");
  app.add_option("--iters", iters, "timed repetitions (the median is reported)")->check(CLI::Range(1, 100000));
  app.add_option("--out", out_path, "also write the JSON lines to this file");
  CLI11_PARSE(app, argc, argv);
  try {
    Device d = resolve_device(device_spec, "--device");
    std::vector<Shape> shapes = resnet50_shapes();
    auto make_params = [&](bool master) {
      std::vector<OptimParam> ps;
      for (size_t k = 0; k < shapes.size(); ++k) {
        Tensor t = Tensor::full(shapes[k], 0.01f, DType::f32, d);
        t.set_requires_grad(true);
        ps.push_back({"p" + std::to_string(k), t, true, 1.0f, 0.0f, master && shapes[k].ndim() > 1});
      }
      return ps;
    };
    SgdOptions o{0.1f, 0.9f, false, 1e-4f};
    std::vector<nlohmann::json> lines;
    int64_t numel = 0;
    for (const Shape& s : shapes) numel += s.numel();

    // Bandwidth reference: an in-place a += s * c over preallocated arrays of the parameters' size
    // (reads a and c, writes a: 12 bytes per element; no allocation inside the timed loop).
    Tensor a = Tensor::zeros(Shape{numel}, DType::f32, d), c = Tensor::full(Shape{numel}, 2.0f, DType::f32, d);
    double triad_ms = time_ms([&] { add_(a, c, 1e-3f); }, d, iters);
    double triad_gbs = 12.0 * double(numel) / (triad_ms * 1e6);

    auto report = [&](const std::string& rule, const std::string& variant, double ms, double bytes_per_elem) {
      double gbs = bytes_per_elem * double(numel) / (ms * 1e6);
      nlohmann::json j = {{"rule", rule}, {"variant", variant}, {"device", d.str()}, {"parameters", numel},
                          {"tensors", shapes.size()}, {"ms", ms}, {"gb_per_s", gbs}, {"bandwidth_fraction", gbs / triad_gbs}};
      lines.push_back(j);
      std::printf("%s\n", j.dump().c_str());
    };

    {
      DenseSgd opt(make_params(false), o);
      report("dense", "fused", time_ms([&] { opt.step(); }, d, iters), 20.0);  // read w g v, write w v
    }
    {
      Sgd<MaskRule> opt(make_params(false), o);
      Tensor mask = opt.store().state("mask", 1.0f);
      for (size_t k = 0; k < shapes.size(); ++k)
        if (shapes[k].ndim() > 1) opt.set_rule_params(k, {mask.data<float>() + opt.store().slot(k).offset});
      report("mask", "fused", time_ms([&] { opt.step(); }, d, iters), 24.0);  // + read m
      if (d.is_cpu()) {
        ParamStore& st = opt.store();
        float* W = st.params().data<float>();
        float* G = st.grads().data<float>();
        float* V = st.state("momentum").data<float>();
        const float* M = mask.data<float>();
        double ms = time_ms([&] {
          for (size_t k = 0; k < st.size(); ++k) {
            int64_t off = st.slot(k).offset, n = st.slot(k).numel;
            unfused_step_cpu(W + off, G + off, V + off, M + off, n, 0.1f, 0.9f, 1e-4f);
          }
        }, d, iters);
        // Six passes: 3 + 3 + 3 + 3 + 3 + 3 arrays of 4 bytes touched.
        report("mask", "unfused", ms, 72.0);
      }
    }
    {
      Sgd<LatsRule> opt(make_params(true), o);
      opt.rule_scalars().threshold = 1e-3f;
      report("lats", "fused", time_ms([&] { opt.step(); }, d, iters), 24.0);  // read theta g v, write theta v w
    }
    nlohmann::json triad = {{"rule", "triad"}, {"variant", "reference"}, {"device", d.str()}, {"ms", triad_ms},
                            {"gb_per_s", triad_gbs}};
    std::printf("%s\n", triad.dump().c_str());
    lines.push_back(triad);
    if (!out_path.empty()) {
      std::ofstream f(out_path);
      for (const auto& j : lines) f << j.dump() << "\n";
      if (!f) throw Error(out_path + ": cannot write the results");
    }
  } catch (...) {
    return report_exception("trim-bench-step");
  }
  return 0;
}
