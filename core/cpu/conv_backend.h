#pragma once
// Which algorithm the CPU backend's convolutions (cpu::conv2d_*, core/kernels/kernels.h) run.
// Depthwise convolutions always take the direct kernels of conv_depthwise.cpp, and convolutions
// of a single input channel im2col + GEMM (faster there, conv.cpp says why); every other
// convolution runs either oneDNN's primitives (conv_onednn.cpp, when trim is built with oneDNN:
// CMake option TRIM_DNNL) or im2col + OpenBLAS GEMM (conv.cpp). oneDNN is the default where it is
// built in; the environment variable TRIM_CPU_CONV=im2col|onednn, read on first use, overrides it.
namespace trim::cpu {

enum class ConvBackend { im2col, onednn };

// True when this build has the oneDNN backend.
bool have_onednn();

// The backend in use now.
ConvBackend conv_backend();

// Switches the backend for every later call (any thread); throws trim::Error when asked for
// oneDNN in a build without it.
void set_conv_backend(ConvBackend b);

// "im2col" or "onednn".
const char* conv_backend_name(ConvBackend b);

}  // namespace trim::cpu
