#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "core/cuda/check.h"
#include "core/cuda/context.h"
#include "core/cuda/graph.h"
#include "core/cuda/runtime.h"
#include "core/log.h"
#include "core/memory.h"

namespace trim::cuda {
namespace {

constexpr int kMaxDevices = 16;

struct DeviceState {
  std::once_flag once, blas_once, dnn_once;
  // Written once inside call_once; atomic so the no-throw free path may read it from any thread
  // without having gone through the once_flag.
  std::atomic<cudaStream_t> stream{nullptr};
  cublasHandle_t cublas = nullptr;
  void* cublas_workspace = nullptr;  // the handle's for the process's lifetime, as the handle
  cudnnHandle_t cudnn = nullptr;
  int sms = 0;
  std::atomic<int> blas_math{-1};  // the math mode last set on the cuBLAS handle
};

DeviceState g_devices[kMaxDevices];
// The calling thread's device (-1: not asked yet) and its initialised state. Every launch asks
// for the stream; caching both keeps cudaGetDevice and call_once out of that path.
thread_local int t_device = -1;
thread_local DeviceState* t_state = nullptr;
thread_local cudaStream_t t_stream_override = nullptr;
bool g_conv_tf32 = true, g_matmul_tf32 = false, g_deterministic = true, g_benchmark = false, g_channels_last = true;

bool env_on(const char* name) {
  const char* v = std::getenv(name);
  return v && v[0] != '\0' && std::strcmp(v, "0") != 0;
}
const bool g_sync_each_call = env_on("TRIM_CUDA_SYNC");
std::atomic<bool> g_poison{env_on("TRIM_CUDA_POISON")};

void check_index(int d) { TRIM_CHECK(d >= 0 && d < kMaxDevices, cat("CUDA device index ", d, " not supported")); }

// Creates device d's compute stream and pool settings on first use; d must be current. The pool
// keeps freed memory (release threshold = max) so steady-state steps never return to the driver.
// Library handles are created separately, on first use, so a problem loading cuDNN only affects
// cuDNN's ops.
DeviceState& init_state(int d) {
  check_index(d);
  DeviceState& s = g_devices[d];
  std::call_once(s.once, [&] {
    cudaStream_t st = nullptr;
    TRIM_CUDA_CHECK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    cudaMemPool_t pool;
    TRIM_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, d));
    uint64_t threshold = UINT64_MAX;
    TRIM_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold));
    TRIM_CUDA_CHECK(cudaDeviceGetAttribute(&s.sms, cudaDevAttrMultiProcessorCount, d));
    s.stream.store(st, std::memory_order_release);
  });
  return s;
}

DeviceState& state() {
  if (!t_state) t_state = &init_state(current_device());
  return *t_state;
}

// The no-throw device switch of the free path (no driver call when `d` is already current).
struct QuietDeviceGuard {
  explicit QuietDeviceGuard(int d) : target(d) {
    prev = t_device;
    if (prev < 0 && cudaGetDevice(&prev) != cudaSuccess) {
      (void)cudaGetLastError();
      prev = -1;
    }
    if (prev != d && cudaSetDevice(d) != cudaSuccess) (void)cudaGetLastError();
  }
  ~QuietDeviceGuard() {
    if (prev >= 0 && prev != target && cudaSetDevice(prev) != cudaSuccess) (void)cudaGetLastError();
  }
  int target, prev = -1;
};

void poison(void* p, size_t bytes, cudaStream_t s) {
  if (g_poison.load(std::memory_order_relaxed)) TRIM_CUDA_CHECK(cudaMemsetAsync(p, 0xFF, bytes, s));
}

[[noreturn]] void out_of_memory(int device, size_t bytes) {
  MemoryStats m = memory_stats(Device::cuda(device));
  throw Error(cat("CUDA out of memory allocating ", bytes, " bytes on cuda:", device, " (tensors hold ", m.current,
                  " bytes, peak ", m.peak, ")"));
}

void* malloc_on_stream(int device, size_t bytes, cudaStream_t s) {
  void* p = nullptr;
  cudaError_t e = cudaMallocAsync(&p, bytes, s);
  if (e == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    out_of_memory(device, bytes);
  }
  TRIM_CUDA_CHECK(e);
  capture::note_alloc(p, bytes, s);  // under a CUDA graph capture: a graph allocation (core/cuda/graph.h)
  poison(p, bytes, s);
  return p;
}

}  // namespace

bool sync_each_call() { return g_sync_each_call; }

namespace {
thread_local uint64_t t_launches = 0;
}
void count_launch() noexcept { ++t_launches; }
uint64_t kernel_launches() { return t_launches; }

void sync_check(const char* file, int line) {
  cudaError_t e = cudaDeviceSynchronize();
  if (e != cudaSuccess) {
    (void)cudaGetLastError();  // reported here, not again at the next launch check
    fail_at(file, line, cat("TRIM_CUDA_SYNC: the work queued by this call failed: ", cudaGetErrorString(e)));
  }
}

const char* cublas_status_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "unknown cuBLAS status";
  }
}

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

void set_device(DeviceIndex device) {
  const int index = device.value();
  check_index(index);
  if (index == t_device) return;
  TRIM_CUDA_CHECK(cudaSetDevice(index));
  t_device = index;
  t_state = nullptr;
}

int current_device() {
  if (t_device < 0) {
    int d = 0;
    TRIM_CUDA_CHECK(cudaGetDevice(&d));
    t_device = d;
  }
  return t_device;
}

DeviceGuard::DeviceGuard(DeviceIndex index) : prev_(current_device()) { set_device(index); }
DeviceGuard::~DeviceGuard() {
  if (prev_ == t_device) return;
  if (cudaSetDevice(prev_) == cudaSuccess) {
    t_device = prev_;
    t_state = nullptr;
  } else {
    (void)cudaGetLastError();
    t_device = -1;  // unknown now: ask the driver next time
    t_state = nullptr;
  }
}

void* compute_stream(DeviceIndex index) {
  const int device = index.value();
  check_index(device);
  if (cudaStream_t s = g_devices[device].stream.load(std::memory_order_acquire)) return s;
  DeviceGuard on(device);
  return state().stream.load(std::memory_order_acquire);
}

cudaStream_t stream() { return t_stream_override ? t_stream_override : state().stream.load(std::memory_order_relaxed); }

// The stream for work on `device` from this thread: its own stream when the device is current
// (a StreamGuard's override belongs to the current device), else that device's compute stream.
static cudaStream_t stream_for(int device) {
  return device == current_device() ? stream() : static_cast<cudaStream_t>(compute_stream(device));
}

StreamGuard::StreamGuard(cudaStream_t s) : prev_(t_stream_override) { t_stream_override = s; }
StreamGuard::~StreamGuard() { t_stream_override = prev_; }

void check_current_device(DeviceIndex index, const char* kernel) {
  if (index.value() != current_device())
    throw Error(cat("kernel '", kernel, "' called on a cuda:", index.value(), " tensor while cuda:", current_device(),
                    " is the thread's current device (call set_current_device first)"));
}

// The handles are bound to the compute stream: calling them under a StreamGuard would order their
// work wrongly against that thread's allocations.
cublasHandle_t cublas() {
  TRIM_CHECK(!t_stream_override, "cuBLAS called under a StreamGuard");
  DeviceState& s = state();
  std::call_once(s.blas_once, [&] {
    // A workspace of trim's own (32 MiB, NVIDIA's recommendation for Hopper), set after the
    // stream (cublasSetStream resets it): cuBLAS's default one comes from a pool of its own, which
    // a captured CUDA graph (core/cuda/graph.h) would use through memory nodes the capture's
    // bookkeeping does not see. One is enough: every call on this handle runs in order on the
    // device's compute stream. Allocated first, so a failure leaks no handle.
    constexpr size_t kCublasWorkspace = size_t(32) << 20;
    if (!s.cublas_workspace) TRIM_CUDA_CHECK(cudaMalloc(&s.cublas_workspace, kCublasWorkspace));
    TRIM_CUBLAS_CHECK(cublasCreate(&s.cublas));
    TRIM_CUBLAS_CHECK(cublasSetStream(s.cublas, s.stream.load()));
    TRIM_CUBLAS_CHECK(cublasSetWorkspace(s.cublas, s.cublas_workspace, kCublasWorkspace));
  });
  return s.cublas;
}

void cublas_math_mode(cublasHandle_t h, cublasMath_t mode) {
  // Set only when it changes: the mode is a property of the handle, not of one call.
  std::atomic<int>& last = state().blas_math;
  if (last.load(std::memory_order_relaxed) == int(mode)) return;
  TRIM_CUBLAS_CHECK(cublasSetMathMode(h, mode));
  last.store(int(mode), std::memory_order_relaxed);
}

cudnnHandle_t cudnn() {
  TRIM_CHECK(!t_stream_override, "cuDNN called under a StreamGuard");
  DeviceState& s = state();
  std::call_once(s.dnn_once, [&] {
    // cuDNN 8 numbers versions major * 1000 + minor * 100 + patch, cuDNN 9 major * 10000 + ...
    size_t loaded = cudnnGetVersion();
    size_t major = loaded >= 10000 ? loaded / 10000 : loaded / 1000;
    if (major != CUDNN_MAJOR)
      log_warn(cat("cuDNN ", loaded, " (major ", major, ") is loaded, but trim was built against ", CUDNN_MAJOR, ".",
                   CUDNN_MINOR, "; expect failures"));
    TRIM_CUDNN_CHECK(cudnnCreate(&s.cudnn));
    TRIM_CUDNN_CHECK(cudnnSetStream(s.cudnn, s.stream.load()));
  });
  return s.cudnn;
}
int sm_count() { return state().sms; }

void* malloc_on(DeviceIndex index, size_t bytes, void** stream_used) {
  const int device = index.value();
  check_index(device);
  cudaStream_t s = stream_for(device);  // before switching: the override belongs to the caller's device
  DeviceGuard on(device);
  void* p = malloc_on_stream(device, bytes, s);
  *stream_used = s;
  return p;
}

void free_on(DeviceIndex index, void* p, void* stream_used) noexcept {
  const int device = index.value();
  if (device < 0 || device >= kMaxDevices) return;
  cudaStream_t s = static_cast<cudaStream_t>(stream_used);
  if (!s) s = g_devices[device].stream.load(std::memory_order_acquire);
  if (!s) return;  // the device was never initialised, so nothing was allocated on it
  QuietDeviceGuard on(device);
  capture::free_async(p, s);  // or held back until a capture on s ends (core/cuda/graph.h)
}

Scratch::Scratch(size_t bytes) : bytes_(bytes) {
  if (bytes == 0) return;
  device_ = current_device();
  ptr_ = malloc_on(device_, bytes, &stream_);
}
Scratch::~Scratch() {
  if (ptr_) free_on(device_, ptr_, stream_);
}

void* malloc_host(size_t bytes) {
  void* p = nullptr;
  TRIM_CUDA_CHECK(cudaMallocHost(&p, bytes));
  return p;
}

void free_host(void* p) noexcept {
  if (cudaFreeHost(p) != cudaSuccess) (void)cudaGetLastError();
}

void memcpy(void* dst, Location dst_side, const void* src, Location src_side, size_t bytes) {
  TRIM_CHECK(!dst_side.is_host() || !src_side.is_host(), "cuda::memcpy: host to host (use std::memcpy)");
  if (!dst_side.is_host()) check_index(dst_side.device());
  if (!src_side.is_host()) check_index(src_side.device());
  // -1 below: the host (the indices are checked non-negative above).
  const int dst_device = dst_side.is_host() ? -1 : dst_side.device();
  const int src_device = src_side.is_host() ? -1 : src_side.device();
  if (dst_device >= 0 && src_device >= 0 && dst_device != src_device) {
    // Across GPUs: the copy runs on the destination's compute stream after the work queued on the
    // source's, and the source's stream waits for the copy before it may reuse or free the source.
    cudaStream_t ss = static_cast<cudaStream_t>(compute_stream(src_device));
    cudaStream_t ds = static_cast<cudaStream_t>(compute_stream(dst_device));
    cudaEvent_t src_ready, copied;
    {
      DeviceGuard on(src_device);
      TRIM_CUDA_CHECK(cudaEventCreateWithFlags(&src_ready, cudaEventDisableTiming));
      TRIM_CUDA_CHECK(cudaEventRecord(src_ready, ss));
    }
    DeviceGuard on(dst_device);
    TRIM_CUDA_CHECK(cudaEventCreateWithFlags(&copied, cudaEventDisableTiming));
    TRIM_CUDA_CHECK(cudaStreamWaitEvent(ds, src_ready, 0));
    TRIM_CUDA_CHECK(cudaMemcpyPeerAsync(dst, dst_device, src, src_device, bytes, ds));
    TRIM_CUDA_CHECK(cudaEventRecord(copied, ds));
    TRIM_CUDA_CHECK(cudaStreamWaitEvent(ss, copied, 0));
    // Destroying a recorded event is allowed: its resources go once it has completed.
    (void)cudaEventDestroy(src_ready);
    (void)cudaEventDestroy(copied);
    return;
  }
  int device = dst_device >= 0 ? dst_device : src_device;
  cudaStream_t s = stream_for(device);
  DeviceGuard on(device);
  TRIM_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, s));
  if (dst_device < 0 || src_device < 0) TRIM_CUDA_CHECK(cudaStreamSynchronize(s));
}

void memset_zero(DeviceIndex index, void* p, size_t bytes) {
  const int device = index.value();
  check_index(device);
  cudaStream_t s = stream_for(device);
  DeviceGuard on(device);
  TRIM_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, s));
}

void synchronize(DeviceIndex index) {
  const int device = index.value();
  check_index(device);
  cudaStream_t own = stream_for(device), compute = static_cast<cudaStream_t>(compute_stream(device));
  DeviceGuard on(device);
  TRIM_CUDA_CHECK(cudaStreamSynchronize(own));
  if (own != compute) TRIM_CUDA_CHECK(cudaStreamSynchronize(compute));
}

void set_poison_allocations(bool on) { g_poison.store(on); }

Uploader::Uploader(size_t bytes) : bytes_(bytes) {
  TRIM_CHECK(bytes > 0 && bytes <= SIZE_MAX / kSlots, cat("Uploader: ", bytes, " bytes per upload"));
  TRIM_CUDA_CHECK(cudaMallocHost(&pinned_, bytes * kSlots));
  for (void*& d : done_) {
    cudaEvent_t e;
    TRIM_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    d = e;
  }
}

Uploader::~Uploader() {
  // A destructor cannot report: failures are dropped, and cleared so no later launch check
  // reports them as its own.
  bool failed = false;
  for (void* d : done_) {
    failed |= cudaEventSynchronize(static_cast<cudaEvent_t>(d)) != cudaSuccess;
    failed |= cudaEventDestroy(static_cast<cudaEvent_t>(d)) != cudaSuccess;
  }
  failed |= cudaFreeHost(pinned_) != cudaSuccess;
  if (failed) (void)cudaGetLastError();
}

void Uploader::upload(void* device_dst, const void* src) {
  // Slot k is reused kSlots uploads later, once its copy has read it: the host may run that many
  // steps ahead of the GPU.
  // Captured, the copy would read this slot at every replay while the host refills it (and the
  // event wait below fails under a capture): a captured region must not upload.
  cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
  TRIM_CUDA_CHECK(cudaStreamIsCapturing(stream(), &capturing));
  TRIM_CHECK(capturing == cudaStreamCaptureStatusNone,
             "CUDA upload inside a captured CUDA graph (stage host values before the capture, "
             "e.g. SgdBase::stage_scalars)");
  cudaEvent_t e = static_cast<cudaEvent_t>(done_[next_]);
  void* staging = static_cast<char*>(pinned_) + next_ * bytes_;
  TRIM_CUDA_CHECK(cudaEventSynchronize(e));
  std::memcpy(staging, src, bytes_);
  TRIM_CUDA_CHECK(cudaMemcpyAsync(device_dst, staging, bytes_, cudaMemcpyHostToDevice, stream()));
  TRIM_CUDA_CHECK(cudaEventRecord(e, stream()));
  next_ = (next_ + 1) % kSlots;
}

void set_tf32(bool conv, bool matmul) { g_conv_tf32 = conv, g_matmul_tf32 = matmul; }
bool conv_tf32() { return g_conv_tf32; }
bool matmul_tf32() { return g_matmul_tf32; }
void set_deterministic(bool on) { g_deterministic = on; }
bool deterministic() { return g_deterministic; }
void set_benchmark(bool on) { g_benchmark = on; }
bool benchmark() { return g_benchmark; }
void set_channels_last(bool on) { g_channels_last = on; }
bool channels_last() { return g_channels_last; }

size_t pool_cached_bytes() {
  cudaMemPool_t pool;
  TRIM_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, current_device()));
  uint64_t reserved = 0, used = 0;
  TRIM_CUDA_CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReservedMemCurrent, &reserved));
  TRIM_CUDA_CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemCurrent, &used));
  return reserved > used ? size_t(reserved - used) : 0;
}

}  // namespace trim::cuda
