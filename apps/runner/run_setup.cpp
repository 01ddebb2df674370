#include "apps/runner/run_setup.h"

#include <fmt/format.h>

#include "apps/runner/data_parallel.h"
#include "apps/runner/init_weights.h"
#include "apps/runner/model_check.h"
#include "core/config.h"
#include "core/log.h"
#include "core/memory.h"
#include "core/random/generator.h"
#include "core/threads.h"
#include "data/datasets.h"
#include "data/subset.h"
#include "models/models.h"

namespace trim {
namespace {

// Threads, device settings and the ranks.
void set_up_devices(Run& r, comm::Communicator* comm) {
  const RunConfig& cfg = r.cfg;
  set_num_threads(cfg.threads);
  const comm::Launch& job = comm::launch();
  r.device = resolve_device(cfg.device, r.manifest.source + ": /device", comm ? 0 : job.local_rank);
  if (comm) {
    r.comm = comm;
  } else {
    r.own_comm = comm::make_communicator(r.device, cfg.distributed.timeout_seconds);
    r.comm = r.own_comm.get();
  }
  set_tf32(cfg.tf32_conv, cfg.tf32_matmul);
  set_deterministic(cfg.deterministic);
  set_benchmark(cfg.benchmark);
  set_cudnn_channels_last(cfg.channels_last);
}

// The seeded model (or init_from's weights: before the method sees the model, which may keep
// them, e.g. as a rewind point) and its parameter store, with the method attached. A resumed run
// takes every weight from its checkpoint, so init_from is not read then.
void set_up_model(Run& r, TrainingMethod& method, bool resuming) {
  const RunConfig& cfg = r.cfg;
  default_generator().set_state(cfg.seed, 0);
  Config model_spec(cfg.model, r.manifest.source, "/model");
  r.model = build_model(model_spec);
  model_spec.finish();
  r.model->to(r.device);
  if (!cfg.init_from.empty() && !resuming)
    load_init_weights(*r.model, cfg.init_from, cfg.init_strict, r.manifest.source + ": /init_from");
  std::vector<OptimParam> params = optim_params(*r.model, cfg.decay_bn_and_bias);
  method.begin_run({cfg.output, cfg.sgd, cfg.model, r.comm->rank() == 0, cfg.init_from});
  method.add_parameters(*r.model, params);
  r.store = std::make_shared<ParamStore>(std::move(params));
  method.attach(*r.model, *r.store);
}

// The data sets, checked against the model, and their loaders (each rank its shard).
void set_up_data(Run& r) {
  const DataConfig& d = r.cfg.data;
  const std::string& source = r.manifest.source;
  auto train_set = first_examples(load_dataset(d.dataset, d.root, "train", d.options), d.train_limit);
  auto test_set = first_examples(load_dataset(d.dataset, d.root, "test", d.options), d.test_limit);
  check_model_fits_data(*r.model, *train_set, r.device, d.batch_size, source);
  if (int64_t(d.mean.size()) != train_set->item_shape()[0])
    throw Error(fmt::format("{}: /data/mean: {} entries for images with {} channels", source, d.mean.size(),
                            train_set->item_shape()[0]));
  r.train_size = train_set->size();
  r.classes = train_set->num_classes();
  r.data_identity = {d.dataset, d.root, train_set->size(), hex64(dataset_fingerprint(*train_set))};
  r.test_size = test_set->size();
  r.example_shape = train_set->item_shape();
  LoaderOptions lo;
  lo.batch_size = d.batch_size;
  lo.seed = r.cfg.seed;
  lo.workers = d.workers;
  lo.prefetch = d.prefetch;
  lo.device = r.device;
  lo.rank = r.comm->rank();  // each rank its own shard of every epoch, all shards equal in size
  lo.world = r.comm->world();
  r.train_loader = std::make_unique<DataLoader>(train_set, lo);
  lo.batch_size = d.eval_batch_size;
  lo.shuffle = false;
  r.test_loader = std::make_unique<DataLoader>(test_set, lo);
  r.batches = r.train_loader->batches_per_epoch();
}

}  // namespace

Run set_up(const Manifest& manifest, const RunConfig& cfg, TrainingMethod& method, comm::Communicator* comm,
           bool resuming) {
  Run r;
  r.manifest = manifest;
  r.manifest_text = manifest.json.dump();
  r.cfg = cfg;
  set_up_devices(r, comm);
  set_up_model(r, method, resuming);
  set_up_data(r);
  method.check_length({cfg.epochs, r.batches});  // settings checked against the run's length
  r.task = std::make_unique<Classification>(normalisation(cfg.data), cfg.label_smoothing, r.device);
  return r;
}

namespace {

// The training data must be the checkpoint's: other data would neither continue the epoch in
// progress (its shuffle order covers other examples) nor the run.
void check_data(const Run& r, const Checkpoint& ck, bool data_changed_ok) {
  if (!ck.data.known()) return;  // written before checkpoints recorded their data
  const std::string change = describe_data_change(ck.data, r.data_identity);
  if (change.empty()) return;
  if (data_changed_ok) {
    log_warn(fmt::format("{}: resuming on other training data than the checkpoint's ({}), as --resume-data-changed "
                         "asks",
                         ck.path, change));
    return;
  }
  throw Error(fmt::format("{}: the training data changed since this checkpoint was written: {}; resuming would not "
                          "continue the same run (pass --resume-data-changed to resume on the new data anyway, or "
                          "--set data.root=... to the checkpoint's data)",
                          ck.path, change));
}

// The epochs of each round as this run plans them against the checkpoint's plan: the same, or more
// in the last round where that continues the same run exactly (the method says so, and the
// learning rate of an epoch does not depend on the total). A finished run then continues its last
// round from the epoch where it ended.
void check_epochs(const Run& r, const TrainingMethod& method, Checkpoint& ck, const std::vector<int64_t>& now) {
  const std::vector<int64_t>& was = ck.round_epochs;
  if (was.empty() || was == now) return;  // a checkpoint from before the key: check_progress alone
  const std::string source = r.manifest.source;
  if (was.size() != now.size())
    throw Error(fmt::format("{}: written by a run of {} round(s); this run has {} (were the method's settings "
                            "changed?)",
                            ck.path, was.size(), now.size()));
  const size_t last = now.size() - 1;
  for (size_t k = 0; k < now.size(); ++k) {
    const std::string round = now.size() > 1 ? fmt::format(" in round {}", k + 1) : "";
    if (now[k] < was[k])
      throw Error(fmt::format("{}: /train/epochs: the checkpoint's run planned {} epochs{}, this run {}; a run "
                              "cannot be shortened on resume (start a new run with fewer epochs)",
                              source, was[k], round, now[k]));
    if (now[k] != was[k] && k != last)
      throw Error(fmt::format("{}: /train/epochs: {} epochs{} instead of the checkpoint's {}: only the last round "
                              "of a run can be extended",
                              source, now[k], round, was[k]));
  }
  if (!method.extends_exactly())
    throw Error(fmt::format("{}: /train/epochs: {} epochs instead of the checkpoint's {}: method '{}' plans its "
                            "schedule over the run's epochs, so more epochs would not continue the same run (start "
                            "a new run)",
                            source, now[last], was[last], method.name()));
  if (r.cfg.schedule.kind == LrSchedule::Kind::cosine)
    throw Error(fmt::format("{}: /train/epochs: {} epochs instead of the checkpoint's {}: schedule.kind \"cosine\" "
                            "spans the run's epochs, so more epochs would change the learning rate of the epochs "
                            "already trained (extend runs whose schedule is constant, step or multistep, or start a "
                            "new run)",
                            source, now[last], was[last]));
  TrainProgress& p = ck.progress;
  if (p.round == int64_t(was.size())) {  // finished: its last round goes on from where it ended
    p.round = int64_t(last);
    p.epoch = was[last];
    p.batch = 0;
  }
  log_info(fmt::format("{}: extending the run from {} to {} epochs", ck.path, was[last], now[last]));
}

}  // namespace

void check_resume(const Run& r, const TrainingMethod& method, Checkpoint& ck, bool data_changed_ok) {
  check_data(r, ck, data_changed_ok);
  ResumeBounds b;
  b.method_name = method.name();
  b.rounds = method.rounds();
  for (int64_t k = 0; k < b.rounds; ++k) b.epochs.push_back(method.round_epochs(k, r.cfg.epochs));
  b.batches_per_epoch = r.batches;
  b.examples_per_epoch = r.train_loader->examples_per_epoch() * r.comm->world();  // progress counts every rank's
  if (ck.method_name != b.method_name)
    throw Error(ck.path + ": written by a '" + ck.method_name + "' run, this run is '" + b.method_name + "'");
  check_epochs(r, method, ck, b.epochs);
  check_progress(ck.path, ck, b);
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

}  // namespace trim
