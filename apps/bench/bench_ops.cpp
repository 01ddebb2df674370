// trim-bench: the op table's timing mode. Times forward + backward of op cases, one JSON line each:
//   {"op":"conv2d","shape":"64x256x56x56 k1 s1 p0 o64","name":"layer1.1.conv1","count":2,"ms":...}
// --shapes picks the cases: a zoo model's distinct conv2d, batch_norm and linear layers
// (apps/bench/zoo_cases.h; resnet50, resnet18, sap_cnn or any other model of models/models.h, on
// its default input), or `table`, every row of the op table that the gradient and CUDA-vs-CPU tests
// check (apps/bench/op_cases.h), or `sparse`: dense against CSR inference at 80-98% sparsity
// (sparse_perf_cases), forward only, each layer shape's cases timed interleaved with a
// "speedup" (dense ms / this case's ms) per line. --list prints the cases (inputs and arguments) without timing
// them: scripts/bench_torch.py reads that list and times the same cases in PyTorch with the same
// "op" and "shape" strings and the same timing method, and scripts/bench_compare.py joins the two
// files into a trim/PyTorch ratio table. Absolute times mean little on their own; the ratio
// measured in one run on one machine does. `trim-bench model NAME` times whole training steps
// instead (bench_model.cpp). --precision bf16 runs the cases under the bf16 policy
// (core/ops/precision.h); --precision compare times fp32 and bf16 interleaved per case and adds
// "bf16_ms" and "bf16_ratio" (bf16 / fp32) to each line: the per-layer profile of the policy.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/bench/bench_model.h"
#include "apps/bench/op_cases.h"
#include "apps/bench/op_perf.h"
#include "apps/bench/zoo_cases.h"
#include "core/cpu/conv_backend.h"
#include "core/device.h"
#include "core/cpu/sparse_impl.h"
#include "core/error.h"
#include "core/log.h"
#include "core/ops/precision.h"
#include "core/threads.h"
#include "models/models.h"

namespace {

using trim::Device;
using trim::test::OpCase;

// The cases of --shapes, in order.
std::vector<OpCase> cases_for(const std::string& shapes, int64_t batch, const std::string& input) {
  if (shapes == "table") return trim::test::op_cases();
  if (shapes == "sparse") return trim::test::sparse_perf_cases(batch);
  const std::vector<std::string> models = trim::model_registry().names();
  if (std::find(models.begin(), models.end(), shapes) == models.end()) {
    std::string names;
    for (const std::string& m : models) names += ", " + m;
    throw trim::Error(
        trim::cat("--shapes: expected table, sparse or a zoo model (", names.substr(2), "), found '", shapes, "'"));
  }
  trim::Shape image;
  if (!input.empty()) image = trim::Shape(trim::bench::parse_input(input));
  return trim::test::zoo_cases(shapes, batch, image, "--shapes");
}

// The JSON line that names a case: op, shape (the join key with bench_torch.py), the layer it
// stands for (the case's name for a table row) and how many layers share it.
nlohmann::json describe(const OpCase& c) {
  return {{"op", c.op()}, {"shape", c.shape()}, {"name", c.layer.empty() ? c.name : c.layer}, {"count", c.count}};
}

// What bench_torch.py needs to build the case: every input's shape and whether it takes a
// gradient, and the op's integer arguments.
nlohmann::json listing(const OpCase& c) {
  nlohmann::json j = describe(c), inputs = nlohmann::json::array(), args = nlohmann::json::object();
  for (const trim::test::InputSpec& in : c.inputs) {
    std::vector<int64_t> dims;
    for (int i = 0; i < in.shape.ndim(); ++i) dims.push_back(in.shape[i]);
    inputs.push_back({{"shape", dims}, {"grad", in.grad}});
  }
  for (const auto& [key, value] : c.args) args[key] = value;
  j["inputs"] = inputs;
  j["args"] = args;
  return j;
}

// --shapes sparse: each layer shape's cases (dense first) timed round-robin; speedup = dense / case.
void time_sparse(const std::vector<OpCase>& cases, Device d, int warmup, int iters, int repeats, int64_t batch,
                 std::ostream& out) {
  for (size_t b = 0; b < cases.size();) {
    size_t e = b;
    while (e < cases.size() && cases[e].layer == cases[b].layer) ++e;
    std::vector<std::function<void()>> steps;
    for (size_t i = b; i < e; ++i) steps.push_back(trim::test::timed_step(cases[i], d));
    std::vector<trim::test::Timing> t = trim::test::time_interleaved(steps, d, warmup, iters, repeats);
    double dense_ms = 0;
    for (size_t i = b; i < e; ++i)
      if (cases[i].name.rfind("dense ", 0) == 0) dense_ms = t[i - b].median_ms;
    for (size_t i = b; i < e; ++i) {
      nlohmann::json j = describe(cases[i]);
      j.update({{"ms", t[i - b].median_ms}, {"ms_min", t[i - b].min_ms}, {"ms_max", t[i - b].max_ms},
                {"speedup", dense_ms > 0 ? dense_ms / t[i - b].median_ms : 0.0}, {"batch", batch},
                {"iters", iters}, {"repeats", repeats}, {"device", d.str()}, {"framework", "trim"},
                {"threads", trim::num_threads()}, {"shapes", "sparse"},
                {"sparse_isa", trim::cpu::sparse_isa_name(trim::cpu::sparse_isa())},
                {"sparse_conv", trim::cpu::sparse_conv_method() == trim::cpu::SparseConvMethod::automatic ? "automatic"
                                : trim::cpu::sparse_conv_method() == trim::cpu::SparseConvMethod::implicit ? "implicit"
                                                                                                       : "im2col"}});
      out << j.dump() << "\n" << std::flush;
      trim::log_info(trim::cat("trim-bench: ", cases[i].name, ": ", t[i - b].median_ms, " ms, x",
                               dense_ms > 0 ? dense_ms / t[i - b].median_ms : 0.0, " vs dense"));
    }
    b = e;
  }
}

int run(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "model") return trim::bench::run_model(argc - 1, argv + 1);
  std::string device_spec = "cuda", out_path, filter, shapes = "resnet50", input;
  int64_t batch = 64;
  int iters = 20, repeats = 5, warmup = 5, threads = 0;
  bool list = false;
  CLI::App app{"trim-bench: forward + backward timings of op cases: a zoo model's conv2d, batch_norm and linear "
               "layer shapes, or the op table's rows (`trim-bench model --help`: whole training steps)"};
  app.add_option("--shapes", shapes,
                 "the cases: a zoo model's distinct layer shapes (resnet50 | resnet18 | sap_cnn | any model of "
                 "models/models.h, on its default input), `table` (every op-table row) or `sparse` (dense vs CSR "
                 "inference, interleaved)")
      ->capture_default_str();
  app.add_option("--input", input, "image size C,H,W of a model's cases (default: the model's usual input)");
  app.add_option("--device", device_spec, "cpu | cuda | cuda:N | auto")->capture_default_str();
  app.add_option("--batch", batch, "batch size of a model's cases (table rows keep their own shapes)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  app.add_option("--iters", iters, "steps per timed run")->capture_default_str()->check(CLI::Range(1, 1000000));
  app.add_option("--repeats", repeats, "timed runs per case (the median is reported)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  app.add_option("--warmup", warmup, "untimed steps before the timed runs")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  app.add_option("--threads", threads, "CPU threads (0: all cores)")->capture_default_str()->check(CLI::Range(0, 4096));
  std::string precision = "fp32";
  app.add_option("--precision", precision, "fp32 | bf16 | compare (both, interleaved, with their ratio)")
      ->capture_default_str()
      ->check(CLI::IsMember({"fp32", "bf16", "compare"}));
  app.add_option("--filter", filter, "only cases whose op, layer name or shape contains this text");
  app.add_option("--out", out_path, "write the JSON lines here instead of stdout");
  app.add_flag("--list", list,
               "print the cases (op, shape, name, count, inputs, args) as JSON lines without timing them "
               "(scripts/bench_torch.py builds its cases from this list)");
  bool cudnn_benchmark = false;
  app.add_flag("--cudnn-benchmark", cudnn_benchmark,
               "choose cuDNN algorithms by timing them (cudnnFind*), as PyTorch's cudnn.benchmark = True; "
               "default: cuDNN's heuristics, trim's default (pass the same to scripts/bench_torch.py)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  std::vector<OpCase> cases;
  for (const OpCase& c : cases_for(shapes, batch, input)) {
    const std::string text = c.op() + " " + c.layer + " " + c.shape();
    if (filter.empty() || text.find(filter) != std::string::npos) cases.push_back(c);
  }
  if (cases.empty())
    throw trim::Error(trim::cat("--filter '", filter, "' matches none of the ", shapes, " cases"));

  std::ofstream file;
  if (!out_path.empty()) {
    file.open(out_path);
    if (!file) throw trim::Error(trim::cat("cannot open --out file '", out_path, "' for writing"));
  }
  std::ostream& out = out_path.empty() ? std::cout : file;
  if (list) {
    for (const OpCase& c : cases) {
      nlohmann::json j = listing(c);
      j["batch"] = batch, j["shapes"] = shapes;
      out << j.dump() << "\n";
    }
  } else {
    const Device d = trim::resolve_device(device_spec, "--device");
    if (threads > 0) trim::set_num_threads(threads);
    trim::set_benchmark(cudnn_benchmark);
    trim::set_deterministic(true);  // trim's default; bench_torch.py sets cudnn.deterministic = True too
    trim::log_info(trim::cat("trim-bench: ", cases.size(), " ", shapes, " cases on ", d.str(), ", batch ", batch, ", ",
                             warmup, " warm-up + ", repeats, " x ", iters, " timed steps each, cuDNN algorithms by ",
                             cudnn_benchmark ? "timing (cudnnFind)" : "heuristics"));
    if (shapes == "sparse") {
      time_sparse(cases, d, warmup, iters, repeats, batch, out);
      cases.clear();
    }
    for (size_t i = 0; i < cases.size(); ++i) {
      const OpCase& c = cases[i];
      trim::test::Timing t, t16;
      {
        // The step holds the case's tensors; they are freed before the next case allocates.
        std::function<void()> step = trim::test::timed_step(c, d);
        std::function<void()> half = [step] {
          trim::PrecisionScope bf16(trim::Precision::bf16);
          step();
        };
        if (precision == "compare") {
          std::vector<trim::test::Timing> both = trim::test::time_interleaved({step, half}, d, warmup, iters, repeats);
          t = both[0], t16 = both[1];
        } else {
          t = trim::test::time_steps(precision == "bf16" ? half : step, d, warmup, iters, repeats);
        }
      }
      nlohmann::json j = describe(c);
      j["precision"] = precision == "compare" ? "fp32" : precision;
      if (precision == "compare") j.update({{"bf16_ms", t16.median_ms}, {"bf16_ratio", t16.median_ms / t.median_ms}});
      j.update({{"ms", t.median_ms},   {"ms_min", t.min_ms},     {"ms_max", t.max_ms},
                {"batch", batch},      {"iters", iters},         {"repeats", repeats},
                {"device", d.str()},   {"framework", "trim"},    {"cudnn_benchmark", cudnn_benchmark},
                {"shapes", shapes},    {"cpu_conv", trim::cpu::conv_backend_name(trim::cpu::conv_backend())}});
      out << j.dump() << "\n" << std::flush;
      trim::log_info(trim::cat("trim-bench: [", i + 1, "/", cases.size(), "] ", c.op(), " ", c.shape(), ": ",
                               t.median_ms, " ms"));
    }
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
