#pragma once
// StepGraph: a steady-state training step (forward, backward, the optimizer step) captured once as
// a CUDA graph and replayed, so that the host launches one graph per step instead of hundreds of
// kernels. Shapes, buffers and the work of a step must be the same every step: the caller keeps the
// step's inputs in static device buffers (copies each batch into them before run()) and its outputs
// in static buffers the body writes, and the body ends in SgdBase::step_staged(). What changes from
// step to step on the host (lr, the step number, a rule's scalars) reaches the replay through
// SgdBase::stage_scalars(), which run() calls before every step, eager or replayed; a changing lr
// needs no new capture.
//
// Random numbers (dropout): the body's draws from default_generator() are captured with keys
// relative to a device word (Generator::begin_capture); before each replay run() uploads the
// generator's offset to that word, in stream order, and advances the generator by what one step
// draws. A replay therefore draws fresh numbers, the very numbers the eager step would have drawn,
// and checkpoints see the same generator state either way.
//
// What cannot be captured falls back to eager steps, with one log line saying why: graph_refusal
// before anything is tried (CPU device, data-parallel gradient buckets, a method whose step is not
// static, TRIM_CUDA_SYNC), and, at the capture, a body that draws from another generator than the
// default one (a replay would repeat those numbers) or makes a call CUDA cannot capture.
// core/cuda/graph.h says how memory allocated during the capture is kept for the replays.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/device.h"
#include "core/optim/sgd.h"

namespace trim {

namespace cuda {
class Graph;
class Uploader;
}

// What decides, before any capture, whether a step may be captured.
struct GraphRequest {
  Device device;
  std::string method = "dense";  // the training method, for the message
  bool method_graph_safe = true;  // TrainingMethod::graph_safe()
  int64_t world = 1;              // data-parallel ranks: > 1 all-reduces gradient buckets from hooks in backward
  bool sync_each_call = false;    // TRIM_CUDA_SYNC=1 synchronises after every launch, which no capture allows
};

// A request for `device`, with the process's TRIM_CUDA_SYNC setting.
GraphRequest graph_request(Device device, std::string method, bool method_graph_safe, int64_t world);

// Why the step of `r` cannot be captured (one sentence, for the fallback's log line), or "" when a
// capture may be tried.
std::string graph_refusal(const GraphRequest& r);

class StepGraph {
 public:
  // Eager steps before the capture: the first builds the optimizer's tables, ranks the cuDNN
  // algorithms and allocates lazily made buffers (none of which a capture may do); the second
  // shows the step is in its steady state.
  static constexpr int kWarmupSteps = 2;

  // `body` runs one whole step and ends in `opt.step_staged()`; `what` names the step in log
  // lines. A non-empty `refusal` (graph_refusal) makes every step eager from the start, logged once.
  StepGraph(SgdBase& opt, std::function<void()> body, std::string what, const std::string& refusal = "");
  ~StepGraph();
  StepGraph(const StepGraph&) = delete;
  StepGraph& operator=(const StepGraph&) = delete;

  // One step: opt.stage_scalars(), then the body eagerly (warm-up, or after a fallback), or the
  // capture at the first step after the warm-up followed by a replay, or a replay. Throws
  // cuda::CaptureLeak (core/cuda/graph.h) when the body keeps memory it allocated while captured.
  void run();
  // Whether steps are replayed from the graph (false while warming up and after a fallback).
  bool replaying() const { return graph_ != nullptr; }
  // Why steps run eagerly for good ("" while a graph is used or may still be captured).
  const std::string& fallback() const { return fallback_; }

 private:
  void capture();
  void launch();  // stages the random base, then replays
  void fall_back(const std::string& why);

  SgdBase& opt_;
  std::function<void()> body_;
  std::string what_;
  std::string fallback_;
  int eager_steps_ = 0;
  uint64_t builds_at_capture_ = 0;  // opt_.table_builds() when captured
  std::unique_ptr<cuda::Graph> graph_;
  // The body's random draws: the device word their keys are relative to, how it is set, and the
  // blocks one step reserves and under which seed (0 blocks: the body draws nothing).
  Tensor random_base_;
  std::unique_ptr<cuda::Uploader> base_uploader_;
  uint64_t random_blocks_ = 0, random_seed_ = 0;
};

}  // namespace trim
