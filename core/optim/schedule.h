#pragma once
// Learning-rate schedules: an optional linear warm-up, then constant, step, multi-step or cosine.
#include <cstdint>
#include <string>
#include <vector>

namespace trim {

struct LrSchedule {
  enum class Kind { constant, step, multistep, cosine };
  Kind kind = Kind::constant;
  float base_lr = 0.1f;
  int64_t epochs = 1;                // total epochs of the run (cosine spans the epochs after warm-up)
  int64_t warmup_epochs = 0;         // lr ramps linearly to base_lr over these epochs
  bool per_iteration = false;        // false: lr changes at epoch boundaries (PyTorch's usual per-epoch stepping)
  int64_t step_size = 30;            // step: multiply by gamma every step_size epochs after warm-up
  float gamma = 0.1f;                // step / multistep factor
  std::vector<int64_t> milestones;   // multistep: multiply by gamma at each of these epochs (increasing: run_config checks)
  float min_lr = 0.0f;               // cosine floor

  // The learning rate for batch `batch` (0-based) of epoch `epoch` (0-based).
  //  Warm-up, epoch e < W:    per epoch: base * (e + 1) / W;  per iteration: base * (e*B + b + 1) / (W*B).
  //  After warm-up, t = (per_iteration ? e + b/B : e) - W over the remaining T = epochs - W epochs:
  //    cosine:    min + (base - min) * (1 + cos(pi * t / T)) / 2
  //    step:      base * gamma^floor(t / step_size)
  //    multistep: base * gamma^(number of milestones <= e + (per_iteration ? b/B : 0))
  float lr_at(int64_t epoch, int64_t batch, int64_t batches_per_epoch) const;
};

// "constant" | "step" | "multistep" | "cosine"; returns false for an unknown name.
bool parse_schedule_kind(const std::string& name, LrSchedule::Kind& kind);

}  // namespace trim
