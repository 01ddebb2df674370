#pragma once
// The settings of a classification run, read strictly from a manifest (unknown keys are errors).
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apps/runner/manifest.h"
#include "core/kernels/params.h"  // ChannelAffine
#include "core/comm/gradient_reducer.h"
#include "core/ops/precision.h"
#include "core/optim/schedule.h"
#include "core/optim/sgd.h"
#include "data/data_options.h"

namespace trim {

struct DataConfig {
  std::string dataset = "fashion_mnist";
  std::string root;                // folder of the data files (none for "synthetic")
  int64_t batch_size = 128;
  int64_t eval_batch_size = 1000;
  int64_t train_limit = 0, test_limit = 0;  // use only the first n examples (0: all)
  int workers = 2;
  int prefetch = 4;
  std::vector<float> mean, stddev;  // per channel, on the [0, 1] scale
  DataOptions options;              // the dataset-specific keys (data/data_options.h)
};

// The input normalisation the data section asks for: x in [0, 255] -> (x / 255 - mean) / std.
ChannelAffine normalisation(const DataConfig& d);

// The manifest's optional "distributed" section: the reducer's buckets and the collectives' deadline.
struct DistributedConfig : comm::ReducerOptions {
  double timeout_seconds = 300.0;  // a collective waiting longer ends the job (0: wait forever)
};

struct RunConfig {
  std::string name;
  std::string device = "auto";
  std::string output;
  uint64_t seed = 0;
  int threads = 0;  // CPU threads; 0 = all cores
  bool tf32_conv = true, tf32_matmul = false, deterministic = true, benchmark = false;
  bool channels_last = true;  // "cuda.channels_last": bf16 convolutions on NHWC operands (core/device.h)
  // "cuda.graph": capture the steady-state training step as a CUDA graph and replay it
  // (apps/runner/graph_step.h); where it cannot be, steps run eagerly with one log line saying why.
  bool cuda_graph = false;
  // "precision": what convolutions and matrix products compute in (core/ops/precision.h); the
  // parameters, masters and checkpoints are f32 either way.
  Precision precision = Precision::fp32;
  DataConfig data;
  DistributedConfig distributed;
  nlohmann::json model;   // the model spec, read by build_model
  // "init_from": weights to start from instead of the seeded initialisation (empty: none), loaded
  // strictly unless "init_strict" is false (apps/runner/init_weights.h).
  std::string init_from;
  bool init_strict = true;
  nlohmann::json method;  // the "pruning" section (null when absent), read by the method
  SgdOptions sgd;
  bool decay_bn_and_bias = true;  // PyTorch's default: weight decay on every parameter
  LrSchedule schedule;
  int64_t epochs = 1;
  float label_smoothing = 0.0f;
  int64_t checkpoint_every_steps = 0;  // 0: only at the end of each epoch
  int64_t eval_every = 1;              // evaluate on the test split every this many epochs (and after the last)
  double log_interval_seconds = 30.0;  // progress lines when not on a terminal
};

// Parses every section; throws trim::Error naming the manifest and the JSON path. The model spec
// is validated when the model is built.
RunConfig parse_run_config(const Manifest& m);

}  // namespace trim
