#pragma once
// Everything a training run needs, built from its manifest: devices and ranks, the model and its
// parameter store with the method attached, the data loaders and the task. Nothing is written.
#include <cstdint>
#include <memory>
#include <string>

#include "apps/runner/checkpoint.h"
#include "apps/runner/manifest.h"
#include "apps/runner/run_config.h"
#include "apps/runner/run_dir.h"
#include "apps/runner/task.h"
#include "core/comm/communicator.h"
#include "core/comm/gradient_reducer.h"
#include "data/loader.h"
#include "layers/module.h"
#include "pruning/training_method.h"

namespace trim {

struct Run {
  Manifest manifest;
  std::string manifest_text;  // as checkpoints record it
  RunConfig cfg;
  Device device;
  std::shared_ptr<Module> model;
  std::shared_ptr<ParamStore> store;
  std::unique_ptr<DataLoader> train_loader, test_loader;
  std::unique_ptr<Task> task;
  int64_t batches = 0;  // per epoch
  int64_t train_size = 0, test_size = 0;
  Shape example_shape;  // one training image [C, H, W]
  int classes = 0;      // of the training set
  DataIdentity data_identity;  // of the training set, as checkpoints record it
  std::unique_ptr<RunDir> dir;  // set by the trainer once every check has passed
  // The ranks: the caller's communicator or one of the run's own.
  std::unique_ptr<comm::Communicator> own_comm;
  comm::Communicator* comm = nullptr;
  std::unique_ptr<comm::GradientReducer> reducer;  // several ranks only
  bool distributed() const { return comm->world() > 1; }
  bool writer() const { return comm->rank() == 0; }
  int64_t global_batch() const { return cfg.data.batch_size * comm->world(); }
};

// Builds the run `cfg` (parsed from `manifest`) describes: threads and device settings, the
// communicator (`comm`, or the job's own when null), the seeded model with init_from's weights
// loaded unless `resuming` (the checkpoint then holds every weight), the store with `method`
// attached (begin_run, add_parameters, attach), loaders sharded over the ranks and the
// classification task. Throws trim::Error naming the manifest for data that does not fit the model.
Run set_up(const Manifest& manifest, const RunConfig& cfg, TrainingMethod& method, comm::Communicator* comm,
           bool resuming = false);

// Refuses a checkpoint that this run cannot continue, before anything is written: other training
// data (data.dataset, data.root, the example count or the fingerprint; unless `data_changed_ok`,
// the --resume-data-changed flag, when it only warns), fewer epochs than the checkpoint's run
// planned, more epochs where the method or the learning-rate schedule depends on the total
// (cosine), another method, progress outside the run's rounds, epochs and batches, or a
// different global batch under another number of ranks. A finished run resumed with more epochs
// continues its last round from where it ended (ck.progress is moved there).
void check_resume(const Run& r, const TrainingMethod& method, Checkpoint& ck, bool data_changed_ok = false);

}  // namespace trim
