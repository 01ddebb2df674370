#include <cstdint>
#include <cstring>
#include <mutex>

#include "core/cuda/check.h"
#include "core/cuda/context.h"
#include "core/cuda/runtime.h"
#include "core/log.h"
#include "core/memory.h"

namespace trim::cuda {
namespace {

constexpr int kMaxDevices = 16;

struct DeviceState {
  std::once_flag once, blas_once, dnn_once;
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  cudnnHandle_t cudnn = nullptr;
  int sms = 0;
};

DeviceState g_devices[kMaxDevices];
thread_local cudaStream_t t_stream_override = nullptr;
bool g_conv_tf32 = true, g_matmul_tf32 = false, g_deterministic = true, g_benchmark = false;

// Creates the device's compute stream and pool settings on first use. The pool keeps freed memory
// (release threshold = max) so steady-state steps never return to the driver. Library handles are
// created separately, on first use, so a problem loading cuDNN only affects cuDNN's ops.
DeviceState& state() {
  int d = current_device();
  TRIM_CHECK(d >= 0 && d < kMaxDevices, cat("CUDA device index ", d, " not supported"));
  DeviceState& s = g_devices[d];
  std::call_once(s.once, [&] {
    TRIM_CUDA_CHECK(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
    cudaMemPool_t pool;
    TRIM_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, d));
    uint64_t threshold = UINT64_MAX;
    TRIM_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold));
    TRIM_CUDA_CHECK(cudaDeviceGetAttribute(&s.sms, cudaDevAttrMultiProcessorCount, d));
  });
  return s;
}

// The calling thread's stream without any call that can throw: freeing memory runs in destructors,
// also while the process exits. Null if the device was never used (then nothing was allocated).
cudaStream_t stream_nothrow() {
  if (t_stream_override) return t_stream_override;
  int d = 0;
  if (cudaGetDevice(&d) != cudaSuccess || d < 0 || d >= kMaxDevices) return nullptr;
  return g_devices[d].stream;
}

}  // namespace

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

void set_device(int index) { TRIM_CUDA_CHECK(cudaSetDevice(index)); }

int current_device() {
  int d = 0;
  TRIM_CUDA_CHECK(cudaGetDevice(&d));
  return d;
}

cudaStream_t stream() { return t_stream_override ? t_stream_override : state().stream; }

StreamGuard::StreamGuard(cudaStream_t s) : prev_(t_stream_override) { t_stream_override = s; }
StreamGuard::~StreamGuard() { t_stream_override = prev_; }

// The handles are bound to the compute stream: calling them under a StreamGuard would order their
// work wrongly against that thread's allocations.
cublasHandle_t cublas() {
  TRIM_CHECK(!t_stream_override, "cuBLAS called under a StreamGuard");
  DeviceState& s = state();
  std::call_once(s.blas_once, [&] {
    TRIM_CUBLAS_CHECK(cublasCreate(&s.cublas));
    TRIM_CUBLAS_CHECK(cublasSetStream(s.cublas, s.stream));
  });
  return s.cublas;
}

cudnnHandle_t cudnn() {
  TRIM_CHECK(!t_stream_override, "cuDNN called under a StreamGuard");
  DeviceState& s = state();
  std::call_once(s.dnn_once, [&] {
    size_t loaded = cudnnGetVersion();
    if (loaded / 10000 != CUDNN_MAJOR)  // cuDNN 9 numbers versions major * 10000 + minor * 100 + patch
      log_warn(cat("cuDNN ", loaded, " is loaded, but trim was built against ", CUDNN_MAJOR, ".", CUDNN_MINOR,
                   "; expect failures"));
    TRIM_CUDNN_CHECK(cudnnCreate(&s.cudnn));
    TRIM_CUDNN_CHECK(cudnnSetStream(s.cudnn, s.stream));
  });
  return s.cudnn;
}
int sm_count() { return state().sms; }

void* malloc_async(size_t bytes) {
  void* p = nullptr;
  cudaError_t e = cudaMallocAsync(&p, bytes, stream());
  if (e == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    MemoryStats m = memory_stats(Device::cuda(current_device()));
    throw Error(cat("CUDA out of memory allocating ", bytes, " bytes on cuda:", current_device(), " (tensors hold ",
                    m.current, " bytes, peak ", m.peak, ")"));
  }
  TRIM_CUDA_CHECK(e);
  return p;
}

void free_async(void* p) noexcept {
  cudaStream_t s = stream_nothrow();
  if (!s || cudaFreeAsync(p, s) != cudaSuccess) (void)cudaGetLastError();  // shutting down: nothing to do
}

void* malloc_host(size_t bytes) {
  void* p = nullptr;
  TRIM_CUDA_CHECK(cudaMallocHost(&p, bytes));
  return p;
}

void free_host(void* p) noexcept {
  if (cudaFreeHost(p) != cudaSuccess) (void)cudaGetLastError();
}

void memcpy(void* dst, bool dst_cuda, const void* src, bool src_cuda, size_t bytes) {
  cudaStream_t s = stream();
  TRIM_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, s));
  if (!dst_cuda || !src_cuda) TRIM_CUDA_CHECK(cudaStreamSynchronize(s));
}

void memset_zero(void* p, size_t bytes) { TRIM_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream())); }

void synchronize() { TRIM_CUDA_CHECK(cudaStreamSynchronize(stream())); }

Uploader::Uploader(size_t bytes) : bytes_(bytes) {
  TRIM_CUDA_CHECK(cudaMallocHost(&pinned_, bytes * kSlots));
  for (void*& d : done_) {
    cudaEvent_t e;
    TRIM_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    d = e;
  }
}

Uploader::~Uploader() {
  for (void* d : done_) {
    cudaEventSynchronize(static_cast<cudaEvent_t>(d));
    cudaEventDestroy(static_cast<cudaEvent_t>(d));
  }
  cudaFreeHost(pinned_);
}

void Uploader::upload(void* device_dst, const void* src) {
  // Slot k is reused kSlots uploads later, once its copy has read it: the host may run that many
  // steps ahead of the GPU.
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

size_t pool_cached_bytes() {
  cudaMemPool_t pool;
  TRIM_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, current_device()));
  uint64_t reserved = 0, used = 0;
  TRIM_CUDA_CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReservedMemCurrent, &reserved));
  TRIM_CUDA_CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemCurrent, &used));
  return reserved > used ? size_t(reserved - used) : 0;
}

}  // namespace trim::cuda
