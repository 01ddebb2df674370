#pragma once
// The CUDA runtime as the rest of trim sees it: plain C++ signatures, no CUDA types, so .cpp files
// of a CUDA build can call it. Every call checks its CUDA status and throws trim::Error on failure.
#include <cstddef>

namespace trim::cuda {

int device_count();  // 0 on any error (no driver, no device); never throws
void set_device(int index);
int current_device();

// Stream-ordered allocations on the calling thread's current stream (see context.h).
void* malloc_async(size_t bytes);
void free_async(void* p) noexcept;  // also runs from destructors during shutdown
void* malloc_host(size_t bytes);
void free_host(void* p) noexcept;

// Copies between host and device memory on the current stream; returns after the copy has
// finished whenever host memory is involved, so host buffers may be reused at once.
void memcpy(void* dst, bool dst_cuda, const void* src, bool src_cuda, size_t bytes);
void memset_zero(void* p, size_t bytes);
void synchronize();  // waits for the current stream

// Uploads a small host struct to a device buffer in stream order without blocking the host:
// staged through pinned memory, which is reused only once its previous copy has completed.
class Uploader {
 public:
  explicit Uploader(size_t bytes);
  ~Uploader();
  Uploader(const Uploader&) = delete;
  Uploader& operator=(const Uploader&) = delete;
  void upload(void* device_dst, const void* src);

 private:
  static constexpr int kSlots = 4;
  size_t bytes_;
  void* pinned_ = nullptr;      // kSlots staging buffers
  void* done_[kSlots] = {};     // cudaEvent_t recorded after each slot's copy
  int next_ = 0;
};

// Math options (see device.h: set_tf32, set_cudnn_deterministic).
void set_tf32(bool conv, bool matmul);
bool conv_tf32();
bool matmul_tf32();
void set_deterministic(bool on);
bool deterministic();
void set_benchmark(bool on);
bool benchmark();

// Bytes the current device's pool holds but no tensor uses (free to reuse without the driver).
size_t pool_cached_bytes();

}  // namespace trim::cuda
