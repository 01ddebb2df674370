#include "layers/module.h"

#include <map>

#include <nlohmann/json.hpp>

#include "core/autograd/grad_mode.h"
#include "core/optim/param_store.h"

namespace trim {

template <class F>
void Module::visit(const std::string& prefix, const F& f) const {
  f(prefix, *this);
  for (const auto& [name, child] : children_) child->visit(prefix + name + ".", f);
}

void Module::register_parameter(const std::string& name, Tensor* t, ParamInfo info) {
  TRIM_CHECK(t && t->defined() && t->dtype() == DType::f32, cat("parameter '", name, "' must be a defined f32 tensor"));
  t->set_requires_grad(true);
  entries_.push_back({name, t, true, info});
}

void Module::register_buffer(const std::string& name, Tensor* t) {
  TRIM_CHECK(t && t->defined(), cat("buffer '", name, "' must be defined"));
  entries_.push_back({name, t, false, {}});
}

void Module::train(bool on) {
  visit("", [on](const std::string&, const Module& m) { const_cast<Module&>(m).training_ = on; });
}

std::vector<NamedParameter> Module::named_parameters() const {
  std::vector<NamedParameter> out;
  visit("", [&](const std::string& prefix, const Module& m) {
    for (const Entry& e : m.entries_)
      if (e.is_param) out.push_back({prefix + e.name, *e.tensor, e.info});
  });
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor>> out;
  visit("", [&](const std::string& prefix, const Module& m) {
    for (const Entry& e : m.entries_)
      if (!e.is_param) out.emplace_back(prefix + e.name, *e.tensor);
  });
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::state_dict() const {
  std::vector<std::pair<std::string, Tensor>> out;
  visit("", [&](const std::string& prefix, const Module& m) {
    for (const Entry& e : m.entries_) out.emplace_back(prefix + e.name, *e.tensor);
  });
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out;
  visit("", [&](const std::string& prefix, const Module& m) {
    out.emplace_back(prefix.empty() ? prefix : prefix.substr(0, prefix.size() - 1), const_cast<Module*>(&m));
  });
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const NamedParameter& p : named_parameters()) n += p.tensor.numel();
  return n;
}

void Module::load_state_dict(const std::vector<std::pair<std::string, Tensor>>& state, const std::string& source) {
  std::map<std::string, const Tensor*> given;
  for (const auto& [name, t] : state) given[name] = &t;
  NoGradGuard no_grad;
  size_t used = 0;
  visit("", [&](const std::string& prefix, const Module& m) {
    for (const Entry& e : m.entries_) {
      std::string name = prefix + e.name;
      auto it = given.find(name);
      if (it == given.end()) throw Error(cat(source, ": missing tensor '", name, "'"));
      const Tensor& src = *it->second;
      if (src.shape() != e.tensor->shape() || src.dtype() != e.tensor->dtype())
        throw Error(cat(source, ": tensor '", name, "' has shape ", src.shape().str(), " ", dtype_name(src.dtype()),
                        ", the model expects ", e.tensor->shape().str(), " ", dtype_name(e.tensor->dtype())));
      e.tensor->copy_(src);
      ++used;
    }
  });
  if (used != given.size()) {
    std::map<std::string, bool> known;
    for (const auto& [name, t] : state_dict()) known[name] = true;
    for (const auto& [name, t] : given)
      if (!known.count(name)) throw Error(cat(source, ": unexpected tensor '", name, "' (not in the model)"));
  }
}

void Module::to(Device device) {
  visit("", [device](const std::string&, const Module& m) {
    for (const Entry& e : m.entries_) {
      if (e.tensor->device() == device) continue;
      bool grad = e.tensor->requires_grad();
      *e.tensor = e.tensor->to(device);
      if (grad) e.tensor->set_requires_grad(true);
    }
  });
}

void Module::take_metrics(nlohmann::json& metrics) {
  for (auto& [name, child] : children_) child->take_metrics(metrics);
}

std::vector<std::string> Module::summary_metric_keys() const {
  std::vector<std::string> keys;
  for (const auto& [name, child] : children_)
    for (std::string& k : child->summary_metric_keys()) keys.push_back(std::move(k));
  return keys;
}

std::vector<OptimParam> optim_params(const Module& model, bool decay_all) {
  std::vector<OptimParam> out;
  for (const NamedParameter& p : model.named_parameters())
    out.push_back({p.name, p.tensor, p.info.kind == ParamKind::weight || decay_all});
  return out;
}

}  // namespace trim
