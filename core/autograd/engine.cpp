#include <unordered_map>
#include <vector>

#include "core/autograd/grad_mode.h"
#include "core/autograd/node.h"
#include "core/ops/elementwise.h"

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

void record(Tensor& out, const char* name, std::span<const Tensor* const> inputs, Node::Backward fn) {
  auto node = std::make_shared<Node>();
  node->name = name;
  node->backward = std::move(fn);
  node->next.reserve(inputs.size());
  for (const Tensor* t : inputs) {
    Edge e;
    if (t && t->defined()) {
      e.shape = t->shape();
      if (t->requires_grad()) {
        if (t->grad_fn())
          e.node = t->grad_fn();
        else
          e.leaf = t->impl();
      }
    }
    node->next.push_back(std::move(e));
  }
  out.impl()->grad_fn = std::move(node);
  out.impl()->requires_grad = true;
}

void record(Tensor& out, const char* name, std::initializer_list<const Tensor*> inputs, Node::Backward fn) {
  record(out, name, std::span<const Tensor* const>(inputs.begin(), inputs.size()), std::move(fn));
}

namespace {

// Adds one contribution `g` to a leaf's gradient. `in_place` says that the op already wrote it
// into the leaf's buffer (the tensor it was offered in GradRequest::into).
void accumulate_leaf(TensorImpl& leaf, const Tensor& g, bool in_place) {
  if (!in_place) {
    if (!leaf.grad.defined())
      leaf.grad = g.clone();  // never alias a gradient another branch may still hold
    else if (!leaf.grad_holds_value)
      leaf.grad.copy_(g);
    else
      add_(leaf.grad, g, 1.0f);
  }
  leaf.grad_holds_value = true;
}

bool same_tensor(const Tensor& a, const Tensor& b) {
  return a.defined() && b.defined() && a.impl()->storage == b.impl()->storage && a.impl()->offset == b.impl()->offset &&
         a.shape() == b.shape();
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

  // Count, for every reachable node, how many edges point at it; a node runs once all of its
  // consumers have run, so its output gradient is complete. Count the edges into each leaf too:
  // its gradient is final once all of them have delivered, which is when its hook fires.
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

  // Keep the root's graph alive while we walk it.
  std::shared_ptr<Node> keep = root.grad_fn();
  std::unordered_map<Node*, Tensor> grads;
  grads[keep.get()] = seed;
  std::vector<Node*> ready{keep.get()};
  while (!ready.empty()) {
    Node* n = ready.back();
    ready.pop_back();
    auto g = grads.find(n);
    std::vector<Tensor> in_grads;
    GradRequest req;
    if (g != grads.end()) {
      TRIM_CHECK(n->backward, cat("backward through '", n->name, "' a second time: the graph was already freed"));
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
      in_grads = n->backward(g->second, req);
      grads.erase(g);
      n->backward = nullptr;
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
          auto [it, fresh] = grads.try_emplace(m, *gi);
          if (!fresh) it->second = add(it->second, *gi);  // out of place: *gi may alias another grad
        }
        if (--pending[m] == 0) ready.push_back(m);
      }
    }
  }
}

}  // namespace trim
