#pragma once
// SGD with momentum, Nesterov and weight decay (PyTorch semantics), as one multi-tensor step
// templated on a per-element Rule (core/optim/step_rule.h; the update: core/optim/sgd_update.h)
// through which pruning methods act. The optimizer works on a ParamStore (core/optim/param_store.h):
// parameters, gradients, master copies and momentum all live there, so a fresh optimizer (after a
// rewind) or a checkpoint sees them.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/optim/grad_clip.h"
#include "core/optim/param_store.h"
#include "core/optim/sgd_step.h"
#include "core/tensor.h"
#ifdef TRIM_HAVE_CUDA
#include "core/cuda/runtime.h"
#endif

namespace trim {

struct SgdOptions {
  float lr = 0.1f;
  float momentum = 0.9f;
  bool nesterov = false;
  float weight_decay = 0.0f;
  float clip_grad_norm = 0.0f;  // > 0: clip the global gradient L2 norm to this (clip_grad_norm_)
};

// Rule-independent state and the step's flow. Momentum is the store's "momentum" arena, zeroed
// when an optimizer is made (a fresh optimizer starts without history; a resume loads it after).
class SgdBase {
 public:
  SgdBase(std::shared_ptr<ParamStore> store, SgdOptions options);
  virtual ~SgdBase() = default;
  SgdBase(const SgdBase&) = delete;
  SgdBase& operator=(const SgdBase&) = delete;

  void zero_grad() { store_->zero_grad(); }
  // Completes the gradients (ParamStore::finish_backward), clips them if asked, and updates every
  // parameter. No host synchronisation on CUDA. The same as stage_scalars() then step_staged().
  void step();

  // The step in two halves, for a step captured as a CUDA graph (core/optim/step_graph.h).
  // stage_scalars() puts this step's scalars (lr, step number, the rule's scalars as the method
  // set them) where the update reads them: on CUDA an upload, in stream order, into a device
  // buffer whose address never changes (the first call also builds the parameter tables, so it
  // must come before a capture). step_staged() is the rest of step() and reads the scalars staged
  // last: captured once, it is replayed after each stage_scalars() with that step's values. It
  // never allocates, synchronises or uploads on CUDA.
  void stage_scalars();
  void step_staged();
  // How many times the parameter tables (device addresses a captured step reads) were built; a
  // change after a capture means the graph reads tables that are gone.
  uint64_t table_builds() const { return table_builds_; }

  void set_lr(float lr) { scalars_.lr = lr; }
  float lr() const { return scalars_.lr; }
  // The number the next step reports if a gradient is not finite (the trainer's step counter).
  void set_step_number(int64_t step) { scalars_.step = step; }
  const SgdOptions& options() const { return options_; }

  ParamStore& store() const { return *store_; }
  const std::shared_ptr<ParamStore>& shared_store() const { return store_; }
  Device device() const { return store_->device(); }
  Tensor flat_grad() const { return store_->grads(); }

  // -1 when every gradient seen so far was finite, else the number (set_step_number) of the first
  // step that saw a non-finite one. Reads a device flag: synchronises, so call it where metrics are
  // folded, not every step.
  int64_t first_nonfinite_step() const;
  // The global gradient norm of the last step (clipping on only; synchronises).
  float last_grad_norm() const;

  // Optimizer state for checkpoints: "momentum.<param>" (when momentum > 0) and "master.<param>"
  // (parameters with a master copy), views into the store.
  std::vector<std::pair<std::string, Tensor>> state() const;

 protected:
  // Builds the parameter tables if needed and, on CUDA, uploads `k` with the rule's scalars to the
  // device scalar buffer (stage_scalars).
  virtual void stage(const SgdScalars& k) = 0;
  // Runs the update: on the CPU with `k` (clipping's grad_scale applied), on CUDA with the staged
  // device buffer (clipping writes its grad_scale there). Returns false when a gradient was not
  // finite (CPU only: CUDA records it on the device).
  virtual bool run_step(const SgdScalars& k) = 0;

  std::shared_ptr<ParamStore> store_;
  SgdOptions options_;
  SgdScalars scalars_;
  SgdScalars staged_;  // what stage_scalars() staged (the CPU update's scalars)
  Tensor moments_;     // the store's momentum arena (undefined when momentum is 0)
  Tensor bad_step_;    // CUDA: one int64 (as 2 x i32): first step with a non-finite gradient + 1, or 0
  int64_t bad_step_host_ = 0;  // the same on the CPU
  Tensor clip_partials_, clip_norm_;  // CUDA scratch for clipping
  float clip_norm_host_ = 0.0f;
  uint64_t table_builds_ = 0;
  void* dev_grad_scale_ = nullptr;    // inside the subclass's device scalars
};

// A method's typed handle to the per-step scalars of its optimizer's rule (Sgd<Rule>::rule_handle).
template <class Rule>
using RuleHandle = std::shared_ptr<typename Rule::Scalars>;

template <class Rule>
class Sgd final : public SgdBase {
 public:
  Sgd(std::shared_ptr<ParamStore> store, SgdOptions options)
      : SgdBase(std::move(store), options), rules_(store_->size()) {}
  // Convenience: a store of its own over `params`.
  Sgd(std::vector<OptimParam> params, SgdOptions options)
      : Sgd(std::make_shared<ParamStore>(std::move(params)), options) {}

  // The rule's per-tensor parameters (masks, thresholds...) for slot i; rebuilds the tables.
  void set_rule_params(size_t i, const typename Rule::Params& p) {
    rules_.at(i) = p;
    built_ = false;
  }
  // The rule's per-step scalars, read by the next step.
  typename Rule::Scalars& rule_scalars() { return *rule_scalars_; }
  // A typed handle to the same scalars, for the method that built this optimizer: it writes them
  // before each step without reaching back through SgdBase (shared, so either may outlive the other).
  RuleHandle<Rule> rule_handle() const { return rule_scalars_; }

 private:
  void build() {
    slots_.clear();
    std::vector<SgdChunk> chunks;
    const ParamStore& st = *store_;
    for (size_t i = 0; i < st.size(); ++i) {
      const ParamSlot& p = st.slot(i);
      SgdSlot<Rule> s;
      float* param = p.param.tensor.template data<float>();
      s.w = p.master.defined() ? p.master.template data<float>() : param;
      s.w_fwd = p.master.defined() ? param : nullptr;
      s.w16 = p.fwd16.defined() ? p.fwd16.template data<bf16>() : nullptr;
      s.g = st.grads().template data<float>() + p.offset;
      s.v = moments_.defined() ? moments_.template data<float>() + p.offset : nullptr;
      s.n = p.numel;
      s.decay_scale = p.param.decay ? 1.0f : 0.0f;
      s.lr_scale = p.param.lr_scale;
      s.clip = p.param.clip;
      s.rule = rules_[i];
      slots_.push_back(s);
      TRIM_CHECK(i <= size_t(INT32_MAX) && (p.numel + kSgdChunk - 1) / kSgdChunk <= int64_t(INT32_MAX),
                 "SGD step: too many parameters or elements for the chunk table");
      for (int64_t c = 0; c * kSgdChunk < s.n; ++c) chunks.push_back({int32_t(i), int32_t(c)});
    }
    chunk_count_ = int64_t(chunks.size());
#ifdef TRIM_HAVE_CUDA
    if (device().is_cuda()) {
      dev_slots_ = upload_bytes(slots_.data(), slots_.size() * sizeof(SgdSlot<Rule>));
      dev_chunks_ = upload_bytes(chunks.data(), chunks.size() * sizeof(SgdChunk));
      if (!dev_scalars_.defined()) {
        dev_scalars_ = Tensor::empty(Shape{int64_t(sizeof(StepScalars<Rule>))}, DType::u8, device());
        uploader_ = std::make_unique<cuda::Uploader>(sizeof(StepScalars<Rule>));
        dev_grad_scale_ = static_cast<char*>(dev_scalars_.raw_data()) + offsetof(StepScalars<Rule>, sgd) +
                          offsetof(SgdScalars, grad_scale);
      }
    }
#endif
    built_ = true;
    built_bf16_ = st.has_bf16_copies();
    ++table_builds_;
  }

  Tensor upload_bytes(const void* p, size_t n) {
    std::vector<uint8_t> bytes(static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
    return Tensor::from_vector<uint8_t>(Shape{int64_t(n)}, bytes, device());
  }

  void stage(const SgdScalars& k) override {
    if (!built_ || built_bf16_ != store_->has_bf16_copies()) build();
    staged_rule_ = *rule_scalars_;
#ifdef TRIM_HAVE_CUDA
    if (device().is_cuda()) {
      // The upload is ordered before clipping, which then overwrites grad_scale in the same buffer.
      StepScalars<Rule> all{k, staged_rule_};
      uploader_->upload(dev_scalars_.raw_data(), &all);
    }
#endif
  }

  bool run_step(const SgdScalars& k) override {
    // Building here would upload tables (a synchronising copy) inside a capture: stage() builds.
    TRIM_CHECK(built_ && built_bf16_ == store_->has_bf16_copies(),
               "SGD step: the scalars were not staged since the parameters changed (call stage_scalars first)");
    if (device().is_cpu()) return sgd_step_cpu<Rule>(slots_, StepScalars<Rule>{k, staged_rule_});
#ifdef TRIM_HAVE_CUDA
    if (options_.clip_grad_norm > 0.0f)
      grad_clip_scale_cuda(store_->grads().template data<float>(), store_->total(), options_.clip_grad_norm,
                           static_cast<float*>(dev_grad_scale_), clip_norm_.template data<float>(),
                           static_cast<double*>(clip_partials_.raw_data()));
    sgd_step_cuda<Rule>(static_cast<const SgdSlot<Rule>*>(dev_slots_.raw_data()),
                        static_cast<const SgdChunk*>(dev_chunks_.raw_data()), chunk_count_,
                        static_cast<const StepScalars<Rule>*>(dev_scalars_.raw_data()),
                        static_cast<int64_t*>(bad_step_.raw_data()));
#endif
    return true;
  }

  std::vector<typename Rule::Params> rules_;
  RuleHandle<Rule> rule_scalars_ = std::make_shared<typename Rule::Scalars>();
  typename Rule::Scalars staged_rule_{};  // the rule's scalars as stage() staged them
  std::vector<SgdSlot<Rule>> slots_;
  int64_t chunk_count_ = 0;
  bool built_ = false;
  bool built_bf16_ = false;  // the tables point at the store's bf16 copies
  Tensor dev_slots_, dev_chunks_, dev_scalars_;
#ifdef TRIM_HAVE_CUDA
  std::unique_ptr<cuda::Uploader> uploader_;
#endif
};

using DenseSgd = Sgd<DenseRule>;

}  // namespace trim
