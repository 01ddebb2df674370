#pragma once
// Every differentiable op of trim's core.
//
// To add an op: declare its kernels once in core/kernels/kernel_list.inc (both backends get the
// same signatures); write an element-wise body once as a TRIM_HD functor (core/kernels/*_math.h)
// used by both backends through an .inc (e.g. elementwise.inc), or write the CPU kernel in
// core/cpu/ and the CUDA one in core/cuda/; write the op in core/ops/<family>.{h,cpp}: check the
// inputs, allocate, TRIM_DISPATCH, record() the backward (one signature: the gradients of the
// outputs, a GradRequest) with what it saves; then add a row to the op table
// (apps/bench/op_cases.cpp), which checks it against finite differences on the CPU, against the
// CPU on CUDA, and times it (trim-bench --shapes table). Kernels of another folder (spiking/,
// pruning/) are declared the same way in that folder's *_kernel_list.inc.
#include "core/ops/batchnorm.h"
#include "core/ops/conv.h"
#include "core/ops/elementwise.h"
#include "core/ops/linear.h"
#include "core/ops/loss.h"
#include "core/ops/pool.h"
#include "core/ops/reduce.h"
#include "core/ops/shape_ops.h"
#include "core/ops/resample.h"
