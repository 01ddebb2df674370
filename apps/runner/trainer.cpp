#include "apps/runner/trainer.h"

#include <fmt/format.h>

#include <bit>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <optional>

#include "apps/runner/checkpoint.h"
#include "apps/runner/data_parallel.h"
#include "apps/runner/evaluate.h"
#include "apps/runner/model_check.h"
#include "apps/runner/model_metrics.h"
#include "apps/runner/progress.h"
#include "apps/runner/run_config.h"
#include "apps/runner/run_dir.h"
#include "core/autograd/grad_mode.h"
#include "core/io/safetensors.h"
#include "core/log.h"
#include "core/memory.h"
#include "core/ops/ops.h"
#include "core/threads.h"
#include "data/datasets.h"
#include "data/subset.h"
#include "layers/profile.h"
#include "models/models.h"

namespace trim {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

ChannelAffine normalisation(const DataConfig& d) {
  // x in [0, 255] -> (x / 255 - mean) / std
  ChannelAffine a;
  a.channels = int(d.mean.size());
  for (int c = 0; c < a.channels; ++c) {
    a.scale[c] = 1.0f / (255.0f * d.stddev[size_t(c)]);
    a.shift[c] = -d.mean[size_t(c)] / d.stddev[size_t(c)];
  }
  return a;
}

// --- set-up: everything a run needs, built from the manifest --------------------------------

struct Run {
  Manifest manifest;
  std::string manifest_text;
  RunConfig cfg;
  Device device;
  std::shared_ptr<Module> model;
  std::shared_ptr<ParamStore> store;
  std::unique_ptr<DataLoader> train_loader, test_loader;
  ChannelAffine norm;
  int64_t batches = 0;  // per epoch
  int64_t train_size = 0, test_size = 0;
  Shape example_shape;  // one training image [C, H, W]
  std::unique_ptr<RunDir> dir;
  // The ranks: the caller's communicator or one of the run's own.
  std::unique_ptr<dist::Communicator> own_comm;
  dist::Communicator* comm = nullptr;
  std::unique_ptr<GradientReducer> reducer;  // several ranks only
  bool distributed() const { return comm->world() > 1; }
  bool writer() const { return comm->rank() == 0; }
  int64_t global_batch() const { return cfg.data.batch_size * comm->world(); }
};

std::vector<OptimParam> model_params(const Module& model, bool decay_bn_and_bias) {
  std::vector<OptimParam> out;
  for (const NamedParameter& p : model.named_parameters())
    out.push_back({p.name, p.tensor, p.info.kind == ParamKind::weight || decay_bn_and_bias});
  return out;
}

Run set_up(const Manifest& manifest, TrainingMethod& method, const TrainOptions& options) {
  Run r;
  r.manifest = manifest;
  r.manifest_text = manifest.json.dump();
  r.cfg = parse_run_config(manifest);
  const RunConfig& cfg = r.cfg;
  set_num_threads(cfg.threads);
  const dist::Launch& job = dist::launch();
  r.device = resolve_device(cfg.device, manifest.source + ": /device", options.comm ? 0 : job.local_rank);
  if (options.comm) {
    r.comm = options.comm;
  } else {
    r.own_comm = dist::make_communicator(r.device, cfg.distributed.timeout_seconds);
    r.comm = r.own_comm.get();
  }
  set_tf32(cfg.tf32_conv, cfg.tf32_matmul);
  set_deterministic(cfg.deterministic);
  set_benchmark(cfg.benchmark);

  default_generator().set_state(cfg.seed, 0);
  Config model_spec(cfg.model, manifest.source, "/model");
  r.model = build_model(model_spec);
  model_spec.finish();
  r.model->to(r.device);
  std::vector<OptimParam> params = model_params(*r.model, cfg.decay_bn_and_bias);
  method.begin_run({cfg.output, cfg.sgd, cfg.model, r.comm->rank() == 0});
  method.add_parameters(*r.model, params);
  r.store = std::make_shared<ParamStore>(std::move(params));
  method.attach(*r.model, *r.store);

  const DataConfig& d = cfg.data;
  auto train_set = first_examples(load_dataset(d.dataset, d.root, "train", d.options), d.train_limit);
  auto test_set = first_examples(load_dataset(d.dataset, d.root, "test", d.options), d.test_limit);
  check_model_fits_data(*r.model, *train_set, r.device, cfg.data.batch_size, manifest.source);
  if (int64_t(cfg.data.mean.size()) != train_set->item_shape()[0])
    throw Error(fmt::format("{}: /data/mean: {} entries for images with {} channels", manifest.source,
                            cfg.data.mean.size(), train_set->item_shape()[0]));
  r.train_size = train_set->size();
  r.test_size = test_set->size();
  r.example_shape = train_set->item_shape();
  LoaderOptions lo;
  lo.batch_size = cfg.data.batch_size;
  lo.seed = cfg.seed;
  lo.workers = cfg.data.workers;
  lo.prefetch = cfg.data.prefetch;
  lo.device = r.device;
  lo.rank = r.comm->rank();  // each rank its own shard of every epoch, all shards equal in size
  lo.world = r.comm->world();
  r.train_loader = std::make_unique<DataLoader>(train_set, lo);
  lo.batch_size = cfg.data.eval_batch_size;
  lo.shuffle = false;
  r.test_loader = std::make_unique<DataLoader>(test_set, lo);
  r.norm = normalisation(cfg.data);
  r.batches = r.train_loader->batches_per_epoch();
  return r;
}

// --- resume: a checkpoint checked against this run before anything is changed ----------------

void check_resume(const Run& r, const TrainingMethod& method, const Checkpoint& ck) {
  if (ck.method_name != method.name())
    throw Error(ck.path + ": written by a '" + ck.method_name + "' run, this run is '" + method.name() + "'");
  ResumeBounds b;
  b.rounds = method.rounds();
  for (int64_t k = 0; k < b.rounds; ++k) b.epochs.push_back(method.round_epochs(k, r.cfg.epochs));
  b.batches_per_epoch = r.batches;
  b.examples_per_epoch = r.train_loader->examples_per_epoch() * r.comm->world();  // progress counts every rank's
  check_progress(ck, b);
  const int64_t world = r.comm->world();
  if (ck.shape.world_size != world) {
    if (ck.shape.global_batch != 0 && ck.shape.global_batch != r.global_batch())
      throw Error(fmt::format("{}: written by a run of {} rank(s) with a global batch of {} examples per step; this run "
                              "has {} rank(s) x {} = {}, which divides the data differently (resume with a per-rank "
                              "data.batch_size of {} / {} where that divides, or with {} rank(s))",
                              ck.path, ck.shape.world_size, ck.shape.global_batch, world, r.cfg.data.batch_size,
                              r.global_batch(), ck.shape.global_batch, world, ck.shape.world_size));
    log_info(fmt::format("{}: written by a run of {} rank(s), resumed by {} rank(s){}", ck.path, ck.shape.world_size,
                         world, ck.shape.global_batch != 0
                                    ? fmt::format(" with the same global batch of {} examples per step (the same data "
                                                  "order)", r.global_batch())
                                    : " (the checkpoint does not record its global batch)"));
  }
}

// --- the loop --------------------------------------------------------------------------------

struct Loop {
  Run& r;
  TrainingMethod& method;
  const TrainOptions& options;
  TrainProgress p;
  std::unique_ptr<SgdBase> opt;
  Progress progress;
  Eval last_eval;
  bool terminated = false;  // stopped by SIGTERM (after writing a checkpoint)

  int64_t epochs() const { return method.round_epochs(p.round, r.cfg.epochs); }
  // The manifest's schedule over this round's epochs (every round restarts it).
  LrSchedule schedule() const {
    LrSchedule s = r.cfg.schedule;
    s.epochs = epochs();
    if (s.warmup_epochs >= s.epochs)
      throw Error(fmt::format("{}: /schedule/warmup_epochs: {} warm-up epochs do not fit round {} of {} epochs",
                              r.manifest.source, s.warmup_epochs, p.round + 1, s.epochs));
    return s;
  }

  StepInfo info(int64_t batch, float lr, const LrSchedule* sched = nullptr) const {
    return {p.round, p.epoch, epochs(), batch, r.batches, p.step, lr, sched, {}};
  }

  void save(const TrainProgress& at) {
    if (!r.writer()) return;  // rank 0 alone writes; every rank holds the same state
    save_checkpoint(r.dir->checkpoint_path(), *r.model, *opt, method, default_generator(), at, r.manifest_text,
                    {r.comm->world(), r.global_batch()});
  }

  // Stops a diverging run before anything is saved, so the last checkpoint stays the last good one.
  void check_finite(int64_t epoch_first_step) {
    int64_t bad = opt->first_nonfinite_step();
    if (bad < 0 && std::isfinite(p.loss_sum)) return;
    std::string where = bad >= 0 ? fmt::format("a non-finite gradient at epoch {}, step {} (batch {} of the epoch)",
                                               p.epoch + 1, bad + 1, bad - epoch_first_step + 1)
                                 : fmt::format("a non-finite training loss in epoch {} (steps {} to {})", p.epoch + 1,
                                               epoch_first_step + 1, p.step);
    std::string round = method.rounds() > 1 ? fmt::format(" of round {}", p.round + 1) : "";
    throw Error(fmt::format("{}: training diverged: {}{}; the run stops here and {} is kept as it was (lower "
                            "optimizer.lr, or clip gradients with optimizer.clip_grad_norm)",
                            r.manifest.source, where, round, r.dir->checkpoint_path()));
  }

  Eval evaluate_now() { return evaluate_sharded(*r.model, *r.test_loader, r.norm, r.device, r.test_size, *r.comm); }

  // Whether any rank was asked to stop (SIGTERM); all ranks agree, so they stop at the same step.
  bool stop_requested() {
    double stop = termination_requested() ? 1.0 : 0.0;
    if (r.distributed()) r.comm->all_reduce_host({&stop, 1}, dist::ReduceOp::sum, "agreeing whether to stop (SIGTERM)");
    return stop > 0.0;
  }

  // One epoch of training; false when interrupted.
  bool train_epoch(nlohmann::json& line) {
    const RunConfig& cfg = r.cfg;
    DataLoader& loader = *r.train_loader;
    r.model->train();
    loader.start_epoch(p.epoch, p.batch);
    // Device-side running sums, folded into p at checkpoints and at the end of the epoch only, so
    // an interrupted and resumed run adds in exactly the same order as an uninterrupted one.
    Tensor loss_acc = Tensor::zeros(Shape{}, DType::f32, r.device);
    Tensor correct_acc = Tensor::zeros(Shape{}, DType::i32, r.device);
    const int64_t epoch_first_step = p.step - p.batch;
    int64_t seen_here = 0;  // this rank's examples since the last fold
    // Progress counts the examples of every rank, so a checkpoint holds the job's sums.
    auto fold = [&] {
      double sums[3] = {double(loss_acc.item()), double(int64_t(correct_acc.item())), double(seen_here)};
      if (r.distributed()) r.comm->all_reduce_host(sums, dist::ReduceOp::sum, "reducing the training metrics");
      p.loss_sum += sums[0];
      p.correct += int64_t(sums[1]);
      p.seen += int64_t(sums[2]);
      seen_here = 0;
      loss_acc.zero_();
      correct_acc.zero_();
      check_finite(epoch_first_step);
    };
    Clock::time_point t0 = Clock::now();
    double seconds_before = p.seconds;
    int64_t images = 0, skipped = 0;  // skipped: bad files substituted (data.skip_bad_files)
    float lr = opt->lr();
    const LrSchedule sched = schedule();
    while (auto b = loader.next()) {
      lr = sched.lr_at(p.epoch, b->index, r.batches);
      opt->set_lr(lr);
      opt->set_step_number(p.step);
      StepInfo at = info(b->index, lr, &sched);
      if (r.distributed()) broadcast_buffers(*r.comm, *r.model);  // running statistics: rank 0's (as DDP)
      Tensor logits = (*r.model)(affine_u8(b->images, r.norm));
      Tensor loss = cross_entropy(logits, b->labels, cfg.label_smoothing);
      Tensor extra = method.extra_loss(at);
      opt->zero_grad();
      (extra.defined() ? add(loss, extra) : loss).backward();
      // Several ranks: wait here for the averaged gradients (the step would otherwise), so the
      // method's hooks see them too.
      if (r.distributed()) r.store->finish_backward();
      method.before_step(at, *opt);
      opt->step();
      method.after_step(at, *opt);
      {
        NoGradGuard no_grad;
        add_(loss_acc, loss, float(b->labels.numel()));
        count_correct(logits, b->labels, correct_acc);
      }
      ++p.batch, ++p.step;
      seen_here += b->labels.numel();
      images += b->labels.numel();
      skipped += b->skipped;
      if (options.on_step) options.on_step(p.step, double(loss.item()));
      if (options.interrupt && options.interrupt(p.step)) return false;
      if (stop_requested()) {
        terminated = true;
        if (p.batch < r.batches) {  // at an epoch's end, end_epoch writes the checkpoint
          fold();
          p.seconds = seconds_before + since(t0);
          save(p);
          return false;
        }
      }
      if (r.writer() && progress.due()) {  // rank 0 speaks for the job
        // This rank's view (the job's sums arrive at the next fold).
        double seen_now = double(p.seen + seen_here);
        double loss_now = (p.loss_sum + loss_acc.item()) / seen_now;
        double acc_now = double(p.correct + int64_t(correct_acc.item())) / seen_now;
        std::string round = method.rounds() > 1 ? fmt::format("round {}/{}  ", p.round + 1, method.rounds()) : "";
        progress.show(fmt::format("{}epoch {}/{}  batch {}/{}  loss {:.4f}  acc {:.4f}  lr {:.4g}  {:.0f} img/s", round,
                                  p.epoch + 1, epochs(), p.batch, r.batches, loss_now, acc_now, lr,
                                  double(images) / since(t0)));
      }
      if (cfg.checkpoint_every_steps > 0 && p.step % cfg.checkpoint_every_steps == 0 && p.batch < r.batches) {
        fold();
        p.seconds = seconds_before + since(t0);
        save(p);
      }
    }
    fold();
    synchronize(r.device);
    double timing[2] = {since(t0), r.reducer ? r.reducer->take_exposed_seconds() : 0.0};
    // The slowest rank's time, so every rank reports the same numbers.
    if (r.distributed()) {
      double local[2] = {timing[0], timing[1]};
      std::vector<uint64_t> bits = r.comm->all_gather(std::bit_cast<uint64_t>(local[0]), "gathering epoch times");
      std::vector<uint64_t> comm_bits = r.comm->all_gather(std::bit_cast<uint64_t>(local[1]), "gathering epoch times");
      for (size_t k = 0; k < bits.size(); ++k) {
        timing[0] = std::max(timing[0], std::bit_cast<double>(bits[k]));
        timing[1] = std::max(timing[1], std::bit_cast<double>(comm_bits[k]));
      }
    }
    double train_seconds = timing[0];
    progress.done();
    p.seconds = seconds_before + train_seconds;
    if (method.rounds() > 1) line["round"] = p.round;
    line["epoch"] = p.epoch;
    line["lr"] = lr;
    line["train_loss"] = p.loss_sum / double(p.seen);
    line["train_accuracy"] = double(p.correct) / double(p.seen);
    line["images_per_second"] = double(images * r.comm->world()) / train_seconds;  // every rank's images
    line["seconds"] = train_seconds;
    if (cfg.data.options.skip_bad_files) {  // the job's count: every rank's skips
      double n[1] = {double(skipped)};
      if (r.distributed()) r.comm->all_reduce_host(n, dist::ReduceOp::sum, "reducing the skipped-file count");
      line["skipped_files"] = int64_t(n[0]);
    }
    if (r.reducer && images > 0) {
      int64_t steps = (images + cfg.data.batch_size - 1) / cfg.data.batch_size;
      line["step_seconds"] = train_seconds / double(steps);
      line["exposed_comm_seconds_per_step"] = timing[1] / double(steps);  // not hidden behind backward (max over ranks)
    }
    return true;
  }

  void end_epoch(nlohmann::json& line) {
    const RunConfig& cfg = r.cfg;
    bool last_of_round = p.epoch + 1 == epochs();
    if (r.distributed()) broadcast_buffers(*r.comm, *r.model);  // one model on every rank
    if ((p.epoch + 1) % cfg.eval_every == 0 || last_of_round) {
      last_eval = evaluate_now();
      line["test_loss"] = last_eval.loss;
      line["test_accuracy"] = last_eval.accuracy;
    }
    StepInfo at = info(r.batches, opt->lr());
    at.evaluate = [this] { return evaluate_now().accuracy; };
    method.end_epoch(at, *r.model, *r.store, line);
    add_firing_rates(*r.model, line);  // the rates of this epoch's training passes
    line["remaining_macs"] = total_remaining_macs(profile_layers(*r.model, r.example_shape, r.device));
    line["elapsed_seconds"] = p.seconds;
    line["peak_memory_bytes"] = memory_stats(r.device).peak;
    r.dir->append_metrics(line);
    std::string round = method.rounds() > 1 ? fmt::format("round {}/{}, ", p.round + 1, method.rounds()) : "";
    log_info(fmt::format("{}epoch {}/{}: train loss {:.4f} acc {:.4f}{}, {:.1f} s, {:.0f} img/s", round, p.epoch + 1,
                         epochs(), line["train_loss"].get<double>(), line["train_accuracy"].get<double>(),
                         line.contains("test_accuracy") ? fmt::format(", test acc {:.4f}", last_eval.accuracy) : "",
                         line["seconds"].get<double>(), line["images_per_second"].get<double>()));
    if (last_of_round) method.end_round(info(r.batches, opt->lr()), *r.model, *r.store);
    // Masks, thresholds and weights are identical on every rank by construction: checked, cheaply.
    check_replicas(*r.comm, *r.store, *r.model, method,
                   fmt::format("end of epoch {}{}", p.epoch + 1,
                               method.rounds() > 1 ? fmt::format(" of round {}", p.round + 1) : ""));

    TrainProgress next;  // where the next epoch (or round) starts
    next.round = last_of_round ? p.round + 1 : p.round;
    next.epoch = last_of_round ? 0 : p.epoch + 1;
    next.step = p.step;
    next.seconds = p.seconds;
    save(next);
    p = next;
  }

  // All rounds; false when interrupted.
  bool run() {
    while (p.round < method.rounds()) {
      if (p.epoch == 0 && p.batch == 0) {  // a round starts: the method's turn, then a fresh optimizer
        method.begin_round(info(0, r.cfg.sgd.lr), *r.model, *r.store);
        opt = method.make_optimizer(r.store, r.cfg.sgd);
      }
      while (p.epoch < epochs()) {
        nlohmann::json line;
        if (!train_epoch(line)) return false;
        int64_t round = p.round;
        end_epoch(line);
        if (terminated) return false;
        if (p.round != round) break;
      }
    }
    return true;
  }
};

nlohmann::json summarize(const Run& r, const TrainingMethod& method, const TrainProgress& p) {
  nlohmann::json s = {{"name", r.cfg.name},
                      {"method", method.name()},
                      {"epochs", r.cfg.epochs},
                      {"steps", p.step},
                      {"device", r.device.str()},
                      {"threads", num_threads()},
                      {"seconds", p.seconds},
                      {"peak_memory_bytes", memory_stats(r.device).peak},
                      {"parameters", r.model->num_parameters()},
                      {"world_size", r.comm->world()},
                      {"global_batch_size", r.global_batch()}};
  if (method.rounds() > 1) s["rounds"] = method.rounds();
  if (!r.dir->metrics().empty()) {  // the last epoch always evaluates
    const nlohmann::json& last = r.dir->metrics().back();
    for (const char* k : {"train_loss", "train_accuracy", "test_loss", "test_accuracy", "images_per_second"})
      if (last.contains(k)) s[k] = last[k];
    copy_firing_rates(last, s);
  }
  return s;
}

}  // namespace

nlohmann::json train(const Manifest& manifest, TrainingMethod& method, const TrainOptions& options) {
  Run r = set_up(manifest, method, options);
  if (!r.cfg.method.is_null() && method.name() == "dense")
    throw Error(manifest.source + ": /pruning: this app trains densely; pruning settings belong to the pruning apps");
  // Everything is checked before the run folder is touched: a refused start leaves it as it was.
  // Refuses a folder that is not a run folder; writes nothing. Ranks other than 0 never write.
  r.dir = std::make_unique<RunDir>(r.cfg.output, r.writer());
  const std::string ck_path = r.dir->checkpoint_path();
  std::optional<Checkpoint> ck;
  if (options.resume) {
    if (!r.dir->has_checkpoint()) throw Error(ck_path + ": no checkpoint to resume from");
    ck = read_checkpoint(ck_path);
    check_resume(r, method, *ck);
  } else if (r.dir->has_checkpoint()) {
    throw Error(r.cfg.output + ": the output folder already holds a run (checkpoint.safetensors); pass --resume to "
                               "continue it, or choose another output (--set output=...)");
  }

  Loop loop{r, method, options, {}, nullptr, Progress(r.cfg.log_interval_seconds), {}};
  if (ck) {
    loop.p = ck->progress;
    // The optimizer the checkpoint's round was using, to receive its state.
    loop.opt = method.make_optimizer(r.store, r.cfg.sgd);
    apply_checkpoint(*ck, *r.model, *loop.opt, method, default_generator());
    if (ck->manifest != r.manifest_text)
      log_warn("resuming with a manifest that differs from the one the checkpoint was written with");
  }
  if (r.distributed()) {
    // Every rank has passed the checks above before rank 0 writes anything; then all start from
    // rank 0's state, and gradients are averaged from the first backward on.
    r.comm->barrier("checking the run folder and the checkpoint on every rank");
    broadcast_from_rank0(*r.comm, *r.model, *r.store);
    r.reducer = std::make_unique<GradientReducer>(*r.store, *r.comm, r.cfg.distributed);
  }
  r.dir->remove_stale_temporaries();
  r.dir->keep_metrics_before(loop.p.round, loop.p.epoch);
  r.dir->write_manifest(manifest.json);
  if (ck)
    log_info(fmt::format("resuming {} at round {}, epoch {}, batch {} (step {})", ck_path, loop.p.round, loop.p.epoch,
                         loop.p.batch, loop.p.step));
  log_info(fmt::format("{}: {} ({}), {} parameters on {}, {} training images, {} batches per epoch", r.cfg.name,
                       method.name(), r.cfg.model.value("name", "?"), r.model->num_parameters(), r.device.str(),
                       r.train_size, r.batches));
  if (r.distributed())
    log_info(fmt::format("data parallel over {} ranks ({} backend): batch {} per rank, {} per step; {} gradient "
                         "buckets{}",
                         r.comm->world(), r.comm->backend(), r.cfg.data.batch_size, r.global_batch(),
                         r.reducer->buckets().size(), r.cfg.distributed.overlap ? ", reduced during backward" : ", reduced after backward"));

  if (!loop.run()) {
    if (loop.terminated)
      log_info(fmt::format("stopped by SIGTERM at step {}: {} holds the run; --resume continues it", loop.p.step,
                           ck_path));
    return {};
  }

  nlohmann::json summary = summarize(r, method, loop.p);
  if (method.finalize(*r.model, *r.store, summary)) {
    Eval deployed = loop.evaluate_now();
    summary["test_loss"] = deployed.loss;
    summary["test_accuracy"] = deployed.accuracy;
  }
  auto layers = profile_layers(*r.model, r.example_shape, r.device);
  summary["macs"] = total_macs(layers);
  summary["remaining_macs"] = total_remaining_macs(layers);
  std::vector<NamedTensor> deployed;
  for (const auto& [name, t] : r.model->state_dict()) deployed.push_back({name, t});
  summary["replica_digest"] = hex64(replica_digest(*r.store, *r.model, method).combined);
  if (r.writer()) save_safetensors(r.dir->file("model.safetensors"), deployed, {{"trim.method", method.name()}});
  r.dir->write_summary(summary);
  return summary;
}

nlohmann::json train_classifier(const Manifest& manifest, const TrainOptions& options) {
  DenseTraining dense;
  return train(manifest, dense, options);
}

}  // namespace trim
