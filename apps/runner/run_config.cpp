#include "apps/runner/run_config.h"

#include "core/config.h"
#include "data/fashion_mnist.h"

namespace trim {

RunConfig parse_run_config(const Manifest& m) {
  Config root(m.json, m.source);
  RunConfig r;
  r.name = root.get<std::string>("name");
  r.device = root.get<std::string>("device", "auto");
  r.output = root.get<std::string>("output");
  r.seed = root.get<uint64_t>("seed", 0);
  r.threads = root.get<int>("threads", 0);
  if (r.threads < 0) root.fail("threads", "must be >= 0 (0 = all cores)");

  Config cuda = root.child("cuda", true);
  r.tf32_conv = cuda.get<bool>("tf32_conv", true);
  r.tf32_matmul = cuda.get<bool>("tf32_matmul", false);
  r.deterministic = cuda.get<bool>("deterministic", true);
  r.benchmark = cuda.get<bool>("benchmark", false);

  Config data = root.child("data");
  r.data.dataset = data.choice("dataset", {"fashion_mnist"}, "fashion_mnist");
  r.data.root = data.get<std::string>("root", kFashionMnistDir);
  r.data.batch_size = data.get<int64_t>("batch_size", 128);
  r.data.eval_batch_size = data.get<int64_t>("eval_batch_size", 1000);
  r.data.train_limit = data.get<int64_t>("train_limit", 0);
  r.data.test_limit = data.get<int64_t>("test_limit", 0);
  r.data.workers = data.get<int>("workers", 2);
  r.data.prefetch = data.get<int>("prefetch", 4);
  r.data.mean = data.get<std::vector<float>>("mean", {0.2860f});  // Fashion-MNIST's, as SAP uses
  r.data.stddev = data.get<std::vector<float>>("std", {0.3530f});
  if (r.data.batch_size < 1) data.fail("batch_size", "must be >= 1");
  if (r.data.eval_batch_size < 1) data.fail("eval_batch_size", "must be >= 1");
  if (r.data.workers < 1) data.fail("workers", "must be >= 1");
  if (r.data.train_limit < 0) data.fail("train_limit", "must be >= 0 (0: all examples)");
  if (r.data.test_limit < 0) data.fail("test_limit", "must be >= 0 (0: all examples)");
  if (r.data.prefetch < 1) data.fail("prefetch", "must be >= 1");
  if (r.data.mean.size() != r.data.stddev.size() || r.data.mean.empty() || r.data.mean.size() > 4)
    data.fail("std", "mean and std need the same number of entries, 1 to 4 (one per channel)");
  for (float s : r.data.stddev)
    if (!(s > 0.0f)) data.fail("std", "every entry must be > 0");

  root.accept("model");
  if (!m.json.contains("model")) root.fail("model", "required object is missing");
  if (!m.json["model"].is_object()) root.fail("model", "expected an object, found " + describe_json(m.json["model"]));
  r.model = m.json["model"];

  if (m.json.contains("pruning")) root.accept("pruning");
  if (m.json.contains("pruning") && !m.json["pruning"].is_null()) {  // null: none (--set pruning=null)
    if (!m.json["pruning"].is_object())
      root.fail("pruning", "expected an object, found " + describe_json(m.json["pruning"]));
    r.method = m.json["pruning"];
  }

  Config opt = root.child("optimizer");
  opt.choice("name", {"sgd"}, "sgd");
  r.sgd.lr = opt.get<float>("lr");
  r.sgd.momentum = opt.get<float>("momentum", 0.9f);
  r.sgd.nesterov = opt.get<bool>("nesterov", false);
  r.sgd.weight_decay = opt.get<float>("weight_decay", 0.0f);
  r.decay_bn_and_bias = opt.get<bool>("decay_bn_and_bias", true);
  r.sgd.clip_grad_norm = opt.get<float>("clip_grad_norm", 0.0f);
  if (!(r.sgd.clip_grad_norm >= 0.0f)) opt.fail("clip_grad_norm", "must be >= 0 (0: no clipping)");
  if (!(r.sgd.lr > 0.0f)) opt.fail("lr", "must be > 0");
  if (r.sgd.momentum < 0.0f || r.sgd.momentum >= 1.0f) opt.fail("momentum", "must be in [0, 1)");
  if (r.sgd.weight_decay < 0.0f) opt.fail("weight_decay", "must be >= 0");
  if (r.sgd.nesterov && r.sgd.momentum == 0.0f) opt.fail("nesterov", "needs momentum > 0");

  Config train = root.child("train");
  r.epochs = train.get<int64_t>("epochs");
  r.label_smoothing = train.get<float>("label_smoothing", 0.0f);
  r.checkpoint_every_steps = train.get<int64_t>("checkpoint_every_steps", 0);
  r.eval_every = train.get<int64_t>("eval_every", 1);
  r.log_interval_seconds = train.get<double>("log_interval_seconds", 30.0);
  if (r.epochs < 1) train.fail("epochs", "must be >= 1");
  if (r.label_smoothing < 0.0f || r.label_smoothing >= 1.0f) train.fail("label_smoothing", "must be in [0, 1)");
  if (r.checkpoint_every_steps < 0) train.fail("checkpoint_every_steps", "must be >= 0");
  if (r.eval_every < 1) train.fail("eval_every", "must be >= 1");

  Config sched = root.child("schedule", true);
  std::string kind = sched.choice("kind", {"constant", "step", "multistep", "cosine"}, "constant");
  parse_schedule_kind(kind, r.schedule.kind);
  r.schedule.base_lr = r.sgd.lr;
  r.schedule.epochs = r.epochs;
  r.schedule.warmup_epochs = sched.get<int64_t>("warmup_epochs", 0);
  r.schedule.per_iteration = sched.get<bool>("per_iteration", false);
  r.schedule.step_size = sched.get<int64_t>("step_size", 30);
  r.schedule.gamma = sched.get<float>("gamma", 0.1f);
  r.schedule.milestones = sched.get<std::vector<int64_t>>("milestones", {});
  r.schedule.min_lr = sched.get<float>("min_lr", 0.0f);
  if (r.schedule.warmup_epochs < 0 || r.schedule.warmup_epochs >= r.epochs)
    sched.fail("warmup_epochs", "must be >= 0 and below train.epochs");
  if (r.schedule.step_size < 1) sched.fail("step_size", "must be >= 1");

  root.finish();
  return r;
}

}  // namespace trim
