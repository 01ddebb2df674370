#include <unordered_map>
#include <vector>

#include "core/autograd/grad_mode.h"
#include "core/autograd/node.h"
#include "core/ops/elementwise.h"

namespace trim {

bool any_requires_grad(std::initializer_list<const Tensor*> inputs) {
  if (!grad_enabled()) return false;
  for (const Tensor* t : inputs)
    if (t && t->defined() && t->requires_grad()) return true;
  return false;
}

void record(Tensor& out, const char* name, std::initializer_list<const Tensor*> inputs, Node::Backward fn) {
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

namespace {

void accumulate_leaf(TensorImpl& leaf, const Tensor& g) {
  if (!leaf.grad.defined())
    leaf.grad = g.clone();  // never alias a gradient another branch may still hold
  else
    add_(leaf.grad, g, 1.0f);
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
    accumulate_leaf(*root.impl(), seed);
    return;
  }

  // Count, for every reachable node, how many edges point at it; a node runs once all of its
  // consumers have run, so its output gradient is complete.
  std::unordered_map<Node*, int> pending;
  std::vector<Node*> stack{root.grad_fn().get()};
  pending[root.grad_fn().get()] = 0;
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next) {
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
    if (g != grads.end()) {
      TRIM_CHECK(n->backward, cat("backward through '", n->name, "' a second time: the graph was already freed"));
      std::vector<bool> need(n->next.size());
      for (size_t i = 0; i < need.size(); ++i) need[i] = n->next[i].needed();
      in_grads = n->backward(g->second, need);
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
        if (gi) accumulate_leaf(*e.leaf, *gi);
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
