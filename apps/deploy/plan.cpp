#include "apps/deploy/plan.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.h"
#include "core/ops/ops.h"

namespace trim::deploy {
namespace {

std::map<const Module*, std::string> module_names(Module& model) {
  std::map<const Module*, std::string> names;
  for (auto& [name, m] : model.named_modules()) names[m] = name;
  return names;
}

// The modules a chain runs, nested Sequentials flattened, in forward order.
void flatten_chain(Sequential& s, std::vector<Module*>& out) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (auto* inner = dynamic_cast<Sequential*>(&s[i]))
      flatten_chain(*inner, out);
    else
      out.push_back(&s[i]);
  }
}

DeployedLayer make_layer(WeightedLayer& w, const std::string& name, Device device) {
  DeployedLayer l;
  l.name = name;
  l.module = &w;
  l.weight_shape = w.weight.shape();
  if (auto* c = dynamic_cast<Conv2d*>(&w)) {
    l.conv = true;
    l.params = c->params;
  }
  l.weight = w.weight.to(device).clone();
  if (w.bias.defined()) l.bias = w.bias.to(device).clone();
  return l;
}

// Folds bn (eval statistics) into the layer: rows of W scaled, bias moved (zeros stay zeros).
void fold(DeployedLayer& l, const BatchNorm2d& bn, const std::string& bn_name) {
  const int64_t out = l.weight_shape[0];
  TRIM_CHECK(bn.weight.numel() == out, cat("trim-deploy: ", bn_name, " has ", bn.weight.numel(),
                                           " channels, the layer before it (", l.name, ") ", out));
  auto g = bn.weight.to_vector<float>(), beta = bn.bias.to_vector<float>();
  auto mean = bn.running_mean.to_vector<float>(), var = bn.running_var.to_vector<float>();
  auto w = l.weight.to_vector<float>();
  std::vector<float> b = l.bias.defined() ? l.bias.to_vector<float>() : std::vector<float>(size_t(out), 0.0f);
  const int64_t per_row = l.weight.numel() / out;
  for (int64_t o = 0; o < out; ++o) {
    const float s = g[size_t(o)] / std::sqrt(var[size_t(o)] + bn.eps);
    for (int64_t k = 0; k < per_row; ++k) w[size_t(o * per_row + k)] *= s;
    b[size_t(o)] = (b[size_t(o)] - mean[size_t(o)]) * s + beta[size_t(o)];
  }
  Device d = l.weight.device();
  l.weight = Tensor::from_vector(l.weight_shape, w, d);
  l.bias = Tensor::from_vector(Shape{out}, b, d);
  l.folded_bn = bn_name;
}

// Makes a BN whose statistics were folded into the conv before it pass its input through, without
// touching it (a pass over every activation cost a third of ResNet-50's deployed batch-1 time), and
// with the parameters of an identity, should anything read them.
void make_identity(BatchNorm2d& bn) {
  bn.weight.fill_(1.0f);
  bn.bias.fill_(0.0f);
  bn.running_mean.fill_(0.0f);
  bn.running_var.fill_(1.0f - bn.eps);
  bn.folded = true;
}

// The conv a BN of a zoo model normalises, by name: "P.bnK" follows "P.convK", "P.k" follows
// "P.(k-1)" (Sequential children: downsample.0/.1, features.N.0/.1).
std::string producer_name(const std::string& bn) {
  size_t dot = bn.rfind('.');
  std::string parent = dot == std::string::npos ? "" : bn.substr(0, dot + 1);
  std::string leaf = dot == std::string::npos ? bn : bn.substr(dot + 1);
  if (leaf.rfind("bn", 0) == 0) return parent + "conv" + leaf.substr(2);
  if (!leaf.empty() && std::all_of(leaf.begin(), leaf.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    int k = std::stoi(leaf);
    if (k > 0) return parent + std::to_string(k - 1);
  }
  return "";
}

const char* act_name(Epilogue a) {
  switch (a) {
    case Epilogue::none: return "none";
    case Epilogue::relu: return "relu";
    case Epilogue::relu6: return "relu6";
  }
  return "none";
}

}  // namespace

const char* format_name(Format f) { return f == Format::csr ? "csr" : "dense"; }

void DeployedLayer::build_csr() {
  if (csr.values.defined()) return;
  TRIM_CHECK(sparse_capable(), cat("trim-deploy: ", name, ": a grouped convolution has no sparse path"));
  csr = CsrMatrix::from_dense(weight.to(Device::cpu())).to(weight.device());
}

void DeployedLayer::set_format(Format f) {
  if (f == Format::csr) build_csr();
  format = f;
}

Tensor DeployedLayer::run_as(Format f, const Tensor& x, const Tensor& residual, Epilogue a) const {
  const bool from_caller = residual.defined() || a != Epilogue::none;
  TRIM_CHECK(!from_caller || act == Epilogue::none,
             cat("trim-deploy: ", name, " has an activation fused already and was handed another one or a residual"));
  TRIM_CHECK(conv || !residual.defined(), cat("trim-deploy: ", name, ": a linear layer takes no residual"));
  if (!from_caller) a = act;
  if (f == Format::csr)
    return conv ? sparse_conv2d(x, csr, int(weight_shape[2]), int(weight_shape[3]), bias, params, a, residual)
                : sparse_linear(x, csr, bias, a);
  if (conv) {
    if (!prepared) prepared = std::make_shared<PreparedConv2d>(weight, bias, params);
    return prepared->forward(x, a, residual);
  }
  return activate(linear(x, weight, bias), a);
}

Tensor DeployedLayer::run(const Tensor& x, const Tensor& residual, Epilogue a) const {
  return run_as(format, x, residual, a);
}

int64_t DeployedLayer::nonzeros() const {
  if (csr.values.defined()) return csr.nnz();
  auto v = weight.to_vector<float>();
  return int64_t(std::count_if(v.begin(), v.end(), [](float a) { return a != 0.0f; }));
}

int64_t DeployedLayer::stored_bytes() const {
  int64_t b = bias.defined() ? int64_t(bias.nbytes()) : 0;
  if (format == Format::csr) return b + (weight_shape[0] + 1) * 4 + csr.nnz() * 8;
  return b + int64_t(weight.nbytes());
}

Plan::Plan(std::shared_ptr<Module> model, Device device) : model_(std::move(model)) {
  model_->eval();
  auto names = module_names(*model_);
  if (auto* seq = dynamic_cast<Sequential*>(model_.get())) {
    chain_ = true;
    std::vector<Module*> mods;
    flatten_chain(*seq, mods);
    for (size_t i = 0; i < mods.size(); ++i) {
      Module* m = mods[i];
      if (auto* w = dynamic_cast<WeightedLayer*>(m)) {
        DeployedLayer l = make_layer(*w, names.at(m), device);
        if (i + 1 < mods.size())
          if (auto* bn = dynamic_cast<BatchNorm2d*>(mods[i + 1]); bn && bn->weight.numel() == l.weight_shape[0])
            fold(l, *bn, names.at(bn)), ++i;
        if (i + 1 < mods.size() && dynamic_cast<ReLU*>(mods[i + 1])) l.act = Epilogue::relu, ++i;
        else if (i + 1 < mods.size() && dynamic_cast<ReLU6*>(mods[i + 1])) l.act = Epilogue::relu6, ++i;
        steps_.push_back({int(layers_.size()), nullptr});
        layers_.push_back(std::move(l));
      } else if (!dynamic_cast<Dropout*>(m)) {  // dropout: the identity in eval mode
        steps_.push_back({-1, m});
      }
    }
  } else {
    std::map<std::string, WeightedLayer*> weighted;
    std::map<std::string, size_t> index;
    for (auto& [name, m] : model_->named_modules())
      if (auto* w = dynamic_cast<WeightedLayer*>(m)) {
        weighted[name] = w;
        index[name] = layers_.size();
        layers_.push_back(make_layer(*w, name, device));
      }
    for (auto& [name, m] : model_->named_modules()) {
      auto* bn = dynamic_cast<BatchNorm2d*>(m);
      if (!bn) continue;
      auto it = index.find(producer_name(name));
      if (it == index.end()) continue;
      DeployedLayer& l = layers_[it->second];
      if (!l.conv || !l.folded_bn.empty() || bn->weight.numel() != l.weight_shape[0]) continue;
      fold(l, *bn, name);
      make_identity(*bn);
    }
    // Activations in the Sequentials (MobileNets' conv-BN-ReLU units, VGG's features): fused into
    // the layer whose folded BN (or the layer itself) they follow.
    for (auto& [name, m] : model_->named_modules())
      if (auto* seq = dynamic_cast<Sequential*>(m))
        for (size_t k = 0; k + 1 < seq->size(); ++k) {
          auto* w = dynamic_cast<WeightedLayer*>(&(*seq)[k]);
          auto it = w ? index.find(names.at(w)) : index.end();
          if (it == index.end()) continue;
          DeployedLayer& l = layers_[it->second];
          size_t next = k + 1;
          if (auto* bn = dynamic_cast<BatchNorm2d*>(&(*seq)[next])) {
            if (!bn->folded || l.folded_bn != names.at(bn)) continue;  // a BN that stays: the activation stays after it
            if (++next == seq->size()) continue;
          }
          if (auto* r = dynamic_cast<ReLU*>(&(*seq)[next]))
            l.act = Epilogue::relu, r->folded = true;
          else if (auto* r6 = dynamic_cast<ReLU6*>(&(*seq)[next]))
            l.act = Epilogue::relu6, r6->folded = true;
        }
    for (size_t i = 0; i < layers_.size(); ++i)
      static_cast<WeightedLayer*>(layers_[i].module)->deployed = [this, i](const Tensor& x, const Tensor& r, Epilogue a) {
        return run_layer(i, x, r, a);
      };
  }
  inputs_.resize(layers_.size());
}

Plan::~Plan() {
  if (!chain_)
    for (auto& l : layers_) static_cast<WeightedLayer*>(l.module)->deployed = nullptr;
}

Tensor Plan::run_layer(size_t i, const Tensor& x, const Tensor& residual, Epilogue act) {
  if (capture_) inputs_[i] = {x, residual, act};
  return layers_[i].run(x, residual, act);
}

Tensor Plan::forward(const Tensor& x) {
  if (!chain_) return model_->forward(x);
  Tensor y = x;
  for (const Step& s : steps_) y = s.layer >= 0 ? run_layer(size_t(s.layer), y) : s.other->forward(y);
  return y;
}

nlohmann::json Plan::steps_json() const {
  if (!chain_) return nullptr;
  auto names = module_names(*model_);
  nlohmann::json out = nlohmann::json::array();
  for (const Step& s : steps_) {
    if (s.layer >= 0) {
      const DeployedLayer& l = layers_[size_t(s.layer)];
      nlohmann::json j = {{"op", l.conv ? "conv2d" : "linear"}, {"layer", l.name}, {"act", act_name(l.act)}};
      if (l.conv)
        j.update({{"stride", {l.params.stride_h, l.params.stride_w}}, {"padding", {l.params.pad_h, l.params.pad_w}},
                  {"dilation", {l.params.dil_h, l.params.dil_w}}, {"groups", l.params.groups}});
      out.push_back(j);
    } else if (auto* p = dynamic_cast<MaxPool2d*>(s.other)) {
      out.push_back({{"op", "max_pool2d"}, {"kernel", {p->params.kernel_h, p->params.kernel_w}},
                     {"stride", {p->params.stride_h, p->params.stride_w}}, {"padding", {p->params.pad_h, p->params.pad_w}}});
    } else if (auto* a = dynamic_cast<AvgPool2d*>(s.other)) {
      out.push_back({{"op", "avg_pool2d"}, {"kernel", {a->params.kernel_h, a->params.kernel_w}},
                     {"stride", {a->params.stride_h, a->params.stride_w}}, {"padding", {a->params.pad_h, a->params.pad_w}}});
    } else if (auto* ad = dynamic_cast<AdaptiveAvgPool2d*>(s.other)) {
      out.push_back({{"op", "adaptive_avg_pool2d"}, {"size", ad->size}});
    } else if (dynamic_cast<Flatten*>(s.other)) {
      out.push_back({{"op", "flatten"}});
    } else if (dynamic_cast<ReLU*>(s.other)) {
      out.push_back({{"op", "relu"}});
    } else if (dynamic_cast<ReLU6*>(s.other)) {
      out.push_back({{"op", "relu6"}});
    } else if (auto* bn = dynamic_cast<BatchNorm2d*>(s.other)) {
      out.push_back({{"op", "batch_norm"}, {"module", names.at(bn)}, {"eps", bn->eps}});
    } else {
      out.push_back({{"op", "module"}, {"module", names.at(s.other)}});  // no script rebuilds this one
    }
  }
  return out;
}

double relative_difference(const Tensor& a, const Tensor& b) {
  auto x = a.to_vector<float>(), y = b.to_vector<float>();
  TRIM_CHECK(x.size() == y.size(), "relative_difference: sizes differ");
  double diff = 0.0, mag = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    diff = std::max(diff, std::abs(double(x[i]) - double(y[i])));
    mag = std::max(mag, std::abs(double(x[i])));
  }
  return mag > 0.0 ? diff / mag : diff;
}

}  // namespace trim::deploy
