#pragma once
#include <functional>
#include <initializer_list>
#include <memory>
#include <vector>

#include "core/tensor.h"

namespace trim {

// Where the gradient of one op input goes: into the node that produced it, or into a leaf's
// grad(). Neither means the input needs no gradient. Edges never hold non-leaf tensors, so an
// op's inputs are freed as soon as nothing else uses them; what backward needs it saves itself.
struct Edge {
  std::shared_ptr<Node> node;
  std::shared_ptr<TensorImpl> leaf;
  Shape shape;  // the input's shape, to check what backward returns
  bool needed() const { return node || leaf; }
};

// One recorded op. `backward` maps the gradient of the op's output to one gradient per input
// (same order as `next`); it may return an undefined tensor where need[i] is false.
struct Node {
  using Backward = std::function<std::vector<Tensor>(const Tensor& grad_out, const std::vector<bool>& need)>;
  const char* name = "";
  std::vector<Edge> next;
  Backward backward;  // released after it runs, freeing the saved tensors
};

// True when an op over these inputs must be recorded: grad mode is on and one input requires grad.
bool any_requires_grad(std::initializer_list<const Tensor*> inputs);

// Records `out` as the result of op `name` over `inputs` (undefined inputs are skipped as
// not-needing grad). Call only when any_requires_grad() was true.
void record(Tensor& out, const char* name, std::initializer_list<const Tensor*> inputs, Node::Backward fn);

// Runs backpropagation from `root`, seeding it with `grad` (ones for a scalar root when
// undefined), and accumulates into the grad() of every leaf that requires grad. Frees the graph.
void run_backward(const Tensor& root, const Tensor& grad = Tensor());

}  // namespace trim
