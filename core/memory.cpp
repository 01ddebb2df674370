#include "core/memory.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "core/error.h"
#ifdef TRIM_HAVE_CUDA
#include "core/cuda/runtime.h"
#endif

namespace trim {
namespace {

constexpr int kMaxCudaDevices = 16;

struct Counter {
  std::atomic<int64_t> current{0};
  std::atomic<int64_t> peak{0};
  void add(int64_t n) {
    int64_t now = current.fetch_add(n) + n;
    int64_t p = peak.load();
    while (now > p && !peak.compare_exchange_weak(p, now)) {
    }
  }
};

Counter& counter(Device d) {
  static Counter cpu;
  static Counter gpu[kMaxCudaDevices];
  if (d.is_cpu()) return cpu;
  TRIM_CHECK(d.index >= 0 && d.index < kMaxCudaDevices, cat("bad CUDA device index ", d.index));
  return gpu[d.index];
}

// A training step frees and re-allocates the same few-MB activations every iteration. glibc's
// defaults hand such blocks back to the OS (munmap, or trimming the heap top) and the next step
// page-faults them in again: twice the page faults of a run that keeps them, about 5% of the
// default run's throughput. Keep freed memory in the process instead, as a caching allocator would.
bool keep_freed_host_memory() {
#ifdef __GLIBC__
  mallopt(M_MMAP_THRESHOLD, 256 << 20);  // blocks below 256 MiB come from the heap...
  mallopt(M_TRIM_THRESHOLD, 1 << 30);    // ...which is trimmed only past 1 GiB of free top
#endif
  return true;
}

}  // namespace

void* alloc_bytes(Device d, size_t bytes, HostMemory host, void** stream) {
  if (stream) *stream = nullptr;
  if (bytes == 0) return nullptr;
  void* p = nullptr;
  if (d.is_cpu()) {
    if (host == HostMemory::pinned) {
#ifdef TRIM_HAVE_CUDA
      p = cuda::malloc_host(bytes);
#else
      TRIM_CHECK(false, "pinned memory needs the CUDA backend");
#endif
    } else {
      static const bool kept = keep_freed_host_memory();
      (void)kept;
      p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
      if (!p) throw Error(cat("out of host memory allocating ", bytes, " bytes"));
    }
  } else {
#ifdef TRIM_HAVE_CUDA
    void* used = nullptr;
    p = cuda::malloc_on(d.index, bytes, &used);
    if (stream) *stream = used;
#else
    TRIM_CHECK(false, "this build of trim has no CUDA backend");
#endif
  }
  counter(d).add(int64_t(bytes));
  return p;
}

void free_bytes(Device d, void* p, size_t bytes, HostMemory host, void* stream) noexcept {
  if (!p) return;
  if (d.is_cpu() || (d.index >= 0 && d.index < kMaxCudaDevices)) counter(d).current.fetch_sub(int64_t(bytes));
  if (d.is_cpu()) {
#ifdef TRIM_HAVE_CUDA
    if (host == HostMemory::pinned) return cuda::free_host(p);
#endif
    std::free(p);
  } else {
#ifdef TRIM_HAVE_CUDA
    cuda::free_on(d.index, p, stream);
#endif
  }
}

void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes) {
  if (bytes == 0) return;
  if (dst_dev.is_cpu() && src_dev.is_cpu()) {
    std::memcpy(dst, src, bytes);
    return;
  }
#ifdef TRIM_HAVE_CUDA
  auto side = [](Device d) { return d.is_cuda() ? cuda::Location(d.index) : cuda::Location::host(); };
  cuda::memcpy(dst, side(dst_dev), src, side(src_dev), bytes);
#else
  TRIM_CHECK(false, "this build of trim has no CUDA backend");
#endif
}

void zero_bytes(Device d, void* p, size_t bytes) {
  if (bytes == 0) return;
  if (d.is_cpu()) {
    std::memset(p, 0, bytes);
    return;
  }
#ifdef TRIM_HAVE_CUDA
  cuda::memset_zero(d.index, p, bytes);
#else
  TRIM_CHECK(false, "this build of trim has no CUDA backend");
#endif
}

void* compute_stream(Device d) {
#ifdef TRIM_HAVE_CUDA
  if (d.is_cuda()) return cuda::compute_stream(d.index);
#endif
  return nullptr;
}

MemoryStats memory_stats(Device d) {
  Counter& c = counter(d);
  return {c.current.load(), c.peak.load()};
}

void reset_peak_memory(Device d) {
  Counter& c = counter(d);
  c.peak.store(c.current.load());
}

}  // namespace trim
