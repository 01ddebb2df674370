#include "core/cpu/bf16_support.h"

#include <mutex>

#include "core/bf16.h"
#include "core/cpu/parallel.h"
#include "core/log.h"

#ifdef TRIM_HAVE_DNNL
#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace trim::cpu {

const char* onednn_isa_name() {
#ifdef TRIM_HAVE_DNNL
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::sse41: return "sse41";
    default: return "other";
  }
#else
  return "none";
#endif
}

bool bf16_native() {
#ifdef TRIM_HAVE_DNNL
  static const bool native = [] {
    dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
    return isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
  }();
  return native;
#else
  return false;
#endif
}

bool bf16_amx() {
#ifdef TRIM_HAVE_DNNL
  static const bool amx = dnnl::get_effective_cpu_isa() == dnnl::cpu_isa::avx512_core_amx;
  return amx;
#else
  return false;
#endif
}

void note_bf16_emulated() {
  if (bf16_native()) return;
  static std::once_flag once;
  std::call_once(once, [] {
    log_warn(cat("precision bf16: no native bf16 kernels on this CPU (oneDNN ISA ", onednn_isa_name(),
                 "); convolutions and products run in f32 on bf16-rounded operands (the same numbers, fp32 speed)"));
  });
}

Tensor bf16_rounded_f32(const Tensor& t) {
  Tensor out = Tensor::empty(t.shape(), DType::f32, t.device());
  float* o = out.data<float>();
  if (t.dtype() == DType::bf16) {
    const bf16* x = t.data<bf16>();
    map(t.numel(), [=](int64_t i) { o[i] = bf16_to_float(x[i]); });
  } else {
    const float* x = t.data<float>();
    map(t.numel(), [=](int64_t i) { o[i] = bf16_to_float(float_to_bf16(x[i])); });
  }
  return out;
}

}  // namespace trim::cpu
