#pragma once
// The CUDA runtime as the rest of trim sees it: plain C++ signatures, no CUDA types, so .cpp files
// of a CUDA build can call it. Every call checks its CUDA status and throws trim::Error on failure.
// Streams appear as void* (a cudaStream_t).
//
// Devices are passed as DeviceIndex and copy endpoints as Location, never as bare ints or bools:
// select.cu once passed `false, true` for "host, device" after memcpy had switched to device
// numbers, and both converted silently to devices 0 and 1. test/unit/test_cuda_api_types.cpp
// proves such calls no longer compile.
#include <concepts>
#include <cstddef>
#include <cstdint>

namespace trim::cuda {

// A CUDA device number. Made implicitly from an int and from nothing else: a bool, a char, an
// unsigned or a 64-bit integer where a device is expected is a compile error. Its range is checked
// where it is used (index 0..15, else trim::Error).
class DeviceIndex {
 public:
  template <std::same_as<int> I>
  constexpr DeviceIndex(I index) : value_(index) {}  // NOLINT(google-explicit-constructor): int only
  constexpr int value() const { return value_; }

 private:
  int value_;
};

// One side of a copy: host memory (pageable or pinned) or the memory of one CUDA device. Made
// only by Location::host() or from a DeviceIndex, so an int cannot mean "the host" by convention.
class Location {
 public:
  static constexpr Location host() { return Location(); }
  constexpr Location(DeviceIndex device) : host_(false), device_(device.value()) {}  // NOLINT: a device is a location
  constexpr bool is_host() const { return host_; }
  constexpr int device() const { return device_; }  // meaningful when !is_host()

 private:
  constexpr Location() = default;
  bool host_ = true;
  int device_ = 0;
};

int device_count();  // 0 on any error (no driver, no device); never throws
// Kernels trim itself launched from the calling thread so far (every launch site ends in
// TRIM_KERNEL_CHECK). Tests use it to show that an optimizer step is one launch.
uint64_t kernel_launches();
void set_device(DeviceIndex index);
int current_device();  // cached per thread: no driver call once known

// Makes `index` the calling thread's device for the guard's lifetime (no driver call when it
// already is).
class DeviceGuard {
 public:
  explicit DeviceGuard(DeviceIndex index);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int prev_;
};

// The compute stream of `device` (created on first use; safe from any thread).
void* compute_stream(DeviceIndex device);

// Throws a clear error unless `index` is the calling thread's current device (every CUDA kernel
// dispatch checks this: a kernel launched on another device's stream would fault or race).
void check_current_device(DeviceIndex index, const char* kernel);

// Stream-ordered allocations. malloc_on: on `device`, ordered on the calling thread's stream when
// `device` is current (a StreamGuard's stream, else the compute stream), else on that device's
// compute stream; *stream receives the stream used, and free_on must be given the stream the
// memory is ordered on when it is freed (the one it was last used on). free_on never throws (it
// also runs from destructors during shutdown); a null stream means the device's compute stream.
void* malloc_on(DeviceIndex device, size_t bytes, void** stream);
void free_on(DeviceIndex device, void* p, void* stream) noexcept;
void* malloc_host(size_t bytes);

// Device memory for the duration of one call on the current device, ordered on the calling
// thread's stream (convolution workspaces, reduction partials).
class Scratch {
 public:
  explicit Scratch(size_t bytes);
  ~Scratch();
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  void* get() const { return ptr_; }
  template <class T>
  T* as() const { return static_cast<T*>(ptr_); }
  size_t bytes() const { return bytes_; }

 private:
  size_t bytes_;
  int device_ = -1;
  void* ptr_ = nullptr;
  void* stream_ = nullptr;
};
void free_host(void* p) noexcept;

// Copies `bytes` bytes between host memory and device memory. Host <-> device copies run on the
// device's stream (the caller's when current) and return once finished, so host buffers may be
// reused at once. Device <-> device copies across GPUs are ordered after the work queued on both
// compute streams, and later work on either stream is ordered after the copy. Host <-> host is
// refused (use std::memcpy). Element-typed code copies through trim::copy_bytes or Tensor.
void memcpy(void* dst, Location dst_side, const void* src, Location src_side, size_t bytes);
void memset_zero(DeviceIndex device, void* p, size_t bytes);
void synchronize(DeviceIndex device);  // waits for the device's compute stream (and the caller's stream)

// Fills every new CUDA allocation with 0xFF bytes (NaN for f32) so a kernel that leaves part of
// its output unwritten is caught by a comparison. Off by default; tests turn it on; also on with
// the environment variable TRIM_CUDA_POISON=1.
void set_poison_allocations(bool on);

// Uploads a small host struct to a device buffer in stream order without blocking the host:
// staged through pinned memory, which is reused only once its previous copy has completed.
class Uploader {
 public:
  explicit Uploader(size_t bytes);
  ~Uploader();
  Uploader(const Uploader&) = delete;
  Uploader& operator=(const Uploader&) = delete;
  void upload(void* device_dst, const void* src);

  static constexpr int kSlots = 4;

 private:
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
void set_channels_last(bool on);
bool channels_last();
// Convolution calls (forward, backward-data, backward-filter) that ran on channels-last operands
// since the process started (conv.cu): for tests and benchmarks.
int64_t channels_last_calls();

// Bytes the current device's pool holds but no tensor uses (free to reuse without the driver).
size_t pool_cached_bytes();

}  // namespace trim::cuda
