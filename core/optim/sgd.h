#pragma once
// SGD with momentum, Nesterov and weight decay (PyTorch semantics), as one multi-tensor step
// templated on a per-element Rule (core/optim/sgd_rule.h) through which pruning methods act.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/optim/sgd_step.h"
#include "core/tensor.h"
#ifdef TRIM_HAVE_CUDA
#include "core/cuda/runtime.h"
#endif

namespace trim {

struct OptimParam {
  std::string name;
  Tensor tensor;  // an f32 leaf that requires grad
  bool decay = true;
};

struct SgdOptions {
  float lr = 0.1f;
  float momentum = 0.9f;
  bool nesterov = false;
  float weight_decay = 0.0f;
};

// Rule-independent state: the parameters, one flat gradient buffer (each parameter's grad() is a
// view into it, so zero_grad is one memset and gradients can be reduced as one array), the
// momentum buffers and the per-step scalars. All parameters must be on one device.
class SgdBase {
 public:
  SgdBase(std::vector<OptimParam> params, SgdOptions options);
  virtual ~SgdBase() = default;
  SgdBase(const SgdBase&) = delete;
  SgdBase& operator=(const SgdBase&) = delete;

  void zero_grad();
  void step();  // updates every parameter from its gradient

  void set_lr(float lr) { scalars_.lr = lr; }
  float lr() const { return scalars_.lr; }
  const SgdOptions& options() const { return options_; }
  // The method's per-step scalars (SgdScalars::rule), set by a pruner before step().
  float* rule_scalars() { return scalars_.rule; }

  const std::vector<OptimParam>& params() const { return params_; }
  Device device() const { return device_; }
  Tensor flat_grad() const { return grads_; }
  // Momentum buffers, named "momentum.<parameter name>" (empty when momentum is 0): for checkpoints.
  std::vector<std::pair<std::string, Tensor>> state() const;

 protected:
  virtual void run_step(const SgdScalars& k) = 0;
  // Offsets of each parameter in the flat buffers (aligned to 64 elements).
  std::vector<int64_t> offsets_;
  std::vector<OptimParam> params_;
  std::vector<Tensor> momentum_;
  SgdOptions options_;
  SgdScalars scalars_;
  Device device_;
  Tensor grads_, moments_;
};

template <class Rule>
class Sgd final : public SgdBase {
 public:
  Sgd(std::vector<OptimParam> params, SgdOptions options)
      : SgdBase(std::move(params), options), rules_(params_.size()) {}

  // The rule's per-tensor parameters (masks, thresholds...) for parameter i.
  void set_rule_params(size_t i, const typename Rule::Params& p) {
    rules_.at(i) = p;
    built_ = false;
  }

 private:
  void build() {
    slots_.clear();
    std::vector<SgdChunk> chunks;
    for (size_t i = 0; i < params_.size(); ++i) {
      SgdSlot<Rule> s;
      s.w = params_[i].tensor.template data<float>();
      s.g = params_[i].tensor.grad().template data<float>();
      s.v = momentum_.empty() ? nullptr : momentum_[i].template data<float>();
      s.n = params_[i].tensor.numel();
      s.decay = params_[i].decay ? 1.0f : 0.0f;
      s.rule = rules_[i];
      slots_.push_back(s);
      for (int64_t c = 0; c * kSgdChunk < s.n; ++c) chunks.push_back({int32_t(i), int32_t(c)});
    }
    chunk_count_ = int64_t(chunks.size());
#ifdef TRIM_HAVE_CUDA
    if (device_.is_cuda()) {
      dev_slots_ = upload_bytes(slots_.data(), slots_.size() * sizeof(SgdSlot<Rule>));
      dev_chunks_ = upload_bytes(chunks.data(), chunks.size() * sizeof(SgdChunk));
      if (!dev_scalars_.defined()) {
        dev_scalars_ = Tensor::empty(Shape{int64_t(sizeof(SgdScalars))}, DType::u8, device_);
        uploader_ = std::make_unique<cuda::Uploader>(sizeof(SgdScalars));
      }
    }
#endif
    built_ = true;
  }

  Tensor upload_bytes(const void* p, size_t n) {
    std::vector<uint8_t> bytes(static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
    return Tensor::from_vector<uint8_t>(Shape{int64_t(n)}, bytes, device_);
  }

  void run_step(const SgdScalars& k) override {
    if (!built_) build();
    if (device_.is_cpu()) return sgd_step_cpu<Rule>(slots_, k);
#ifdef TRIM_HAVE_CUDA
    uploader_->upload(dev_scalars_.raw_data(), &k);
    sgd_step_cuda<Rule>(static_cast<const SgdSlot<Rule>*>(dev_slots_.raw_data()),
                        static_cast<const SgdChunk*>(dev_chunks_.raw_data()), chunk_count_,
                        static_cast<const SgdScalars*>(dev_scalars_.raw_data()));
#endif
  }

  std::vector<typename Rule::Params> rules_;
  std::vector<SgdSlot<Rule>> slots_;
  int64_t chunk_count_ = 0;
  bool built_ = false;
  Tensor dev_slots_, dev_chunks_, dev_scalars_;
#ifdef TRIM_HAVE_CUDA
  std::unique_ptr<cuda::Uploader> uploader_;
#endif
};

using DenseSgd = Sgd<DenseRule>;

}  // namespace trim
