#include <unordered_map>
#include <vector>

#include "core/autograd/grad_mode.h"
#include "core/autograd/node.h"
#include "core/kernels/kernels.h"

namespace trim {

Tensor GradRequest::target(size_t i, const Shape& shape, Device device, float* beta) const {
  if (i < into.size() && into[i].defined()) {
    *beta = this->beta(i);
    return into[i];
  }
  *beta = 0.0f;
  return Tensor::empty(shape, DType::f32, device);
}

bool any_requires_grad(std::span<const Tensor* const> inputs) {
  if (!grad_enabled()) return false;
  for (const Tensor* t : inputs)
    if (t && t->defined() && t->requires_grad()) return true;
  return false;
}

bool any_requires_grad(std::initializer_list<const Tensor*> inputs) {
  return any_requires_grad(std::span<const Tensor* const>(inputs.begin(), inputs.size()));
}

void record(std::span<Tensor* const> outputs, const char* name, std::span<const Tensor* const> inputs,
            Node::Backward fn, std::span<const Tensor* const> saved) {
  TRIM_CHECK(!outputs.empty(), cat("record '", name, "': an op without outputs"));
  auto node = std::make_shared<Node>();
  node->name = name;
  node->backward = std::move(fn);
  node->outputs = uint32_t(outputs.size());
  node->next.reserve(inputs.size());
  for (const Tensor* t : inputs) {
    Edge e;
    if (t && t->defined()) {
      e.shape = t->shape();
      if (t->requires_grad()) {
        if (t->grad_fn()) {
          e.node = t->grad_fn();
          e.output = t->impl()->output_nr;
        } else {
          e.leaf = t->impl();
        }
      }
    }
    node->next.push_back(std::move(e));
  }
  node->saved.reserve(saved.size());
  for (const Tensor* t : saved)
    if (t && t->defined()) node->saved.push_back({t->impl()->storage, t->version()});
  for (uint32_t k = 0; k < outputs.size(); ++k) {
    TensorImpl& out = *outputs[k]->impl();
    out.grad_fn = node;
    out.output_nr = k;
    out.requires_grad = true;
  }
}

void record(std::initializer_list<Tensor*> outputs, const char* name, std::initializer_list<const Tensor*> inputs,
            Node::Backward fn, std::initializer_list<const Tensor*> saved) {
  record(std::span<Tensor* const>(outputs.begin(), outputs.size()), name,
         std::span<const Tensor* const>(inputs.begin(), inputs.size()), std::move(fn),
         std::span<const Tensor* const>(saved.begin(), saved.size()));
}

void record(Tensor& out, const char* name, std::span<const Tensor* const> inputs, Node::Backward fn,
            std::span<const Tensor* const> saved) {
  Tensor* outs[] = {&out};
  record(std::span<Tensor* const>(outs), name, inputs, std::move(fn), saved);
}

void record(Tensor& out, const char* name, std::initializer_list<const Tensor*> inputs, Node::Backward fn,
            std::initializer_list<const Tensor*> saved) {
  record(out, name, std::span<const Tensor* const>(inputs.begin(), inputs.size()), std::move(fn),
         std::span<const Tensor* const>(saved.begin(), saved.size()));
}

namespace {

// Adds one contribution `g` to a leaf's gradient. `in_place` says that the op already wrote it
// into the leaf's buffer (the tensor it was offered in GradRequest::into).
void accumulate_leaf(TensorImpl& leaf, const Tensor& g, bool in_place) {
  if (!in_place) {
    if (!leaf.grad.defined()) {
      leaf.grad = g.clone();  // never alias a gradient another branch may still hold
    } else if (!leaf.grad_holds_value) {
      leaf.grad.copy_(g);
    } else {
      check_same_device("backward: gradient accumulation", leaf.grad, g);
      TRIM_DISPATCH(g.device(), add_scaled, leaf.grad, g, 1.0f);
      leaf.grad.bump_version();
    }
  }
  leaf.grad_holds_value = true;
}

// a + b into a new tensor (never in place: either may alias a gradient another branch holds).
Tensor sum_of(const Tensor& a, const Tensor& b) {
  check_same_device("backward: gradient accumulation", a, b);
  Tensor y = Tensor::empty(a.shape(), DType::f32, a.device());
  TRIM_DISPATCH(a.device(), add, a, b, y);
  return y;
}

bool same_tensor(const Tensor& a, const Tensor& b) {
  return a.defined() && b.defined() && a.impl()->storage == b.impl()->storage && a.impl()->offset == b.impl()->offset &&
         a.shape() == b.shape();
}

// The error PyTorch gives too: backward would read memory that no longer holds what the op saw.
void check_saved(const Node& n) {
  for (size_t i = 0; i < n.saved.size(); ++i) {
    const SavedVersion& s = n.saved[i];
    TRIM_CHECK(s.storage->version == s.version,
               cat("backward of '", n.name, "': tensor ", i, " of those it saved for backward was modified in place after '",
                   n.name, "' was recorded (version ", s.version, " when saved, ", s.storage->version,
                   " now); compute on a copy (clone()) or write out of place"));
  }
}

}  // namespace

void run_backward(const Tensor& root, const Tensor& grad) {
  TRIM_CHECK(root.defined(), "backward of an undefined tensor");
  TRIM_CHECK(root.requires_grad(), "backward of a tensor that does not require grad");
  Tensor seed = grad;
  if (!seed.defined()) {
    TRIM_CHECK(root.numel() == 1, cat("backward without a gradient needs a scalar, got shape ", root.shape().str()));
    seed = Tensor::full(root.shape(), 1.0f, DType::f32, root.device());
  }
  check_shape("backward", seed, root.shape(), "grad");

  NoGradGuard no_grad;
  if (!root.grad_fn()) {
    accumulate_leaf(*root.impl(), seed, false);
    if (root.impl()->grad_ready) root.impl()->grad_ready();
    return;
  }

  // Count, for every reachable node, how many edges point at it, whichever output they come from;
  // a node runs once all of its consumers have run, so every one of its output gradients is
  // complete. Count the edges into each leaf too: its gradient is final once all of them have
  // delivered, which is when its hook fires.
  std::unordered_map<Node*, int> pending;
  std::unordered_map<TensorImpl*, int> leaf_pending;
  std::vector<Node*> stack{root.grad_fn().get()};
  pending[root.grad_fn().get()] = 0;
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next) {
      if (e.leaf) ++leaf_pending[e.leaf.get()];
      if (!e.node) continue;
      auto [it, fresh] = pending.try_emplace(e.node.get(), 0);
      ++it->second;
      if (fresh) stack.push_back(e.node.get());
    }
  }

  // Keep the root's graph alive while we walk it. grads[n] holds one gradient per output of n
  // (undefined where none arrived); a node absent from it received no gradient at all.
  std::shared_ptr<Node> keep = root.grad_fn();
  std::unordered_map<Node*, std::vector<Tensor>> grads;
  grads[keep.get()].resize(keep->outputs);
  grads[keep.get()][root.impl()->output_nr] = seed;
  std::vector<Node*> ready{keep.get()};
  while (!ready.empty()) {
    Node* n = ready.back();
    ready.pop_back();
    auto g = grads.find(n);
    std::vector<Tensor> in_grads;
    GradRequest req;
    if (g != grads.end()) {
      TRIM_CHECK(n->backward, cat("backward through '", n->name, "' a second time: the graph was already freed"));
      check_saved(*n);
      size_t k = n->next.size();
      req.need.resize(k);
      req.into.resize(k);
      req.accumulate.resize(k);
      const bool in_place = grads_in_place();
      for (size_t i = 0; i < k; ++i) {
        const Edge& e = n->next[i];
        req.need[i] = e.needed();
        if (!in_place || !e.leaf || !e.leaf->grad.defined()) continue;
        bool repeated = false;  // the same leaf twice among this node's inputs: offer its buffer once
        for (size_t j = 0; j < i; ++j) repeated = repeated || n->next[j].leaf == e.leaf;
        if (repeated) continue;
        req.into[i] = e.leaf->grad;
        req.accumulate[i] = e.leaf->grad_holds_value ? 1 : 0;
      }
      in_grads = n->backward(std::span<const Tensor>(g->second), req);
      grads.erase(g);
      n->backward = nullptr;
      n->saved.clear();
      TRIM_CHECK(in_grads.size() == n->next.size(),
                 cat("'", n->name, "' returned ", in_grads.size(), " gradients for ", n->next.size(), " inputs"));
    }
    for (size_t i = 0; i < n->next.size(); ++i) {
      const Edge& e = n->next[i];
      const Tensor* gi = i < in_grads.size() && in_grads[i].defined() ? &in_grads[i] : nullptr;
      if (gi && e.needed())
        TRIM_CHECK(gi->shape() == e.shape, cat("'", n->name, "' returned a gradient of shape ", gi->shape().str(),
                                               " for input ", i, " of shape ", e.shape.str()));
      if (e.leaf) {
        if (gi) accumulate_leaf(*e.leaf, *gi, i < req.into.size() && same_tensor(*gi, req.into[i]));
        if (--leaf_pending[e.leaf.get()] == 0 && e.leaf->grad_ready) e.leaf->grad_ready();
      } else if (e.node) {
        Node* m = e.node.get();
        if (gi) {
          std::vector<Tensor>& slots = grads[m];
          if (slots.empty()) slots.resize(m->outputs);
          Tensor& slot = slots[e.output];
          slot = slot.defined() ? sum_of(slot, *gi) : *gi;
        }
        if (--pending[m] == 0) ready.push_back(m);
      }
    }
  }
}

void Tensor::backward() const { run_backward(*this); }

}  // namespace trim
