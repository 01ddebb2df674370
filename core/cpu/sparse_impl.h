#pragma once
// Choices inside the CPU backend's sparse kernels (cpu::csr_linear, cpu::csr_conv2d in
// core/kernels/kernels.h), declared for the tests that run every variant against the reference and
// for the benchmark that compares them. Normal callers never touch them: the kernels pick the widest
// vector unit this CPU has and the fastest convolution method on first use.
namespace trim::cpu {

// The instruction set of the inner loops. Chosen at run time (__builtin_cpu_supports): avx512
// (AVX-512F), else avx2 (AVX2 + FMA), else scalar (whatever the compiler makes of plain loops).
enum class SparseIsa { scalar, avx2, avx512 };

// How a k x k convolution with stride 1 builds the dense operand of its sparse product:
//  - implicit: the input is padded once per image and every nonzero reads its shifted plane in
//    place (a column of the product is an output pixel on the padded width; the extra columns are
//    dropped afterwards). Writes C (H + 2p) (W + 2p) floats per image instead of C kh kw Ho Wo.
//  - im2col: the column matrix [C kh kw, Ho Wo] is written out (always used for strides > 1);
//  - automatic: implicit when the output plane has at least kMinImplicitPixels pixels, else im2col
//    (on a 7 x 7 plane the padded grid and the shifted reads cost more than the columns: ResNet-50's
//    3x3 512->512 at 7x7 and 95% zeros took 0.86 ms implicit against 0.39 ms im2col at batch 1).
// 1 x 1 convolutions with stride 1 and no padding read the input directly either way.
enum class SparseConvMethod { implicit, im2col, automatic };
constexpr long kMinImplicitPixels = 256;

bool cpu_supports(SparseIsa isa);
SparseIsa sparse_isa();
// For every later call from any thread; throws trim::Error if this CPU lacks `isa`.
void set_sparse_isa(SparseIsa isa);
const char* sparse_isa_name(SparseIsa isa);  // "scalar", "avx2", "avx512"

// Default automatic (implicit is 1.6-3.7x faster than im2col on ResNet-50's 3x3 at 56x56, even at
// 14x14: see sparse.cpp). The environment variable TRIM_SPARSE_CONV=implicit|im2col|automatic, read
// on first use, overrides it.
SparseConvMethod sparse_conv_method();
void set_sparse_conv_method(SparseConvMethod m);

}  // namespace trim::cpu
