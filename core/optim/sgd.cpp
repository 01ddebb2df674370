#include "core/optim/sgd.h"

#include <cstring>

namespace trim {

SgdBase::SgdBase(std::shared_ptr<ParamStore> store, SgdOptions options) : store_(std::move(store)), options_(options) {
  TRIM_CHECK(store_ && store_->size() > 0, "optimizer: no parameters");
  TRIM_CHECK(options.momentum >= 0.0f && options.weight_decay >= 0.0f && options.lr >= 0.0f && options.clip_grad_norm >= 0.0f,
             "optimizer: lr, momentum, weight decay and clip_grad_norm must be >= 0");
  TRIM_CHECK(!options.nesterov || options.momentum > 0.0f, "optimizer: Nesterov needs momentum > 0");
  if (options.momentum > 0.0f) {
    moments_ = store_->state("momentum");
    moments_.zero_();  // a new optimizer has no history
  }
  scalars_.lr = options.lr;
  scalars_.momentum = options.momentum;
  scalars_.weight_decay = options.weight_decay;
  scalars_.nesterov = options.nesterov ? 1 : 0;
  if (device().is_cuda()) {
    bad_step_ = Tensor::zeros(Shape{2}, DType::i32, device());  // one int64
    if (options.clip_grad_norm > 0.0f) {
      clip_partials_ = Tensor::zeros(Shape{2 * kGradClipPartials}, DType::i32, device());  // doubles
      clip_norm_ = Tensor::zeros(Shape{1}, DType::f32, device());
    }
  }
}

void SgdBase::step() {
  stage_scalars();
  step_staged();
}

void SgdBase::stage_scalars() {
  staged_ = scalars_;
  stage(staged_);
}

void SgdBase::step_staged() {
  store_->finish_backward();
  SgdScalars k = staged_;
  if (options_.clip_grad_norm > 0.0f && device().is_cpu())
    grad_clip_scale_cpu(store_->grads().data<float>(), store_->total(), options_.clip_grad_norm, &k.grad_scale,
                        &clip_norm_host_);
  bool finite = run_step(k);
  if (!finite && bad_step_host_ == 0) bad_step_host_ = k.step + 1;
}

int64_t SgdBase::first_nonfinite_step() const {
  int64_t flag = bad_step_host_;
  if (bad_step_.defined()) {
    std::vector<int32_t> v = bad_step_.to_vector<int32_t>();
    std::memcpy(&flag, v.data(), sizeof flag);
  }
  return flag - 1;
}

float SgdBase::last_grad_norm() const { return clip_norm_.defined() ? clip_norm_.item() : clip_norm_host_; }

std::vector<std::pair<std::string, Tensor>> SgdBase::state() const {
  std::vector<std::pair<std::string, Tensor>> s;
  for (size_t i = 0; i < store_->size(); ++i) {
    const ParamSlot& p = store_->slot(i);
    if (moments_.defined()) s.emplace_back("momentum." + p.param.name, store_->view(moments_, i));
    if (p.master.defined()) s.emplace_back("master." + p.param.name, p.master);
  }
  return s;
}

}  // namespace trim
