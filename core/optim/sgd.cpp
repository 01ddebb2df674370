#include "core/optim/sgd.h"

namespace trim {
namespace {
constexpr int64_t kAlign = 64;  // elements: keeps every view 256-byte aligned for vector loads
int64_t aligned(int64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }
}  // namespace

SgdBase::SgdBase(std::vector<OptimParam> params, SgdOptions options)
    : params_(std::move(params)), options_(options) {
  TRIM_CHECK(!params_.empty(), "optimizer: no parameters");
  TRIM_CHECK(options.momentum >= 0.0f && options.weight_decay >= 0.0f && options.lr >= 0.0f,
             "optimizer: lr, momentum and weight decay must be >= 0");
  TRIM_CHECK(!options.nesterov || options.momentum > 0.0f, "optimizer: Nesterov needs momentum > 0");
  device_ = params_[0].tensor.device();
  int64_t total = 0;
  for (const OptimParam& p : params_) {
    TRIM_CHECK(p.tensor.defined() && p.tensor.dtype() == DType::f32 && p.tensor.is_leaf() && p.tensor.requires_grad(),
               cat("optimizer: parameter '", p.name, "' must be an f32 leaf that requires grad"));
    TRIM_CHECK(p.tensor.device() == device_, cat("optimizer: parameter '", p.name, "' is on ", p.tensor.device().str(),
                                                 ", the first on ", device_.str()));
    offsets_.push_back(total);
    total += aligned(p.tensor.numel());
  }
  grads_ = Tensor::zeros(Shape{total}, DType::f32, device_);
  if (options.momentum > 0.0f) moments_ = Tensor::zeros(Shape{total}, DType::f32, device_);
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& t = params_[i].tensor;
    t.set_grad(grads_.narrow0(offsets_[i], t.numel()).view(t.shape()));
    if (moments_.defined()) momentum_.push_back(moments_.narrow0(offsets_[i], t.numel()).view(t.shape()));
  }
  scalars_.lr = options.lr;
  scalars_.momentum = options.momentum;
  scalars_.weight_decay = options.weight_decay;
  scalars_.nesterov = options.nesterov ? 1 : 0;
}

void SgdBase::zero_grad() { grads_.zero_(); }

void SgdBase::step() { run_step(scalars_); }

std::vector<std::pair<std::string, Tensor>> SgdBase::state() const {
  std::vector<std::pair<std::string, Tensor>> s;
  for (size_t i = 0; i < momentum_.size(); ++i) s.emplace_back("momentum." + params_[i].name, momentum_[i]);
  return s;
}

}  // namespace trim
