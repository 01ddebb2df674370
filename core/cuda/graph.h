#pragma once
// CUDA graphs of a region of the calling thread's stream, as the rest of trim sees them (no CUDA
// types). core/optim/step_graph.h captures a whole training step with it.
//
// Memory under capture. trim's allocator is CUDA's stream-ordered one (cudaMallocAsync on the
// device's default pool, core/cuda/runtime.h). During a capture, cudaMallocAsync on the capturing
// stream does not allocate: it adds an allocation node, whose memory comes from CUDA's separate
// graph memory pool and keeps one fixed address for the graph's lifetime, so replays find every
// temporary where the capture put it, and eager work never receives that memory. cudaFreeAsync
// on the capturing stream adds a free node and must be given a graph allocation. So, while a
// capture is active, the allocator (malloc_on / free_on) keeps a list: allocations on the
// capturing stream are recorded; a free of one of them becomes its free node; a free of memory
// that predates the capture (the previous step's last tensors) is held back and done on its
// stream once the capture has ended. A region that still holds memory it allocated when it ends
// cannot be replayed (the next replay would allocate that memory again while the caller still
// uses it): Graph refuses it with an error.
#include <cstddef>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"

namespace trim::cuda {

// Thrown by Graph when the captured region keeps memory it allocated: a bug in the captured code,
// and the tensors holding that memory point at a discarded graph's addresses, so a caller must not
// go on as if nothing happened.
class CaptureLeak : public Error {
 public:
  using Error::Error;
};

// One captured region, instantiated and replayable.
class Graph {
 public:
  // Captures what `body` enqueues on the calling thread's stream (cudaStreamCaptureModeThreadLocal:
  // only the calling thread is barred from calls that would synchronise or allocate outside stream
  // order; the data loader's threads go on copying batches on their own streams meanwhile). Nothing
  // runs while capturing. One capture at a time in the process. Throws trim::Error, with the
  // capture ended and discarded, when `body` throws (its error passes through) or CUDA refuses the
  // capture (a synchronising call inside it: the message names CUDA's error); throws CaptureLeak
  // when the region keeps memory it allocated.
  explicit Graph(const std::function<void()>& body);
  ~Graph();  // waits for the last launch, then destroys the graph
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  // Enqueues one replay on the calling thread's stream (the stream it was captured on). Returns
  // at once; the replay reads device memory as it is when it runs.
  void launch();
  size_t nodes() const { return nodes_; }

 private:
  void* graph_ = nullptr;  // cudaGraph_t
  void* exec_ = nullptr;   // cudaGraphExec_t
  void* stream_ = nullptr; // the capturing stream (cudaStream_t)
  int device_ = -1;
  size_t nodes_ = 0;
  std::vector<std::pair<void*, void*>> held_;  // older memory freed during the capture, and its stream
};

// The allocator's side of a capture (called by core/cuda/runtime.cu only; never throw).
namespace capture {
// `p` (`bytes` bytes) was just allocated on `stream`.
void note_alloc(void* p, size_t bytes, void* stream) noexcept;
// Frees `p` (last used on `stream`) with cudaFreeAsync, or, when it predates a capture running on
// that stream, holds the free back until the capture ends.
void free_async(void* p, void* stream) noexcept;
}  // namespace capture

}  // namespace trim::cuda
