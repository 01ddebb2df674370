#include "apps/runner/run_config.h"

#include "core/config.h"
#include "data/datasets.h"
#include "data/fashion_mnist.h"

namespace trim {
namespace {

using Interval = Config::Interval;

// Bounds far above any real run and far below where sizes, step counts or float arithmetic would
// overflow: every value in range leaves a run that starts, or one clear error where it cannot.
constexpr int64_t kMaxThreads = 4096;
constexpr int64_t kMaxBatch = int64_t(1) << 20;
constexpr int64_t kMaxExamples = int64_t(1) << 40;
constexpr int64_t kMaxWorkers = 256;
constexpr int64_t kMaxPrefetch = 1024;
constexpr int64_t kMaxEpochs = 1'000'000;
constexpr int64_t kMaxSteps = int64_t(1) << 40;
constexpr double kMaxLr = 1e3;
constexpr double kMaxSeconds = 1e9;
constexpr size_t kMaxMilestones = 1024;
constexpr size_t kMaxNameBytes = 256;  // a run's name, a device: far above any real one

}  // namespace

RunConfig parse_run_config(const Manifest& m) {
  Config root(m.json, m.source);
  RunConfig r;
  r.name = root.text_in("name", kMaxNameBytes);
  if (r.name.empty()) root.fail("name", "expected a non-empty name");
  r.device = root.text_in("device", "auto", kMaxNameBytes);
  r.output = root.text_in("output", Config::kMaxPathBytes);  // a run folder: checked by RunDir
  if (r.output.empty()) root.fail("output", "expected a folder name, found an empty string");
  r.seed = root.get<uint64_t>("seed", 0);                       // any 64-bit value
  r.threads = int(root.int_in("threads", 0, 0, kMaxThreads));   // 0 = all cores

  r.precision = root.choice("precision", {"fp32", "bf16"}, "fp32") == "bf16" ? Precision::bf16 : Precision::fp32;

  Config cuda = root.child("cuda", true);
  r.tf32_conv = cuda.get<bool>("tf32_conv", true);
  r.tf32_matmul = cuda.get<bool>("tf32_matmul", false);
  r.deterministic = cuda.get<bool>("deterministic", true);
  r.benchmark = cuda.get<bool>("benchmark", false);
  r.channels_last = cuda.get<bool>("channels_last", true);
  r.cuda_graph = cuda.get<bool>("graph", false);

  Config data = root.child("data");
  r.data.dataset = data.choice("dataset", dataset_registry().names(), "fashion_mnist");
  const std::string& set = r.data.dataset;
  if (set == "fashion_mnist") r.data.root = data.text_in("root", kFashionMnistDir, Config::kMaxPathBytes);
  else if (set != "synthetic") r.data.root = data.text_in("root", Config::kMaxPathBytes);  // no default location
  if (set != "synthetic" && r.data.root.empty()) data.fail("root", "expected a folder name, found an empty string");
  r.data.options = dataset_registry().at(set).options(data);
  r.data.batch_size = data.int_in("batch_size", 128, 1, kMaxBatch);
  r.data.eval_batch_size = data.int_in("eval_batch_size", 1000, 1, kMaxBatch);
  r.data.train_limit = data.int_in("train_limit", 0, 0, kMaxExamples);  // 0: all examples
  r.data.test_limit = data.int_in("test_limit", 0, 0, kMaxExamples);    // 0: all examples
  r.data.workers = int(data.int_in("workers", 2, 1, kMaxWorkers));
  r.data.prefetch = int(data.int_in("prefetch", 4, 1, kMaxPrefetch));
  // Per channel, on the [0, 1] scale; std bounded below so that 1 / (255 std) stays finite.
  // Defaults: the training set's own statistics where they are well known (Fashion-MNIST's as SAP
  // uses them; CIFAR's as the common recipes do), those of uniform bytes for synthetic data; an
  // image folder needs its own.
  std::vector<float> mean, stddev;
  if (set == "fashion_mnist") mean = {0.2860f}, stddev = {0.3530f};
  if (set == "cifar10") mean = {0.4914f, 0.4822f, 0.4465f}, stddev = {0.2470f, 0.2435f, 0.2616f};
  if (set == "cifar100") mean = {0.5071f, 0.4865f, 0.4409f}, stddev = {0.2673f, 0.2564f, 0.2762f};
  if (set == "synthetic")
    mean.assign(size_t(r.data.options.shape[0]), 0.5f), stddev.assign(size_t(r.data.options.shape[0]), 0.2887f);
  const std::string required = cat("required for dataset \"", set, "\" (per channel, on the [0, 1] scale)");
  if (mean.empty() && !data.has("mean")) data.fail("mean", required);
  if (stddev.empty() && !data.has("std")) data.fail("std", required);
  r.data.mean = data.reals_in("mean", mean, Interval{-1e3, 1e3}, 4);
  r.data.stddev = data.reals_in("std", stddev, Interval{1e-6, 1e3}, 4);
  if (r.data.mean.size() != r.data.stddev.size() || r.data.mean.empty())
    data.fail("std", "mean and std need the same number of entries, 1 to 4 (one per channel)");

  // Data parallelism (mpirun -np N): only how gradients travel; a manifest trains the same without it.
  Config dist = root.child("distributed", true);
  r.distributed.bucket_mb = dist.real_in("bucket_mb", 25.0, Interval{1.0 / 1024.0, 65536.0});
  r.distributed.first_bucket_mb = dist.real_in("first_bucket_mb", 1.0, Interval{1.0 / 1024.0, 65536.0});
  r.distributed.overlap = dist.get<bool>("overlap", true);
  r.distributed.timeout_seconds = dist.real_in("timeout_seconds", 300.0, Interval{0.0, kMaxSeconds});  // 0: no limit

  root.accept("model");
  if (!m.json.contains("model")) root.fail("model", "required object is missing");
  if (!m.json["model"].is_object()) root.fail("model", "expected an object, found " + describe_json(m.json["model"]));
  r.model = m.json["model"];  // validated by build_model, option by option

  r.init_from = root.text_in("init_from", "", Config::kMaxPathBytes);  // read when the model is built
  r.init_strict = root.get<bool>("init_strict", true);
  if (!r.init_strict && r.init_from.empty()) root.fail("init_strict", "applies to init_from, which is not given");

  if (m.json.contains("pruning")) root.accept("pruning");
  if (m.json.contains("pruning") && !m.json["pruning"].is_null()) {  // null: none (--set pruning=null)
    if (!m.json["pruning"].is_object())
      root.fail("pruning", "expected an object, found " + describe_json(m.json["pruning"]));
    r.method = m.json["pruning"];
  }

  Config opt = root.child("optimizer");
  opt.choice("name", {"sgd"}, "sgd");
  r.sgd.lr = opt.float_in("lr", Interval{0.0, kMaxLr, true, false});  // > 0 as a float, too
  r.sgd.momentum = opt.float_in("momentum", 0.9f, Interval{0.0, 1.0, false, true});
  r.sgd.nesterov = opt.get<bool>("nesterov", false);
  r.sgd.weight_decay = opt.float_in("weight_decay", 0.0f, Interval{0.0, 1e3});
  r.decay_bn_and_bias = opt.get<bool>("decay_bn_and_bias", true);
  r.sgd.clip_grad_norm = opt.float_in("clip_grad_norm", 0.0f, Interval{0.0, 1e6});  // 0: no clipping
  if (r.sgd.nesterov && r.sgd.momentum == 0.0f) opt.fail("nesterov", "needs momentum > 0");

  Config train = root.child("train");
  r.epochs = train.int_in("epochs", 1, kMaxEpochs);
  r.label_smoothing = train.float_in("label_smoothing", 0.0f, Interval{0.0, 1.0, false, true});
  r.checkpoint_every_steps = train.int_in("checkpoint_every_steps", 0, 0, kMaxSteps);  // 0: at epoch ends only
  r.eval_every = train.int_in("eval_every", 1, 1, kMaxEpochs);
  r.log_interval_seconds = train.real_in("log_interval_seconds", 30.0, Interval{0.0, kMaxSeconds});

  Config sched = root.child("schedule", true);
  std::string kind = sched.choice("kind", {"constant", "step", "multistep", "cosine"}, "constant");
  parse_schedule_kind(kind, r.schedule.kind);
  r.schedule.base_lr = r.sgd.lr;
  r.schedule.epochs = r.epochs;
  r.schedule.warmup_epochs = sched.int_in("warmup_epochs", 0, 0, r.epochs - 1);  // below train.epochs
  r.schedule.per_iteration = sched.get<bool>("per_iteration", false);
  r.schedule.step_size = sched.int_in("step_size", 30, 1, kMaxEpochs);
  r.schedule.gamma = sched.float_in("gamma", 0.1f, Interval{0.0, 1.0, true, false});  // a decay factor
  r.schedule.milestones = sched.increasing_ints_in("milestones", {}, 0, kMaxEpochs, kMaxMilestones);
  r.schedule.min_lr = sched.float_in("min_lr", 0.0f, Interval{0.0, double(r.sgd.lr)});  // the cosine floor

  root.finish();
  return r;
}

ChannelAffine normalisation(const DataConfig& d) {
  ChannelAffine a;
  a.channels = int(d.mean.size());
  for (int c = 0; c < a.channels; ++c) {
    a.scale[c] = 1.0f / (255.0f * d.stddev[size_t(c)]);
    a.shift[c] = -d.mean[size_t(c)] / d.stddev[size_t(c)];
  }
  return a;
}

}  // namespace trim
