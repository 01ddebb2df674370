#include "core/optim/param_store.h"

#include <set>

#include "core/ops/precision.h"

namespace trim {

ParamStore::ParamStore(std::vector<OptimParam> params) {
  TRIM_CHECK(!params.empty(), "parameter store: no parameters");
  device_ = params[0].tensor.device();
  std::set<std::string> names;
  bool any_master = false;
  for (OptimParam& p : params) {
    TRIM_CHECK(p.tensor.defined() && p.tensor.dtype() == DType::f32 && p.tensor.is_leaf() && p.tensor.requires_grad(),
               cat("parameter store: '", p.name, "' must be an f32 leaf that requires grad"));
    TRIM_CHECK(p.tensor.device() == device_,
               cat("parameter store: '", p.name, "' is on ", p.tensor.device().str(), ", the first on ", device_.str()));
    TRIM_CHECK(names.insert(p.name).second, cat("parameter store: two parameters named '", p.name, "'"));
    TRIM_CHECK(p.lr_scale >= 0.0f && p.clip >= 0.0f, cat("parameter store: '", p.name, "': lr_scale and clip must be >= 0"));
    ParamSlot s;
    s.offset = total_;
    s.numel = p.tensor.numel();
    total_ += (s.numel + kAlign - 1) / kAlign * kAlign;
    any_master = any_master || p.master;
    s.param = std::move(p);
    slots_.push_back(std::move(s));
  }
  params_ = Tensor::zeros(Shape{total_}, DType::f32, device_);
  grads_ = Tensor::zeros(Shape{total_}, DType::f32, device_);
  if (any_master) master_ = Tensor::zeros(Shape{total_}, DType::f32, device_);
  for (size_t i = 0; i < slots_.size(); ++i) {
    ParamSlot& s = slots_[i];
    Tensor& t = s.param.tensor;
    // Every handle to the tensor (the module's member, the caller's copies) reads the arena from now on.
    t.rebind_storage(view(params_, i));
    if (s.param.master) (s.master = view(master_, i)).copy_(t);
    t.set_grad(view(grads_, i));
  }
}

ParamStore::~ParamStore() {
  if (!has_bf16_copies()) return;
  for (const ParamSlot& s : slots_) detach_bf16_copy(s.param.tensor);
}

void ParamStore::enable_bf16_copies() {
  if (has_bf16_copies()) return;
  fwd16_ = Tensor::zeros(Shape{total_}, DType::bf16, device_);
  for (size_t i = 0; i < slots_.size(); ++i) {
    ParamSlot& s = slots_[i];
    s.fwd16 = view(fwd16_, i);
    attach_bf16_copy(s.param.tensor, s.fwd16);  // stale until its first use casts it
  }
}

int ParamStore::find(const std::string& name) const {
  for (size_t i = 0; i < slots_.size(); ++i)
    if (slots_[i].param.name == name) return int(i);
  return -1;
}

Tensor ParamStore::state(const std::string& name, float init) {
  auto it = states_.find(name);
  if (it != states_.end()) return it->second;
  Tensor t = init == 0.0f ? Tensor::zeros(Shape{total_}, DType::f32, device_)
                          : Tensor::full(Shape{total_}, init, DType::f32, device_);
  states_.emplace(name, t);
  return t;
}

Tensor ParamStore::view(const Tensor& arena, size_t i) const {
  const ParamSlot& s = slots_.at(i);
  TRIM_CHECK(arena.defined() && arena.numel() == total_, "parameter store: view of a tensor that is not one of its arenas");
  return arena.narrow0(s.offset, s.numel).view(s.param.tensor.shape());
}

void ParamStore::zero_grad() {
  for (ParamSlot& s : slots_) s.param.tensor.zero_grad();
}

void ParamStore::finish_backward() {
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Tensor& t = slots_[i].param.tensor;
    if (!t.grad_marked_zero()) continue;
    t.grad();  // zero-fills the buffer
    if (ready_) ready_(i, slots_[i].offset, slots_[i].numel);
  }
  if (done_) done_();
}

void ParamStore::on_grad_ready(std::function<void(size_t, int64_t, int64_t)> hook) {
  ready_ = std::move(hook);
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (!ready_) {
      slots_[i].param.tensor.set_grad_ready_hook(nullptr);
      continue;
    }
    slots_[i].param.tensor.set_grad_ready_hook([this, i] { ready_(i, slots_[i].offset, slots_[i].numel); });
  }
}

}  // namespace trim
