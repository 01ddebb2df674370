#include "pruning/random.h"

#include "core/ops/elementwise.h"
#include "core/random/generator.h"
#include "pruning/magnitude.h"
#include "pruning/select.h"

namespace trim {
namespace {
// The masks' own stream: the run's seed, mixed with a constant so that it never coincides with
// the stream that initialises the weights.
constexpr uint64_t kRandomPruningStream = 0x72616e646f6d5052ull;  // "randomPR"
}  // namespace

RandomPruning::RandomPruning(const Config& cfg) : PruningMethod("random", cfg) {
  OneShotSettings s = read_one_shot_settings(cfg, kRandomScope);  // pruning/method_config.h
  target_ = s.target;
  scope_ = s.scope;
  finetune_epochs_ = s.finetune_epochs;
}

void RandomPruning::begin_round(const StepInfo& at, Module&, ParamStore&) {
  if (at.round != 1) return;
  // Uniform scores in [0, 1), one per weight; pruning the k smallest of them removes k weights
  // chosen uniformly at random (ties, rare at 2^-24, go to the lower index as everywhere).
  Generator gen(default_generator().seed() ^ kRandomPruningStream);
  PrunableSet scores{set_.names, {}};
  for (const Tensor& w : set_.tensors) {
    Tensor s = Tensor::empty(w.shape(), DType::f32, w.device());
    uniform_(s, 0.0f, 1.0f, gen);
    scores.tensors.push_back(s);
  }
  std::vector<int64_t> k;
  for (int64_t n : unit_sizes(set_, scope_)) k.push_back(count_for_sparsity(target_, n));
  set_masks(prune_units(scores, masks(), scope_, k));
}

}  // namespace trim
