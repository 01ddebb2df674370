#pragma once
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <vector>

#include "core/tensor.h"

namespace trim {

// Where the gradient of one op input goes: into output `output` of the node that produced it, or
// into a leaf's grad(). Neither means the input needs no gradient. Edges never hold non-leaf
// tensors, so an op's inputs are freed as soon as nothing else uses them; what backward needs it
// saves itself.
struct Edge {
  std::shared_ptr<Node> node;
  uint32_t output = 0;  // which of node's outputs the input is
  std::shared_ptr<TensorImpl> leaf;
  Shape shape;  // the input's shape, to check what backward returns
  bool needed() const { return node || leaf; }
};

// What a node's backward is asked for, input by input: need[i] says whether input i needs a
// gradient at all. Where input i is a leaf that already has a gradient buffer (e.g. a parameter
// bound to a ParamStore), `into[i]` is that buffer: an op may write its gradient straight into it,
// scaled by beta(i) (0: overwrite, the old content is undefined and must not be read; 1: add to
// it), and return `into[i]` itself, which saves the engine a temporary and an extra pass. Ops that
// ignore `into` return fresh tensors.
struct GradRequest {
  std::vector<bool> need;
  std::vector<Tensor> into;
  std::vector<uint8_t> accumulate;

  bool operator[](size_t i) const { return need[i]; }
  size_t size() const { return need.size(); }
  float beta(size_t i) const { return i < accumulate.size() && accumulate[i] ? 1.0f : 0.0f; }
  // The tensor to write input i's gradient into: into[i] (with *beta = beta(i)) when offered, else
  // a new uninitialised tensor of `shape` on `device` (with *beta = 0).
  Tensor target(size_t i, const Shape& shape, Device device, float* beta) const;
};

// A tensor that an op's backward reads, with its storage's version when the op was recorded. The
// engine compares the versions before running the backward: an in-place write in between (see
// Tensor::bump_version) is an error naming the op, instead of a silently wrong gradient.
struct SavedVersion {
  std::shared_ptr<Storage> storage;
  uint64_t version = 0;
};

// One recorded op with one or more outputs.
struct Node {
  // The one backward signature. `grads` holds one gradient per output, in the order the outputs
  // were recorded; an output that no gradient reached gets an undefined tensor, which the backward
  // must treat as zero (at least one is defined: a node no gradient reached does not run, and a
  // node with one output always receives a defined gradient). Returns one gradient per input (same
  // order as `next`); it may return an undefined tensor where request[i] is false, or where the
  // gradient is zero.
  using Backward = std::function<std::vector<Tensor>(std::span<const Tensor> grads, const GradRequest& request)>;
  const char* name = "";
  std::vector<Edge> next;
  uint32_t outputs = 1;
  std::vector<SavedVersion> saved;
  Backward backward;  // released after it runs, freeing the saved tensors
};

// True when an op over these inputs must be recorded: grad mode is on and one input requires grad.
bool any_requires_grad(std::initializer_list<const Tensor*> inputs);
bool any_requires_grad(std::span<const Tensor* const> inputs);

// Records `outputs` as the results of one op `name` over `inputs` (undefined inputs are skipped as
// not-needing grad). `saved` lists the tensors (inputs, outputs or views of them) that the backward
// captured and reads: their versions are checked before it runs. Call only when
// any_requires_grad() was true. The single-output and span forms serve the common cases.
void record(std::span<Tensor* const> outputs, const char* name, std::span<const Tensor* const> inputs,
            Node::Backward fn, std::span<const Tensor* const> saved = {});
void record(std::initializer_list<Tensor*> outputs, const char* name, std::initializer_list<const Tensor*> inputs,
            Node::Backward fn, std::initializer_list<const Tensor*> saved = {});
void record(Tensor& out, const char* name, std::initializer_list<const Tensor*> inputs, Node::Backward fn,
            std::initializer_list<const Tensor*> saved = {});
void record(Tensor& out, const char* name, std::span<const Tensor* const> inputs, Node::Backward fn,
            std::span<const Tensor* const> saved = {});

// Runs backpropagation from `root`, seeding it with `grad` (ones for a scalar root when
// undefined), and accumulates into the grad() of every leaf that requires grad. Frees the graph.
// A node runs once every consumer of every one of its outputs has run, so all of its output
// gradients are complete. A leaf's gradient-ready hook (Tensor::set_grad_ready_hook) fires exactly
// once per call, right after the leaf's last contribution of this backward has been accumulated.
// Throws, naming the op, when a tensor an op saved was modified in place after it was recorded.
void run_backward(const Tensor& root, const Tensor& grad = Tensor());

}  // namespace trim
