#pragma once
// ParamStore: the one home of a model's trainable state. Parameters, their gradients, optional
// master copies and optimizer state ("momentum", masks, ...) each live in one flat f32 arena with
// the same 64-element-aligned slot layout, so an optimizer, a fresh optimizer after a rewind, a
// second parameter group, a gradient bucket or a global k-th-value selection all address the same
// contiguous memory. The arenas outlive any optimizer built on them.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace trim {

// One trainable tensor and how the step treats it.
struct OptimParam {
  std::string name;
  Tensor tensor;          // an f32 leaf that requires grad
  bool decay = true;      // weight decay applies (off for BN parameters and biases by default)
  float lr_scale = 1.0f;  // this parameter's lr = lr_scale * the scheduled lr (as a PyTorch param group)
  float clip = 0.0f;      // > 0: every gradient element is clamped to [-clip, clip] before the update
  bool master = false;    // the step updates a master copy and writes the parameter from it (Rule::store)
};

struct ParamSlot {
  OptimParam param;     // param.tensor now views the params arena
  Tensor master;        // view of the master arena (undefined without a master)
  Tensor fwd16;         // view of the bf16 arena (undefined until enable_bf16_copies)
  int64_t offset = 0;   // element offset of the slot in every arena
  int64_t numel = 0;
};

class ParamStore {
 public:
  // Moves each parameter's data into the arena: the tensor (every handle to it) keeps its values,
  // shape and leaf status but now views the arena, and its grad() views the gradient arena. Master
  // copies start equal to the parameters. All parameters must be on one device, with distinct names.
  explicit ParamStore(std::vector<OptimParam> params);
  ~ParamStore();
  ParamStore(const ParamStore&) = delete;
  ParamStore& operator=(const ParamStore&) = delete;

  static constexpr int64_t kAlign = 64;  // elements: every slot starts 256-byte aligned

  size_t size() const { return slots_.size(); }
  const ParamSlot& slot(size_t i) const { return slots_.at(i); }
  const std::vector<ParamSlot>& slots() const { return slots_; }
  // The slot of parameter `name`, or -1.
  int find(const std::string& name) const;
  Device device() const { return device_; }
  int64_t total() const { return total_; }  // elements per arena, alignment padding included

  // Flat arenas of total() elements. Padding is zero in params, grads and master.
  const Tensor& params() const { return params_; }
  const Tensor& grads() const { return grads_; }
  const Tensor& master() const { return master_; }  // undefined when no parameter has a master
  bool has_master() const { return master_.defined(); }

  // The bf16 precision policy (core/ops/precision.h): a bf16 arena (same slot layout) holding each
  // parameter's bf16 forward copy, registered with attach_bf16_copy so that conv2d / linear /
  // matmul use it. The fused SGD step writes it in the same pass as the f32 parameter (from the
  // value it stores for the forward: Rule::store's for parameters with a master). The f32
  // parameters and masters stay the truth (optimizer, pruning rules, checkpoints); a write to a
  // parameter outside the step is noticed through its storage version and the copy re-cast.
  // Idempotent; the copies are forgotten when the store is destroyed.
  void enable_bf16_copies();
  bool has_bf16_copies() const { return fwd16_.defined(); }
  const Tensor& bf16_copies() const { return fwd16_; }  // undefined until enabled

  // A named per-element state arena ("momentum", "mask", ...): created on first use filled with
  // `init`; later calls return the same buffer.
  Tensor state(const std::string& name, float init = 0.0f);
  bool has_state(const std::string& name) const { return states_.count(name) != 0; }
  const std::map<std::string, Tensor>& states() const { return states_; }
  // Slot i's view (shaped like the parameter) of a flat arena of this store.
  Tensor view(const Tensor& arena, size_t i) const;

  // Gradients: zero_grad marks every gradient as zero without writing (the next backward
  // overwrites); finish_backward zero-fills those no contribution reached, so the whole gradient
  // arena is defined, and fires their ready hooks. Optimizers call finish_backward before a step.
  void zero_grad();
  void finish_backward();
  // Called with (slot, offset, count) once a parameter's gradient is final in a backward.
  void on_grad_ready(std::function<void(size_t slot, int64_t offset, int64_t count)> hook);
  // Called at the end of every finish_backward, after the ready hooks: where a data-parallel
  // reducer waits for its gradient all-reduces, so a step (and clipping) reads averaged gradients.
  void on_backward_done(std::function<void()> hook) { done_ = std::move(hook); }

 private:
  std::vector<ParamSlot> slots_;
  std::map<std::string, Tensor> states_;
  std::function<void(size_t, int64_t, int64_t)> ready_;
  std::function<void()> done_;
  Tensor params_, grads_, master_, fwd16_;
  Device device_;
  int64_t total_ = 0;
};

}  // namespace trim
