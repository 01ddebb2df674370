#include "core/device.h"

#include <fmt/format.h>

#include "core/error.h"
#include "core/log.h"
#ifdef TRIM_HAVE_CUDA
#include "core/cuda/runtime.h"
#endif

namespace trim {

bool built_with_cuda() {
#ifdef TRIM_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

int cuda_device_count() {
#ifdef TRIM_HAVE_CUDA
  return cuda::device_count();
#else
  return 0;
#endif
}

void set_current_device(Device d) {
#ifdef TRIM_HAVE_CUDA
  if (d.is_cuda()) cuda::set_device(d.index);
#endif
}

DeviceScope::DeviceScope(Device d) {
#ifdef TRIM_HAVE_CUDA
  if (d.is_cuda() && d.index != cuda::current_device()) {
    prev_ = cuda::current_device();
    cuda::set_device(d.index);
  }
#endif
}

DeviceScope::~DeviceScope() {
#ifdef TRIM_HAVE_CUDA
  if (prev_ >= 0) {
    try {
      cuda::set_device(prev_);
    } catch (...) {  // a destructor must not throw; the next CUDA call reports the failure
    }
  }
#endif
}

void synchronize(Device d) {
#ifdef TRIM_HAVE_CUDA
  if (d.is_cuda()) cuda::synchronize(d.index);
#endif
}

void set_tf32(bool conv, bool matmul) {
#ifdef TRIM_HAVE_CUDA
  cuda::set_tf32(conv, matmul);
#endif
}

void set_deterministic(bool on) {
#ifdef TRIM_HAVE_CUDA
  cuda::set_deterministic(on);
#endif
}

void set_benchmark(bool on) {
#ifdef TRIM_HAVE_CUDA
  cuda::set_benchmark(on);
#endif
}

void set_cudnn_channels_last(bool on) {
#ifdef TRIM_HAVE_CUDA
  cuda::set_channels_last(on);
#endif
}

Device resolve_device(const std::string& spec, const std::string& what, int local_rank) {
  Device d;
  if (spec == "cpu") {
    d = Device::cpu();
  } else if (spec == "auto") {
    if (!built_with_cuda()) {
      log_info("device auto: this build has no CUDA backend, running on the CPU");
      d = Device::cpu();
    } else if (cuda_device_count() == 0) {
      log_info("device auto: no usable CUDA device (no GPU or no driver), running on the CPU");
      d = Device::cpu();
    } else if (local_rank >= cuda_device_count()) {
      throw Error(fmt::format("{}: \"auto\" on local rank {} needs {} CUDA devices on this node, {} are usable "
                              "(start at most that many ranks per node, e.g. mpirun -npernode {})",
                              what, local_rank, local_rank + 1, cuda_device_count(), cuda_device_count()));
    } else {
      d = Device::cuda(local_rank);
    }
  } else if (spec == "cuda" || spec.rfind("cuda:", 0) == 0) {
    int index = local_rank;
    if (spec.size() > 5) {
      std::string num = spec.substr(5);
      bool digits = !num.empty() && num.size() < 4 && num.find_first_not_of("0123456789") == std::string::npos;
      if (!digits)
        throw Error(fmt::format("{}: expected \"auto\", \"cpu\", \"cuda\" or \"cuda:N\", found \"{}\"", what, spec));
      index = std::stoi(num);
    }
    if (!built_with_cuda())
      throw Error(fmt::format("{}: \"{}\" asked for, but this build of trim has no CUDA backend "
                              "(rebuild where nvcc is available)", what, spec));
    int n = cuda_device_count();
    if (index >= n)
      throw Error(fmt::format("{}: \"{}\" asked for, but {} CUDA device(s) are usable here", what, spec, n));
    d = Device::cuda(index);
  } else {
    throw Error(fmt::format("{}: expected \"auto\", \"cpu\", \"cuda\" or \"cuda:N\", found \"{}\"", what, spec));
  }
  set_current_device(d);
  return d;
}

}  // namespace trim
