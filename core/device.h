#pragma once
#include <cstdint>
#include <string>

#include "core/base.h"

namespace trim {

// Where a tensor's memory lives.
struct Device {
  enum class Kind : uint8_t { cpu, cuda };
  Kind kind = Kind::cpu;
  int index = 0;

  static Device cpu() { return {Kind::cpu, 0}; }
  static Device cuda(int i = 0) { return {Kind::cuda, i}; }
  bool is_cpu() const { return kind == Kind::cpu; }
  bool is_cuda() const { return kind == Kind::cuda; }
  std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }
  bool operator==(const Device& o) const { return kind == o.kind && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
};

// True when this build contains the CUDA backend.
bool built_with_cuda();

// Number of usable CUDA devices: 0 when built without CUDA, when no driver is loaded or no
// device is visible. Never throws.
int cuda_device_count();

// Resolves "auto" | "cpu" | "cuda" | "cuda:N" to a device and makes it current for the calling
// thread. "auto" picks cuda:<local_rank> when CUDA is usable and otherwise the CPU, logging one
// line saying why; "cuda" is cuda:<local_rank> (local_rank: this process's rank among the ranks of
// a data-parallel job on its node; 0 for a single process). Throws trim::Error naming `what` (e.g.
// the manifest key) for a malformed or unusable spec.
Device resolve_device(const std::string& spec, const std::string& what = "device", int local_rank = 0);

// Makes `d` the current CUDA device of the calling thread (no-op for the CPU).
void set_current_device(Device d);

// Makes `d` current for the calling thread while the scope lives (no-op for the CPU).
class DeviceScope {
 public:
  explicit DeviceScope(Device d);
  ~DeviceScope();
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int prev_ = -1;  // the CUDA device current before, or -1 when nothing changed
};

// Waits until all work queued on `d` by this process has finished (no-op for the CPU).
void synchronize(Device d);

// CUDA math options (no effect on the CPU), mirroring PyTorch's switches.
// TF32 tensor-core math for float32 convolutions and matrix products: PyTorch's defaults are conv
// on, matmul off, and so are trim's.
// deterministic (default on): cuDNN may only use algorithms that give bit-identical results.
// benchmark (default off): cuDNN algorithms are chosen by timing them (cudnnFind*), the fastest
// per shape; off, they come from cuDNN's heuristics, which pick the same ones in every process, so
// a resumed run repeats an uninterrupted one exactly.
// channels_last (default on): bf16 convolutions hand cuDNN channels-last (NHWC) operands, which
// its tensor-core kernels read natively; the transposes from and to trim's NCHW ride in the passes
// that round the inputs to bf16 and widen the outputs to f32 (core/cuda/conv.cu). f32
// convolutions stay NCHW.
void set_tf32(bool conv, bool matmul);
void set_deterministic(bool on);
void set_benchmark(bool on);
void set_cudnn_channels_last(bool on);

}  // namespace trim
