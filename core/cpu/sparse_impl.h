#pragma once
// Choices inside the CPU backend's sparse kernels (cpu::csr_linear, cpu::csr_conv2d in
// core/kernels/kernels.h), declared for the tests that run every variant against the reference and
// for the benchmark that compares them. Normal callers never touch them: the kernels pick the widest
// vector unit this CPU has and the fastest convolution method on first use.
namespace trim::cpu {

// The instruction set of the inner loops. Chosen at run time (__builtin_cpu_supports): avx512
// (AVX-512F), else avx2 (AVX2 + FMA), else scalar (whatever the compiler makes of plain loops).
enum class SparseIsa { scalar, avx2, avx512 };

// How a k x k convolution builds the dense operand of its sparse product:
//  - implicit: the input is padded once per image and every nonzero reads its shifted plane in
//    place (a column of the product is an output pixel on the padded width; the extra columns are
//    dropped afterwards). Writes C (H + 2p) (W + 2p) floats per image instead of C kh kw Ho Wo.
//    With stride s the padded input is split into s x s phase planes (pixels (u s + a, v s + b) of
//    phase (a, b)), on which the strided convolution is a stride-1 sum of shifted planes: the same
//    C (H + 2p) (W + 2p) floats. Automatic uses it where every phase is read (kernel >= stride);
//  - im2col: the column matrix [C kh kw, Ho Wo] is written out;
//  - automatic: implicit where the convolution tiles (AVX-512, below) take the plane; elsewhere,
//    implicit when the output plane has at least kMinImplicitPixels pixels, else im2col (there, on a
//    7 x 7 plane the padded grid and the shifted reads cost more than the columns: ResNet-50's 3x3
//    512->512 at 7x7 and 95% zeros took 0.86 ms implicit against 0.39 ms im2col at batch 1). With
//    the convolution tiles, 1 thread, batch 1, 90% zeros: 0.56 ms implicit against 0.82 ms im2col
//    at 7x7 (512->512), 0.46 against 0.66 ms at 14x14 (256->256), best of 31 on a loaded machine.
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

// The inner kernel of a sparse convolution with AVX-512: true (the default) runs the convolution
// tiles (a tile of up to 128 output pixels per row in registers, one pass over the row's nonzeros)
// on planes of up to 256 pixels (14 x 14 and smaller), false the 64-column spmm tiles that the
// linear layers use. Larger planes and other ISAs always run the spmm tiles.
// For the tests and the benchmark that compare the two.
bool sparse_conv_tiles();
void set_sparse_conv_tiles(bool on);

}  // namespace trim::cpu
