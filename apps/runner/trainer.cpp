#include "apps/runner/trainer.h"

#include <fmt/format.h>

#include <optional>

#include "apps/runner/checkpoint.h"
#include "apps/runner/data_parallel.h"
#include "apps/runner/run_setup.h"
#include "apps/runner/step_callbacks.h"
#include "apps/runner/termination.h"
#include "core/io/safetensors.h"
#include "core/log.h"
#include "core/memory.h"
#include "core/threads.h"
#include "layers/profile.h"
#include "pruning/registry.h"
#include "spiking/synaptic_ops.h"

namespace trim {
namespace {

// The run folder and, when resuming, its checkpoint, checked before anything is written: a refused
// start leaves the folder as it was. Ranks other than 0 never write.
std::optional<Checkpoint> open_run_folder(Run& r, const TrainingMethod& method, const TrainOptions& options) {
  const bool resume = options.resume;
  // Refuses a folder that is not a run folder, or one another process holds; then holds it.
  r.dir = std::make_unique<RunDir>(r.cfg.output, r.writer(), resume);
  const std::string ck_path = r.dir->checkpoint_path();
  if (!resume) {
    if (r.dir->has_checkpoint())
      throw Error(r.cfg.output + ": the output folder already holds a run (checkpoint.safetensors); pass --resume to "
                                 "continue it, or choose another output (--set output=...)");
    return std::nullopt;
  }
  if (!r.dir->has_checkpoint()) throw Error(ck_path + ": no checkpoint to resume from");
  Checkpoint ck = read_checkpoint(ck_path);
  check_resume(r, method, ck, options.resume_data_changed);
  return ck;
}

// Every rank has passed the checks before rank 0 writes anything; then all start from rank 0's
// state, and gradients are averaged from the first backward on.
void join_ranks(Run& r) {
  if (!r.distributed()) return;
  r.comm->barrier("checking the run folder and the checkpoint on every rank");
  broadcast_from_rank0(*r.comm, *r.model, *r.store);
  r.reducer = std::make_unique<comm::GradientReducer>(*r.store, *r.comm, r.cfg.distributed);
}

void log_start(const Run& r, const TrainingMethod& method) {
  log_info(fmt::format("{}: {} ({}), {} parameters on {}, {} training images, {} batches per epoch", r.cfg.name,
                       method.name(), r.cfg.model.value("name", "?"), r.model->num_parameters(), r.device.str(),
                       r.train_size, r.batches));
  if (r.distributed())
    log_info(fmt::format("data parallel over {} ranks ({} backend): batch {} per rank, {} per step; {} gradient "
                         "buckets{}",
                         r.comm->world(), r.comm->backend(), r.cfg.data.batch_size, r.global_batch(),
                         r.reducer->buckets().size(),
                         r.cfg.distributed.overlap ? ", reduced during backward" : ", reduced after backward"));
}

// The tests' hooks, then the run's own callbacks.
void add_step_callbacks(Loop& loop, const TrainOptions& options) {
  if (options.on_step)
    loop.add_step_callback([hook = options.on_step](Loop& l, const StepEvent& e) {
      hook(l.at().step, double(e.result.loss.item()));
      return StepAction::go_on;
    });
  if (options.interrupt)
    loop.add_step_callback([hook = options.interrupt](Loop& l, const StepEvent&) {
      return hook(l.at().step) ? StepAction::abandon : StepAction::go_on;
    });
  for (const StepCallback& c : options.step_callbacks) loop.add_step_callback(c);
  loop.add_step_callback(stop_on_termination());
  loop.add_step_callback(show_progress());
  loop.add_step_callback(checkpoint_every(loop.run().cfg.checkpoint_every_steps));
}

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
    std::vector<std::string> keys = {"train_loss", "train_accuracy", "test_loss", "test_accuracy", "images_per_second"};
    for (std::string& k : r.model->summary_metric_keys()) keys.push_back(std::move(k));
    for (const std::string& k : keys)
      if (last.contains(k)) s[k] = last[k];
  }
  return s;
}

// The deployed model (the method's final form, evaluated again when it changed), its MACs and
// digest; model.safetensors and summary.json written.
nlohmann::json finish(Loop& loop, TrainingMethod& method) {
  Run& r = loop.run();
  nlohmann::json summary = summarize(r, method, loop.at());
  if (method.finalize(*r.model, *r.store, summary)) {
    spiking::EvalRecording spiking_eval(*r.model);  // spiking models: the deployed model's rates, SOPs, energy
    Eval deployed = loop.evaluate();
    summary["test_loss"] = deployed.loss;
    summary["test_accuracy"] = deployed.accuracy;
    spiking_eval.write(summary, *r.comm);
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

}  // namespace

nlohmann::json train(const Manifest& manifest, const RunConfig& cfg, TrainingMethod& method,
                     const TrainOptions& options) {
  Run r = set_up(manifest, cfg, method, options.comm, options.resume);
  std::optional<Checkpoint> ck = open_run_folder(r, method, options);
  Loop loop(r, method);
  if (ck) {
    loop.resume(*ck);
    if (ck->manifest != r.manifest_text)
      log_warn("resuming with a manifest that differs from the one the checkpoint was written with");
  }
  join_ranks(r);
  r.dir->remove_stale_temporaries();
  r.dir->keep_metrics_before(loop.at().round, loop.at().epoch);
  r.dir->write_manifest(manifest.json);
  if (ck)
    log_info(fmt::format("resuming {} at round {}, epoch {}, batch {} (step {})", ck->path, loop.at().round,
                         loop.at().epoch, loop.at().batch, loop.at().step));
  log_start(r, method);
  add_step_callbacks(loop, options);
  if (!loop.fit()) {
    if (loop.stopped())
      log_info(fmt::format("stopped by {} at step {}: {} holds the run; --resume continues it",
                           termination_signal_name(), loop.at().step, r.dir->checkpoint_path()));
    return {};
  }
  return finish(loop, method);
}

nlohmann::json train(const Manifest& manifest, TrainingMethod& method, const TrainOptions& options) {
  return train(manifest, parse_run_config(manifest), method, options);
}

std::unique_ptr<TrainingMethod> make_training_method(const Manifest& manifest, const RunConfig& cfg,
                                                     const std::vector<std::string>& family) {
  if (family.empty()) {
    if (!cfg.method.is_null())
      throw Error(manifest.source + ": /pruning: this app trains densely; pruning settings belong to the pruning apps");
    return std::make_unique<DenseTraining>();
  }
  if (cfg.method.is_null()) throw Error(manifest.source + ": /pruning: required object is missing (the pruning settings)");
  Config pc(cfg.method, manifest.source, "/pruning");
  std::unique_ptr<TrainingMethod> method = make_pruning_method(pc, family);
  pc.finish();
  return method;
}

nlohmann::json train_classifier(const Manifest& manifest, const TrainOptions& options) {
  RunConfig cfg = parse_run_config(manifest);
  std::unique_ptr<TrainingMethod> dense = make_training_method(manifest, cfg, {});
  return train(manifest, cfg, *dense, options);
}

}  // namespace trim
