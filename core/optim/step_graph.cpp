#include "core/optim/step_graph.h"

#include <utility>

#include "core/log.h"
#include "core/random/generator.h"
#include "core/text.h"

#ifdef TRIM_HAVE_CUDA
#include "core/cuda/check.h"
#include "core/cuda/graph.h"
#include "core/cuda/runtime.h"
#else
namespace trim::cuda {
// A build without CUDA has no graphs: graph_refusal refuses every device such a build has, so no
// StepGraph ever holds one. The empty types only let the unique_ptrs compile.
class Graph {
 public:
  void launch() {}
  size_t nodes() const { return 0; }
};
class Uploader {
 public:
  void upload(void*, const void*) {}
};
}  // namespace trim::cuda
#endif

namespace trim {

GraphRequest graph_request(Device device, std::string method, bool method_graph_safe, int64_t world) {
  GraphRequest r;
  r.device = device;
  r.method = std::move(method);
  r.method_graph_safe = method_graph_safe;
  r.world = world;
#ifdef TRIM_HAVE_CUDA
  r.sync_each_call = cuda::sync_each_call();
#endif
  return r;
}

std::string graph_refusal(const GraphRequest& r) {
  if (!r.device.is_cuda()) return cat("the device is ", r.device.str(), " (CUDA graphs need a CUDA device)");
  if (r.world > 1)
    return cat("data-parallel training over ", r.world,
               " ranks all-reduces gradient buckets from hooks during backward (NCCL calls a capture does not "
               "hold)");
  if (!r.method_graph_safe)
    return cat("the method '", r.method,
               "' changes its step between steps (masks, schedules or host state that a replay would not see)");
  if (r.sync_each_call) return "TRIM_CUDA_SYNC=1 synchronises after every launch, which a capture forbids";
  return "";
}

StepGraph::StepGraph(SgdBase& opt, std::function<void()> body, std::string what, const std::string& refusal)
    : opt_(opt), body_(std::move(body)), what_(std::move(what)) {
  if (!refusal.empty()) fall_back(refusal);
}

StepGraph::~StepGraph() = default;

void StepGraph::fall_back(const std::string& why) {
  graph_.reset();
  fallback_ = why;
  log_info(cat(what_, ": not captured as a CUDA graph, every step runs eagerly: ", why));
}

void StepGraph::run() {
  opt_.stage_scalars();  // before a replay as before an eager step: the update reads them
  if (graph_ && opt_.table_builds() != builds_at_capture_)
    fall_back("the optimizer rebuilt its parameter tables after the capture (its rule parameters changed)");
  if (graph_ && random_blocks_ > 0 && default_generator().seed() != random_seed_)
    fall_back("the random generator was reseeded after the capture (the graph's keys hold the old seed)");
  if (graph_) {
    launch();
    return;
  }
  if (fallback_.empty() && eager_steps_ >= kWarmupSteps) {
    capture();
    if (graph_) {
      // The captured step did not run while it was captured: this is that step. Its first launch
      // is where the graph's memory is first backed: if that fails (out of memory), the step runs
      // eagerly instead, from the same generator position.
      Generator& gen = default_generator();
      const uint64_t seed = gen.seed(), offset = gen.offset();
      try {
        launch();
        return;
      } catch (const Error& e) {
        gen.set_state(seed, offset);
        fall_back(cat("its first replay failed: ", e.what()));
      }
    }
  }
  body_();
  ++eager_steps_;
}

void StepGraph::launch() {
  if (random_blocks_ > 0) {
    // This step's draws start where an eager step's would: the word is written in stream order,
    // after the previous replay has read it; the generator moves on as the eager draws would move it.
    Generator& gen = default_generator();
    const uint64_t base = gen.offset();
    base_uploader_->upload(random_base_.raw_data(), &base);
    gen.advance(random_blocks_);
  }
  graph_->launch();
}

void StepGraph::capture() {
#ifdef TRIM_HAVE_CUDA
  if (!opt_.device().is_cuda()) {  // callers pass graph_refusal's reason; this guards the others
    fall_back(cat("the step runs on ", opt_.device().str(), ", not on a GPU"));
    return;
  }
  Generator& gen = default_generator();
  if (!random_base_.defined()) {  // allocated outside the capture, once; its address never changes
    random_base_ = Tensor::empty(Shape{int64_t(sizeof(uint64_t))}, DType::u8, opt_.device());
    base_uploader_ = std::make_unique<cuda::Uploader>(sizeof(uint64_t));
  }
  const uint64_t draws = thread_random_draws();
  const uint64_t builds = opt_.table_builds();
  std::unique_ptr<cuda::Graph> g;
  Generator::Captured drawn;
  gen.begin_capture(static_cast<const uint64_t*>(random_base_.raw_data()));
  try {
    g = std::make_unique<cuda::Graph>(body_);
    drawn = gen.end_capture();
  } catch (const cuda::CaptureLeak&) {
    (void)gen.end_capture();
    throw;  // a bug in the captured code, not a fallback case (see CaptureLeak)
  } catch (const Error& e) {
    // Nothing ran: end_capture puts the generator back, so the eager step that replaces the
    // capture draws the numbers an eager run would.
    (void)gen.end_capture();
    fall_back(e.what());
    return;
  } catch (...) {
    (void)gen.end_capture();
    throw;
  }
  if (thread_random_draws() - draws != drawn.draws) {
    fall_back("the step draws random numbers from another generator than the default one, and a replay would "
              "repeat the numbers it was captured with");
    return;
  }
  graph_ = std::move(g);
  builds_at_capture_ = builds;
  random_blocks_ = drawn.blocks;
  random_seed_ = gen.seed();
  log_info(cat(what_, ": captured as a CUDA graph of ", graph_->nodes(), " nodes after ", eager_steps_,
               " eager steps", random_blocks_ > 0 ? cat(" (", drawn.draws, " random draws per step)") : "",
               "; replayed from now on"));
#else
  fall_back("this build of trim has no CUDA backend");
#endif
}

}  // namespace trim
