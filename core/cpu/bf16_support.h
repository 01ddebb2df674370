#pragma once
// bf16 on the CPU backend: whether products run natively in bf16, and the emulation used where
// they do not (the kernel contract of kernel_list.inc: any bf16 input means "compute in bf16 with
// f32 accumulation").
//
// Native: oneDNN's bf16 primitives, when trim is built with oneDNN and oneDNN's effective ISA
// (dnnl::get_effective_cpu_isa, which honours ONEDNN_MAX_CPU_ISA) has bf16 dot-product
// instructions (AVX-512 BF16 or AMX). Elsewhere trim emulates: every operand is rounded to bf16
// and widened back to f32, then the f32 kernel runs. A product of two bf16 values is exact in
// f32 and the sums are f32 either way, so the emulation computes the policy's numbers at fp32
// speed; the first emulated product logs one line saying so. The im2col and depthwise paths
// always emulate (they have no bf16 kernels of their own).
#include "core/tensor.h"

namespace trim::cpu {

// True when bf16 products run natively here (decided once per process).
bool bf16_native();

// True when oneDNN's effective ISA has AMX tiles (avx512_core_amx): conv_batched.cpp's batched
// backward weights pays only there.
bool bf16_amx();

// The effective oneDNN ISA's name ("avx512_core_bf16", ...), or "none" in a build without oneDNN.
const char* onednn_isa_name();

// Logs the one-line fallback notice, once per process (no effect where bf16_native()).
void note_bf16_emulated();

// t as the f32 operand of an emulated bf16 product: a bf16 tensor widened to f32, an f32 tensor
// rounded to bf16 and widened back (round to nearest even). A new tensor either way.
Tensor bf16_rounded_f32(const Tensor& t);

// True when either tensor is bf16 (the contract's "compute in bf16").
inline bool any_bf16(const Tensor& a, const Tensor& b) {
  return a.dtype() == DType::bf16 || b.dtype() == DType::bf16;
}

}  // namespace trim::cpu
