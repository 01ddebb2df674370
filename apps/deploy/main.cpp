// trim-deploy: a trained (pruned) run turned into what runs fast, measured.
//   trim-deploy <run folder> [--out DIR] [--device cpu|cuda] [--threads N] [--format auto|dense|sparse|slim]
//               [--batch 1,64] [--runs N] [--clock wall|cpu] [--eval]
//   trim-deploy --check FILE     checks a model_deploy.safetensors (CSR indices, shapes) and exits
// Reads <run>/manifest.json, model.safetensors and, when present, model_slim.safetensors +
// model_slim.json (GReg's filter mode); writes <run>/deploy/ (or --out): model_deploy.safetensors
// (apps/deploy/deploy_file.h), deploy.json (the spec after slimming, the plan, per layer the format,
// density, bytes and the time of each candidate), deploy_report.json and deploy_report.md.
// Formats: dense = the masked network, folded, every layer dense (the baseline); sparse = every
// layer that can in CSR; slim = the physically slimmed network, dense; auto (default) = slimmed when
// the run has a slimmed model, each layer in the fastest of its formats, timed here on the target
// device and thread count. Nothing is written until the deployed logits match the masked network's
// (relative 1e-4) and the written file has been read back and checked.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "apps/deploy/deploy_file.h"
#include "apps/deploy/plan.h"
#include "apps/runner/manifest.h"
#include "apps/runner/run_config.h"
#include "core/autograd/grad_mode.h"
#include "core/device.h"
#include "core/error.h"
#include "core/io/atomic_file.h"
#include "core/io/safetensors.h"
#include "core/ops/ops.h"
#include "core/random/generator.h"
#include "core/random/philox.h"
#include "core/threads.h"
#include "data/datasets.h"
#include "data/loader.h"
#include "data/subset.h"
#include "models/models.h"

namespace {

using namespace trim;
using namespace trim::deploy;
namespace fs = std::filesystem;
using nlohmann::json;

constexpr double kTolerance = 1e-4;  // deployed vs masked logits, relative (Done-when of issue 16)

std::vector<int64_t> parse_batches(const std::string& text) {
  std::vector<int64_t> out;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(part, &used);
    } catch (const std::exception&) {
    }
    if (used != part.size() || v < 1 || v > 65536)
      throw Error(cat("--batch: expected batch sizes in [1, 65536] separated by commas like 1,64, found '", text, "'"));
    out.push_back(v);
  }
  if (out.empty()) throw Error("--batch: empty list");
  return out;
}

std::shared_ptr<Module> load_model(const json& spec, const std::string& spec_source, const std::string& spec_path,
                                   const std::string& file, Device device) {
  default_generator().set_state(0, 0);
  Config c(spec, spec_source, spec_path);
  auto model = build_model(c);
  c.finish();
  SafetensorsFile f = load_safetensors(file);
  std::vector<std::pair<std::string, Tensor>> st;
  for (auto& t : f.tensors) st.emplace_back(t.name, t.tensor);
  model->load_state_dict(st, file);
  model->to(device);
  model->eval();
  return model;
}

Tensor random_input(const Shape& example, int64_t batch, Device device, uint64_t seed) {
  std::vector<int64_t> dims = {batch};
  for (int i = 0; i < example.ndim(); ++i) dims.push_back(example[i]);
  Shape s(dims);
  std::vector<float> v(size_t(s.numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = philox::normal(seed, 0, int64_t(i));
  return Tensor::from_vector(s, v, device);
}

// --clock cpu: the process's CPU time instead of the wall clock (1 CPU thread only, checked). On a
// machine loaded by other work the wall clock counts the time the scheduler gives to others, far
// more for a whole network than for one layer; CPU time does not.
bool cpu_clock = false;

double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

template <class F>
double seconds(Device d, const F& f) {
  if (cpu_clock) {
    const double t0 = cpu_seconds();
    f();
    return cpu_seconds() - t0;
  }
  auto t0 = std::chrono::steady_clock::now();
  f();
  synchronize(d);  // a CUDA launch is timed to its end
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return 0.0;
  return v[std::min(v.size() - 1, size_t(q * double(v.size() - 1) + 0.5))];
}

// Per layer: the median time of each candidate format at each batch size, timed interleaved on the
// layer's own input (captured from a forward pass of the plan).
struct LayerTimes {
  std::map<std::string, std::map<int64_t, double>> t;  // format -> batch -> seconds
};

std::vector<LayerTimes> time_layers(Plan& plan, const std::vector<Format>& (*candidates)(const DeployedLayer&),
                                    const std::vector<int64_t>& batches, const Shape& example, Device device, int runs) {
  std::vector<LayerTimes> out(plan.layers().size());
  for (int64_t b : batches) {
    Tensor x = random_input(example, b, device, 7);
    plan.capture_inputs(true);
    plan.forward(x);
    plan.capture_inputs(false);
    const int n = b == 1 ? runs : std::max(3, runs / 5);
    for (size_t i = 0; i < plan.layers().size(); ++i) {
      DeployedLayer& l = plan.layers()[i];
      const Plan::Call& in = plan.captured_call(i);  // with its residual and activation, if it was handed them
      auto run = [&](Format f) { l.run_as(f, in.x, in.residual, in.act); };
      const std::vector<Format>& cands = candidates(l);
      std::map<Format, std::vector<double>> samples;
      for (Format f : cands)
        if (f == Format::csr) l.build_csr();
      for (Format f : cands) run(f), run(f);  // warm-up
      for (int r = 0; r < n; ++r)
        for (Format f : cands) samples[f].push_back(seconds(device, [&] { run(f); }));
      for (Format f : cands) out[i].t[format_name(f)][b] = quantile(samples[f], 0.5);
    }
  }
  return out;
}

const std::vector<Format>& dense_only(const DeployedLayer&) {
  static const std::vector<Format> v = {Format::dense};
  return v;
}
const std::vector<Format>& both(const DeployedLayer& l) {
  static const std::vector<Format> v = {Format::dense, Format::csr}, d = {Format::dense};
  return l.sparse_capable() ? v : d;
}

struct NetTimes {
  std::vector<double> dense, deployed;
};

// Whole network, dense baseline and deployed interleaved run by run, after warm-up.
NetTimes time_networks(Plan& dense, Plan& deployed, const Tensor& x, Device device, int runs) {
  NetTimes t;
  for (int r = 0; r < 3; ++r) dense.forward(x), deployed.forward(x);
  for (int r = 0; r < runs; ++r) {
    t.dense.push_back(seconds(device, [&] { dense.forward(x); }));
    t.deployed.push_back(seconds(device, [&] { deployed.forward(x); }));
  }
  return t;
}

double accuracy(Plan& plan, DataLoader& loader, const ChannelAffine& norm) {
  Tensor correct = Tensor::zeros(Shape{}, DType::i32, loader.options().device);
  int64_t seen = 0;
  loader.start_epoch(0);
  while (auto b = loader.next()) {
    count_correct(plan.forward(affine_u8(b->images, norm)), b->labels, correct);
    seen += b->labels.numel();
  }
  return seen ? double(correct.item()) / double(seen) : 0.0;
}

// Bytes of the layers' tensors (weights and biases, or CSR arrays and biases).
int64_t layer_bytes(const Plan& p) {
  int64_t b = 0;
  for (const auto& l : p.layers()) b += l.stored_bytes();
  return b;
}

// Multiply-adds per image of the plan's conv and linear layers, zeros included (the structural
// cost: a slimmed network's is lower, a sparse one's is not), from the inputs its last forward
// with capture_inputs on recorded.
int64_t macs_per_image(const Plan& p) {
  int64_t m = 0;
  for (size_t i = 0; i < p.layers().size(); ++i) {
    const DeployedLayer& l = p.layers()[i];
    const Shape& w = l.weight_shape;
    if (!l.conv) {
      m += w[0] * w[1];
      continue;
    }
    const Tensor& x = p.captured_input(i);
    const int64_t ho = window_out(x.size(2), int(w[2]), l.params.stride_h, l.params.pad_h, l.params.dil_h);
    const int64_t wo = window_out(x.size(3), int(w[3]), l.params.stride_w, l.params.pad_w, l.params.dil_w);
    m += w[0] * ho * wo * w[1] * w[2] * w[3];
  }
  return m;
}

std::string fmt_ms(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", s * 1e3);
  return buf;
}

int run_check(const std::string& file) {
  DeployFileSummary s = check_deploy_file(file);
  std::printf("%s: ok: %lld tensors, %lld dense and %lld CSR layers, %lld bytes\n", file.c_str(), (long long)s.tensors,
              (long long)s.dense_layers, (long long)s.csr_layers, (long long)s.bytes);
  return 0;
}

struct Options {
  std::string run, out, device = "cpu", format = "auto", batch = "1,64", check, clock = "wall";
  int threads = 0, runs = 50;
  bool eval = false;
};

int run_deploy(const Options& o) {
  NoGradGuard no_grad;
  const std::vector<int64_t> batches = parse_batches(o.batch);
  if (!fs::is_directory(o.run)) throw Error(cat(o.run, ": expected a run folder (the output of a trim training app)"));
  const std::string manifest_path = o.run + "/manifest.json", model_path = o.run + "/model.safetensors";
  if (!fs::exists(manifest_path)) throw Error(cat(o.run, ": no manifest.json: not a run folder"));
  if (!fs::exists(model_path))
    throw Error(cat(o.run, ": no model.safetensors (a run writes it when training ends): nothing to deploy"));
  const std::string slim_model = o.run + "/model_slim.safetensors", slim_spec_path = o.run + "/model_slim.json";
  const bool has_slim = fs::exists(slim_model) && fs::exists(slim_spec_path);
  if (o.format == "slim" && !has_slim)
    throw Error(cat(o.run, ": --format slim: the run has no model_slim.safetensors and model_slim.json (GReg's filter "
                           "mode writes them when the model has slimmable channel groups); use --format auto, dense or sparse"));
  set_num_threads(o.threads);
  if (o.clock == "cpu" && (o.device != "cpu" || num_threads() != 1))
    throw Error(cat("--clock cpu times the process's CPU time: it needs --device cpu and --threads 1, found --device ",
                    o.device, " and ", num_threads(), " threads"));
  cpu_clock = o.clock == "cpu";
  const Device device = resolve_device(o.device, "--device");

  Manifest m = load_manifest(manifest_path, {});
  RunConfig cfg = parse_run_config(m);
  const std::string out = o.out.empty() ? o.run + "/deploy" : o.out;

  // The masked network as trained (the reference), the dense baseline and the deployed network.
  auto reference = load_model(cfg.model, m.source, "/model", model_path, device);
  json deployed_spec = cfg.model;
  const bool use_slim = has_slim && (o.format == "slim" || o.format == "auto");
  std::shared_ptr<Module> deployed_model;
  if (use_slim) {
    deployed_spec = json::parse(read_file(slim_spec_path));
    deployed_model = load_model(deployed_spec, slim_spec_path, "", slim_model, device);
  } else {
    deployed_model = load_model(cfg.model, m.source, "/model", model_path, device);
  }
  Plan dense(load_model(cfg.model, m.source, "/model", model_path, device), device);
  Plan plan(deployed_model, device);

  // The data: with --eval the test split (its first batch is the check batch), else random inputs.
  std::unique_ptr<DataLoader> loader;
  std::shared_ptr<const Dataset> test_set;
  ChannelAffine norm;
  Shape example = model_registry().at(cfg.model.at("name").get<std::string>()).input;
  Tensor check;
  if (o.eval) {
    test_set = first_examples(load_dataset(cfg.data.dataset, cfg.data.root, "test", cfg.data.options), cfg.data.test_limit);
    example = test_set->item_shape();
    LoaderOptions lo;
    lo.batch_size = cfg.data.eval_batch_size;
    lo.shuffle = false;
    lo.device = device;
    loader = std::make_unique<DataLoader>(test_set, lo);
    norm = normalisation(cfg.data);
    loader->start_epoch(0);
    auto b = loader->next();
    check = affine_u8(b->images, norm);
  } else {
    // The run's test images give the input shape (a model's options may differ from the zoo's usual
    // input); a run whose data is not on this machine falls back to that usual input.
    try {
      example = load_dataset(cfg.data.dataset, cfg.data.root, "test", cfg.data.options)->item_shape();
    } catch (const Error&) {
    }
    check = random_input(example, 8, device, 3);
  }

  // Formats: timed candidates (auto), or the one asked for.
  const std::vector<LayerTimes> base_times = time_layers(dense, dense_only, batches, example, device, o.runs);
  std::vector<LayerTimes> times = time_layers(plan, o.format == "auto" ? both : dense_only, batches, example, device, o.runs);
  for (size_t i = 0; i < plan.layers().size(); ++i) {
    DeployedLayer& l = plan.layers()[i];
    Format f = Format::dense;
    if (o.format == "sparse" && l.sparse_capable()) f = Format::csr;
    if (o.format == "auto" && times[i].t.count("csr")) {
      // CSR only where it is faster at every batch size timed: never slower than dense.
      bool faster = true;
      for (int64_t b : batches) faster = faster && times[i].t["csr"][b] < times[i].t["dense"][b];
      if (faster) f = Format::csr;
    }
    l.set_format(f);
  }
  if (o.format == "sparse") times = time_layers(plan, both, batches, example, device, o.runs);

  // The deployed logits must be the masked network's.
  Tensor want = reference->forward(check);
  const double diff_dense = relative_difference(want, dense.forward(check));
  const double diff_deployed = relative_difference(want, plan.forward(check));
  if (!(diff_deployed <= kTolerance) || !(diff_dense <= kTolerance))
    throw Error(cat(o.run, ": the deployed network's logits differ from the masked network's by ", diff_deployed,
                    " (folded dense: ", diff_dense, "), relative, above ", kTolerance, ": nothing written"));

  // Whole-network latency (batch 1) and throughput (other batch sizes), interleaved.
  json net = json::object();
  std::map<int64_t, double> speedup;
  for (int64_t b : batches) {
    Tensor x = random_input(example, b, device, 11);
    NetTimes t = time_networks(dense, plan, x, device, b == 1 ? std::max(o.runs, 1) : std::max(3, o.runs / 5));
    double md = quantile(t.dense, 0.5), mp = quantile(t.deployed, 0.5);
    speedup[b] = md / mp;
    net[std::to_string(b)] = {{"runs", t.dense.size()},
                              {"dense", {{"median_s", md}, {"p90_s", quantile(t.dense, 0.9)}, {"images_per_s", double(b) / md}}},
                              {"deployed", {{"median_s", mp}, {"p90_s", quantile(t.deployed, 0.9)}, {"images_per_s", double(b) / mp}}},
                              {"speedup", md / mp}};
  }

  // bytes_dense / bytes_deployed: the files (model.safetensors as trained, model_deploy.safetensors),
  // set once the latter is written; layer_bytes_*: the conv and linear layers alone.
  json report = {{"bytes_dense", nullptr}, {"bytes_deployed", nullptr}};
  report["speedup_batch1"] = speedup.count(1) ? json(speedup[1]) : json(nullptr);
  report["speedup_batch64"] = speedup.count(64) ? json(speedup[64]) : json(nullptr);
  if (o.eval) {
    double a_ref = 0.0;
    {  // the reference through a chain-less plan would fold; evaluate the model's own forward
      Tensor correct = Tensor::zeros(Shape{}, DType::i32, device);
      int64_t seen = 0;
      loader->start_epoch(0);
      while (auto b = loader->next()) {
        count_correct(reference->forward(affine_u8(b->images, norm)), b->labels, correct);
        seen += b->labels.numel();
      }
      a_ref = double(correct.item()) / double(seen);
    }
    report["test_accuracy_dense"] = accuracy(dense, *loader, norm);
    report["test_accuracy_deployed"] = accuracy(plan, *loader, norm);
    report["test_accuracy_masked"] = a_ref;
    report["test_examples"] = test_set->size();
  }
  report["logits_relative_difference"] = {{"deployed", diff_deployed}, {"dense_folded", diff_dense}};
  report["device"] = device.str();
  report["threads"] = num_threads();
  report["clock"] = o.clock;
  report["format"] = o.format;
  report["slimmed"] = use_slim;
  report["network"] = net;
  report["macs_dense"] = macs_per_image(dense);
  report["macs_deployed"] = macs_per_image(plan);

  json layers = json::array();
  std::map<std::string, const LayerTimes*> base_by_name;
  for (size_t i = 0; i < dense.layers().size(); ++i) base_by_name[dense.layers()[i].name] = &base_times[i];
  for (size_t i = 0; i < plan.layers().size(); ++i) {
    const DeployedLayer& l = plan.layers()[i];
    const int64_t numel = l.weight.numel(), nnz = l.nonzeros();
    json cand = json::object();
    for (auto& [f, per_batch] : times[i].t)
      for (auto& [b, s] : per_batch) cand[f][std::to_string(b)] = s;
    json j = {{"name", l.name}, {"kind", l.conv ? "conv2d" : "linear"}, {"shape", l.weight_shape.vec()},
              {"format", format_name(l.format)}, {"density", numel ? double(nnz) / double(numel) : 0.0},
              {"nonzeros", nnz}, {"bytes", l.stored_bytes()}, {"folded_batch_norm", l.folded_bn},
              {"candidate_times_s", cand}};
    if (auto it = base_by_name.find(l.name); it != base_by_name.end()) {
      json bt = json::object();
      for (auto& [b, s] : it->second->t.at("dense")) bt[std::to_string(b)] = s;
      j["dense_baseline_time_s"] = bt;
    }
    layers.push_back(j);
  }
  json deploy_json = {{"model", deployed_spec}, {"source_model", cfg.model}, {"slimmed", use_slim},
                      {"folded_batch_norm", true}, {"format", o.format}, {"device", device.str()},
                      {"threads", num_threads()}, {"plan", plan.steps_json()}, {"layers", layers}};
  // The test data as this run evaluates it (defaults resolved), for scripts/eval_deploy_torch.py.
  deploy_json["data"] = {{"dataset", cfg.data.dataset}, {"root", cfg.data.root}, {"test_limit", cfg.data.test_limit},
                         {"mean", cfg.data.mean}, {"stddev", cfg.data.stddev}};
  deploy_json["input"] = example.vec();
  report["layers"] = layers;

  // Write: the model file first, read back and checked; then the three descriptions.
  fs::create_directories(out);
  const std::string deploy_file = out + "/model_deploy.safetensors";
  write_deploy_file(deploy_file, *deployed_model, plan, deployed_spec);
  try {
    DeployFileSummary s = check_deploy_file(deploy_file);
    report["bytes_deployed"] = s.bytes;
    report["bytes_dense"] = int64_t(fs::file_size(model_path));
    report["layer_bytes_deployed"] = layer_bytes(plan);
    report["layer_bytes_dense"] = layer_bytes(dense);
  } catch (...) {
    std::error_code ec;
    fs::remove(deploy_file, ec);
    throw;
  }
  // Markdown.
  std::string md = "# trim-deploy: " + o.run + "\n\n";
  md += cat("Device ", device.str(), ", ", num_threads(), " threads, format ", o.format, use_slim ? " (slimmed model)" : "",
            o.clock == "cpu" ? ", times in process CPU time" : "", ".\n\n");
  md += cat("| | dense (folded) | deployed |\n|---|---|---|\n| file bytes | ", report["bytes_dense"].get<int64_t>(), " | ",
            report["bytes_deployed"].get<int64_t>(), " |\n| conv + linear bytes | ", report["layer_bytes_dense"].get<int64_t>(),
            " | ", report["layer_bytes_deployed"].get<int64_t>(), " |\n| multiply-adds per image | ",
            report["macs_dense"].get<int64_t>(), " | ", report["macs_deployed"].get<int64_t>(), " |\n");
  for (int64_t b : batches) {
    const json& n = net[std::to_string(b)];
    md += cat("| batch ", b, " median ms (p90) | ", fmt_ms(n["dense"]["median_s"]), " (", fmt_ms(n["dense"]["p90_s"]), ") | ",
              fmt_ms(n["deployed"]["median_s"]), " (", fmt_ms(n["deployed"]["p90_s"]), ") |\n");
    md += cat("| batch ", b, " images/s | ", int64_t(n["dense"]["images_per_s"].get<double>()), " | ",
              int64_t(n["deployed"]["images_per_s"].get<double>()), " |\n");
  }
  if (o.eval)
    md += cat("| test accuracy | ", report["test_accuracy_dense"].get<double>(), " | ",
              report["test_accuracy_deployed"].get<double>(), " |\n");
  md += "\n| layer | format | density | bytes |";
  for (int64_t b : batches) md += cat(" dense ms b", b, " | deployed ms b", b, " |");
  md += "\n|---|---|---|---|";
  for (size_t i = 0; i < batches.size(); ++i) md += "---|---|";
  md += "\n";
  for (const json& l : layers) {
    char dens[32];
    std::snprintf(dens, sizeof dens, "%.4f", l["density"].get<double>());
    md += cat("| ", l["name"].get<std::string>(), " | ", l["format"].get<std::string>(), " | ", dens, " | ",
              l["bytes"].get<int64_t>(), " |");
    for (int64_t b : batches) {
      std::string k = std::to_string(b);
      md += cat(" ", l.contains("dense_baseline_time_s") ? fmt_ms(l["dense_baseline_time_s"][k]) : "-", " | ",
                fmt_ms(l["candidate_times_s"][l["format"].get<std::string>()][k]), " |");
    }
    md += "\n";
  }

  write_file_atomic(out + "/deploy.json", deploy_json.dump(2) + "\n");
  write_file_atomic(out + "/deploy_report.json", report.dump(2) + "\n");
  write_file_atomic(out + "/deploy_report.md", md);
  json summary = {{"out", out}, {"bytes_dense", report["bytes_dense"]}, {"bytes_deployed", report["bytes_deployed"]},
                  {"speedup_batch1", report["speedup_batch1"]}, {"speedup_batch64", report["speedup_batch64"]}};
  if (o.eval) {
    summary["test_accuracy_dense"] = report["test_accuracy_dense"];
    summary["test_accuracy_deployed"] = report["test_accuracy_deployed"];
  }
  std::printf("%s\n", summary.dump(2).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"trim-deploy: a pruned run as a smaller, faster network with the same predictions"};
  Options o;
  app.add_option("run", o.run, "the run folder (manifest.json, model.safetensors)");
  app.add_option("--out", o.out, "output folder (default: <run>/deploy)");
  app.add_option("--device", o.device, "cpu or cuda (default cpu)")->check(CLI::IsMember({"cpu", "cuda"}));
  app.add_option("--threads", o.threads, "CPU threads (default: all cores)")->check(CLI::Range(1, 4096));
  app.add_option("--format", o.format, "auto | dense | sparse | slim (default auto)")
      ->check(CLI::IsMember({"auto", "dense", "sparse", "slim"}));
  app.add_option("--batch", o.batch, "batch sizes to time, e.g. 1,64 (default)");
  app.add_option("--runs", o.runs, "timed runs at batch 1 (default 50; other batch sizes a fifth, at least 3)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--clock", o.clock, "wall (default) or cpu: process CPU time, robust on a loaded machine (--threads 1, cpu only)")
      ->check(CLI::IsMember({"wall", "cpu"}));
  app.add_flag("--eval", o.eval, "test accuracy of the dense and the deployed network (needs the run's data)");
  app.add_option("--check", o.check, "check a model_deploy.safetensors and exit");
  CLI11_PARSE(app, argc, argv);
  try {
    if (!o.check.empty()) {
      if (!o.run.empty()) throw Error("--check FILE takes no run folder");
      return run_check(o.check);
    }
    if (o.run.empty()) throw Error("expected a run folder (trim-deploy <run folder> [options]) or --check FILE");
    return run_deploy(o);
  } catch (...) {
    return report_exception("trim-deploy");
  }
}
