#pragma once
// Module: the unit models are built from. A module owns named parameters (leaf tensors that
// require grad), named buffers (state such as BN running statistics) and named child modules;
// full names join the path with dots, as PyTorch does ("layer1.0.conv1.weight").
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/tensor.h"

namespace trim {

struct OptimParam;  // core/optim/param_store.h

// What a parameter is, for optimizers (weight decay opt-out) and pruners (which tensors they touch).
enum class ParamKind { weight, bias, norm };

struct ParamInfo {
  ParamKind kind = ParamKind::weight;
  bool prunable = false;  // conv and linear weights
};

struct NamedParameter {
  std::string name;
  Tensor tensor;
  ParamInfo info;
};

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  // Modules register pointers to their own members, so they never move or copy.
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }

  void train(bool on = true);  // this module and all descendants
  void eval() { train(false); }
  bool training() const { return training_; }

  // Depth-first, in registration order.
  std::vector<NamedParameter> named_parameters() const;
  std::vector<std::pair<std::string, Tensor>> named_buffers() const;
  // This module ("") and every descendant, depth-first, with their full names ("layer1.0.conv1").
  std::vector<std::pair<std::string, Module*>> named_modules();
  // Parameters then buffers of every module, interleaved per module as registered.
  std::vector<std::pair<std::string, Tensor>> state_dict() const;
  int64_t num_parameters() const;

  // Copies `state` into this module's tensors. Every parameter and buffer must be present with
  // its shape and dtype, and no extra name may appear; errors name the key and `source`.
  void load_state_dict(const std::vector<std::pair<std::string, Tensor>>& state, const std::string& source);

  // The model's own training metrics (a spiking network's firing rates) over the training passes
  // since the last call, added to `metrics` (an epoch's metrics.jsonl line); the count restarts.
  // The default asks every child in registration order; a model with metrics overrides it.
  virtual void take_metrics(nlohmann::json& metrics);
  // The keys take_metrics writes that summary.json repeats from the last epoch's line.
  virtual std::vector<std::string> summary_metric_keys() const;

  // Moves every parameter and buffer to `device`. Call it before binding the parameters to a
  // ParamStore (core/optim/param_store.h): moving makes new tensors, which the store would not see.
  void to(Device device);

 protected:
  void register_parameter(const std::string& name, Tensor* t, ParamInfo info);
  void register_buffer(const std::string& name, Tensor* t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    children_.emplace_back(name, m);
    return m;
  }

 private:
  struct Entry {  // one registration, in order: a parameter or a buffer
    std::string name;
    Tensor* tensor;
    bool is_param;
    ParamInfo info;  // parameters only
  };
  template <class F>
  void visit(const std::string& prefix, const F& f) const;

  std::vector<Entry> entries_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

// The optimizer's view of every parameter of `model`: weight decay on the weights
// (ParamKind::weight) only, or on every parameter with decay_all (the manifest's decay_bn_and_bias).
std::vector<OptimParam> optim_params(const Module& model, bool decay_all = false);

}  // namespace trim
