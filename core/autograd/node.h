#pragma once
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
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

// What a node's backward is asked for, input by input. Where input i is a leaf that already has a
// gradient buffer (e.g. a parameter bound to a ParamStore), `into[i]` is that buffer: an op may
// write its gradient straight into it, scaled by beta(i) (0: overwrite, the old content is
// undefined and must not be read; 1: add to it), and return `into[i]` itself, which saves the
// engine a temporary and an extra pass. Ops that ignore `into` return fresh tensors as before.
struct GradRequest {
  std::vector<bool> need;
  std::vector<Tensor> into;
  std::vector<uint8_t> accumulate;

  bool operator[](size_t i) const { return need[i]; }
  size_t size() const { return need.size(); }
  operator const std::vector<bool>&() const { return need; }  // backwards that only ask what is needed
  float beta(size_t i) const { return accumulate[i] ? 1.0f : 0.0f; }
  // The tensor to write input i's gradient into: into[i] (with *beta = beta(i)) when offered, else
  // a new uninitialised tensor of `shape` on `device` (with *beta = 0).
  Tensor target(size_t i, const Shape& shape, Device device, float* beta) const;
};

// One recorded op. `backward` maps the gradient of the op's output to one gradient per input
// (same order as `next`); it may return an undefined tensor where need[i] is false.
struct Node {
  using Backward = std::function<std::vector<Tensor>(const Tensor& grad_out, const GradRequest& request)>;
  const char* name = "";
  std::vector<Edge> next;
  Backward backward;  // released after it runs, freeing the saved tensors
};

// True when an op over these inputs must be recorded: grad mode is on and one input requires grad.
bool any_requires_grad(std::initializer_list<const Tensor*> inputs);
bool any_requires_grad(std::span<const Tensor* const> inputs);

// Records `out` as the result of op `name` over `inputs` (undefined inputs are skipped as
// not-needing grad). Call only when any_requires_grad() was true. The span form serves ops with a
// run-time number of inputs.
void record(Tensor& out, const char* name, std::initializer_list<const Tensor*> inputs, Node::Backward fn);
void record(Tensor& out, const char* name, std::span<const Tensor* const> inputs, Node::Backward fn);

// Runs backpropagation from `root`, seeding it with `grad` (ones for a scalar root when
// undefined), and accumulates into the grad() of every leaf that requires grad. Frees the graph.
// A leaf's gradient-ready hook (Tensor::set_grad_ready_hook) fires exactly once per call, right
// after the leaf's last contribution of this backward has been accumulated.
void run_backward(const Tensor& root, const Tensor& grad = Tensor());

}  // namespace trim
