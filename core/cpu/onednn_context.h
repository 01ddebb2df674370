#pragma once
// The one oneDNN CPU engine and stream of trim's CPU backend (defined in conv_onednn.cpp), shared
// by the convolutions and gemm_bf16 (gemm.cpp). Only in builds with oneDNN (TRIM_HAVE_DNNL).
#include <oneapi/dnnl/dnnl.hpp>

namespace trim::cpu {

dnnl::engine& onednn_engine();
dnnl::stream& onednn_stream();

}  // namespace trim::cpu
