#include "core/optim/schedule.h"

#include <cmath>

namespace trim {

float LrSchedule::lr_at(int64_t epoch, int64_t batch, int64_t batches_per_epoch) const {
  double b = double(batch), B = double(batches_per_epoch > 0 ? batches_per_epoch : 1);
  if (epoch < warmup_epochs) {
    if (per_iteration) return float(base_lr * (double(epoch) * B + b + 1.0) / (double(warmup_epochs) * B));
    return float(base_lr * double(epoch + 1) / double(warmup_epochs));
  }
  double t = double(epoch - warmup_epochs) + (per_iteration ? b / B : 0.0);
  switch (kind) {
    case Kind::constant: return base_lr;
    case Kind::step: return float(base_lr * std::pow(double(gamma), std::floor(t / double(step_size))));
    case Kind::multistep: {
      double e = double(epoch) + (per_iteration ? b / B : 0.0);
      int passed = 0;
      for (int64_t m : milestones) passed += double(m) <= e;
      return float(base_lr * std::pow(double(gamma), passed));
    }
    case Kind::cosine: {
      double T = double(epochs - warmup_epochs);
      double x = T > 0 ? std::min(t / T, 1.0) : 1.0;
      return float(min_lr + (base_lr - min_lr) * 0.5 * (1.0 + std::cos(M_PI * x)));
    }
  }
  return base_lr;
}

bool parse_schedule_kind(const std::string& name, LrSchedule::Kind& kind) {
  if (name == "constant") kind = LrSchedule::Kind::constant;
  else if (name == "step") kind = LrSchedule::Kind::step;
  else if (name == "multistep") kind = LrSchedule::Kind::multistep;
  else if (name == "cosine") kind = LrSchedule::Kind::cosine;
  else return false;
  return true;
}

}  // namespace trim
