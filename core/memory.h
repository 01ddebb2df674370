#pragma once
#include <cstddef>
#include <cstdint>

#include "core/device.h"

namespace trim {

// How CPU memory is allocated: pageable, or page-locked (pinned, for fast asynchronous copies to a
// GPU; needs the CUDA backend). An enum, not a bool: a stray pointer or flag does not convert to it.
enum class HostMemory : uint8_t { pageable, pinned };

// Raw allocations behind every tensor. CPU memory is 64-byte aligned (`host` chooses pageable or
// pinned; CUDA allocations ignore it). CUDA memory comes from the device's stream-ordered pool
// (cudaMallocAsync with a high release threshold), so a steady-state step makes no driver calls.
// For CUDA, *stream (when given) receives the stream the allocation is ordered on (a cudaStream_t:
// the calling thread's stream when d is its current device, else d's compute stream); pass the
// stream the memory was last used on to free_bytes (null: d's compute stream). Any thread may free.
void* alloc_bytes(Device d, size_t bytes, HostMemory host = HostMemory::pageable, void** stream = nullptr);
void free_bytes(Device d, void* p, size_t bytes, HostMemory host = HostMemory::pageable, void* stream = nullptr) noexcept;

// Copies `bytes` bytes (not elements) between any two devices. Ordered with the devices' streams (see
// cuda::memcpy); returns once the data is readable by the host when the destination is the CPU.
void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes);

// Sets `bytes` bytes to zero, ordered with d's stream.
void zero_bytes(Device d, void* p, size_t bytes);

// The compute stream of a CUDA device (a cudaStream_t; null for the CPU or a CPU-only build).
void* compute_stream(Device d);

// Bytes currently held by tensors on a device and the most ever held since the last reset.
struct MemoryStats {
  int64_t current = 0;
  int64_t peak = 0;
};
MemoryStats memory_stats(Device d);
void reset_peak_memory(Device d);

}  // namespace trim
