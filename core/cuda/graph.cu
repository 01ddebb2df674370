#include <atomic>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/cuda/check.h"
#include "core/cuda/context.h"
#include "core/cuda/graph.h"
#include "core/cuda/runtime.h"
#include "core/text.h"

namespace trim::cuda {
namespace {

using Held = std::vector<std::pair<void*, void*>>;  // (pointer, cudaStream_t)

// The one capture in progress (header: "Memory under capture"). `active` is read without the lock
// on every allocation, so that it pays one atomic load when nothing captures; frees take the lock
// (free_async). Never destroyed: frees may still come during static destruction at exit.
struct CaptureState {
  std::mutex mu;
  std::atomic<bool> active{false};
  cudaStream_t stream = nullptr;
  std::unordered_map<void*, size_t> live;  // graph allocations not yet freed in the capture: bytes
  Held held;                               // frees of older memory, held back
  bool lost = false;                       // a bookkeeping insert failed (out of host memory)
};
CaptureState& g_capture = *new CaptureState;

// What a finished capture leaves: its live allocations and the frees it held back.
struct CaptureEnd {
  size_t live_count = 0, live_bytes = 0;
  bool lost = false;
  Held held;
};

CaptureEnd stop_tracking() {
  std::lock_guard<std::mutex> lock(g_capture.mu);
  CaptureEnd end;
  end.live_count = g_capture.live.size();
  for (const auto& [p, bytes] : g_capture.live) end.live_bytes += bytes;
  end.lost = g_capture.lost;
  end.held = std::move(g_capture.held);
  g_capture.live.clear();
  g_capture.held.clear();
  g_capture.stream = nullptr;
  g_capture.lost = false;
  g_capture.active.store(false, std::memory_order_release);
  return end;
}

// Frees memory whose free a capture held back, on the stream it was last used on (errors are
// dropped, as free_on drops them: nothing can be done about them here).
void free_held(const Held& held) noexcept {
  for (const auto& [p, s] : held)
    if (cudaFreeAsync(p, static_cast<cudaStream_t>(s)) != cudaSuccess) (void)cudaGetLastError();
}

}  // namespace

namespace capture {

void note_alloc(void* p, size_t bytes, void* stream) noexcept {
  if (!g_capture.active.load(std::memory_order_acquire)) return;
  std::lock_guard<std::mutex> lock(g_capture.mu);
  if (!g_capture.active.load(std::memory_order_relaxed) || stream != g_capture.stream) return;
  try {
    g_capture.live.emplace(p, bytes);
  } catch (...) {
    g_capture.lost = true;
  }
}

void free_async(void* p, void* stream) noexcept {
  // Under the lock whether or not a capture is active: a capture cannot begin between the check
  // and the free (a loader thread's free of older memory on the compute stream, landing inside a
  // capture that had just begun, would invalidate it).
  std::lock_guard<std::mutex> lock(g_capture.mu);
  if (g_capture.active.load(std::memory_order_relaxed) && stream == g_capture.stream && g_capture.live.erase(p) == 0) {
    try {
      g_capture.held.emplace_back(p, stream);  // older memory: freed once the capture has ended
    } catch (...) {
      g_capture.lost = true;  // leaked rather than freed inside the capture (which would break it)
    }
    return;
  }
  if (cudaFreeAsync(p, static_cast<cudaStream_t>(stream)) != cudaSuccess) (void)cudaGetLastError();
}

}  // namespace capture

Graph::Graph(const std::function<void()>& body) {
  cudaStream_t s = stream();
  device_ = current_device();
  // The graph's temporaries get physical memory of their own (the graph pool): first give back
  // what the eager steps' pool (the device's current pool, which cudaMallocAsync uses) caches
  // beyond its live tensors, so that the two do not hold the step's peak twice. Before the
  // capture is marked active, so frees during the wait are not held back for the graph's life.
  cudaMemPool_t pool = nullptr;
  if (cudaDeviceGetMemPool(&pool, device_) == cudaSuccess && cudaStreamSynchronize(s) == cudaSuccess)
    (void)cudaMemPoolTrimTo(pool, 0);
  (void)cudaGetLastError();
  {
    std::lock_guard<std::mutex> lock(g_capture.mu);
    TRIM_CHECK(!g_capture.active.load(std::memory_order_relaxed),
               "CUDA graph: another capture is in progress (one at a time per process)");
    g_capture.stream = s;
    g_capture.active.store(true, std::memory_order_release);
  }
  const cudaError_t begun = cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
  if (begun != cudaSuccess) {
    (void)cudaGetLastError();
    free_held(stop_tracking().held);
    throw Error(cat("CUDA graph: cudaStreamBeginCapture: ", cudaGetErrorString(begun)));
  }
  // Memory still allocated in the capture when it ends points at addresses no replay backs: the
  // caller must not go on with it, whatever else went wrong (so this is checked first).
  auto leak = [](const CaptureEnd& end, const char* also) {
    return CaptureLeak(cat("CUDA graph: the captured work still holds ", end.live_count, " allocation(s) (",
                           end.live_bytes, " bytes) made during the capture", also,
                           "; a replay would allocate them again while they are in use, so every tensor made "
                           "inside it must be dropped inside it (copy results into buffers allocated before the "
                           "capture)"));
  };
  cudaGraph_t g = nullptr;
  try {
    body();
  } catch (...) {
    if (cudaStreamEndCapture(s, &g) == cudaSuccess && g) (void)cudaGraphDestroy(g);
    (void)cudaGetLastError();
    // Nothing of the discarded capture ever ran, so the held memory is no longer needed.
    CaptureEnd end = stop_tracking();
    free_held(end.held);
    if (end.live_count > 0) throw leak(end, " (and the captured work threw)");
    throw;
  }
  const cudaError_t ended = cudaStreamEndCapture(s, &g);
  if (ended != cudaSuccess) (void)cudaGetLastError();
  CaptureEnd end = stop_tracking();
  auto drop = [&] {
    if (g) (void)cudaGraphDestroy(g);
    (void)cudaGetLastError();
    free_held(end.held);
  };
  auto discard = [&](const std::string& why) {
    drop();
    throw Error(cat("CUDA graph: ", why));
  };
  if (end.live_count > 0) {
    drop();
    throw leak(end, ended != cudaSuccess || !g ? " (and the capture failed)" : "");
  }
  if (ended != cudaSuccess || !g)
    discard(cat("the capture failed (", cudaGetErrorName(ended), ": ", cudaGetErrorString(ended),
                "): the captured work made a call that cannot be captured (a host synchronisation, a "
                "host-to-device copy that waits, an allocation outside stream order)"));
  if (end.lost) discard("out of host memory while tracking the capture's allocations");
  if (cudaGraphGetNodes(g, nullptr, &nodes_) != cudaSuccess) discard("cudaGraphGetNodes failed");
  cudaGraphExec_t exec = nullptr;
  const cudaError_t made = cudaGraphInstantiate(&exec, g, 0);
  if (made != cudaSuccess) discard(cat("cudaGraphInstantiate: ", cudaGetErrorString(made)));
  graph_ = g;
  exec_ = exec;
  stream_ = s;
  // Memory from before the capture that was released during it stays allocated while the graph
  // lives: the graph may read it (freed, it could be handed to eager work that a replay races).
  held_ = std::move(end.held);
}

Graph::~Graph() {
  // A destructor cannot report: failures are dropped, and cleared from the last-error slot.
  int prev = -1;
  if (cudaGetDevice(&prev) != cudaSuccess) prev = -1;
  if (prev != device_) (void)cudaSetDevice(device_);
  (void)cudaStreamSynchronize(static_cast<cudaStream_t>(stream_));
  if (exec_) (void)cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_));
  if (graph_) (void)cudaGraphDestroy(static_cast<cudaGraph_t>(graph_));
  free_held(held_);
  (void)cudaDeviceGraphMemTrim(device_);  // the graph pool's memory back to the device
  (void)cudaGetLastError();
  if (prev >= 0 && prev != device_) (void)cudaSetDevice(prev);
}

void Graph::launch() {
  TRIM_CHECK(stream() == static_cast<cudaStream_t>(stream_) && current_device() == device_,
             "CUDA graph: launched from another stream or device than it was captured on");
  TRIM_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_), static_cast<cudaStream_t>(stream_)));
  TRIM_CUDA_SYNC_POINT();
}

}  // namespace trim::cuda
