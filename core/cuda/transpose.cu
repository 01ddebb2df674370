// The tiled transpose of core/cuda/transpose.h. A block moves one 32 x 32 tile of one plane
// through shared memory: a warp reads 32 consecutive elements of an input row and writes 32
// consecutive elements of an output row, so both sides are coalesced (a plain element map would
// read or write with a stride of `rows` or `cols`). Values travel as f32, which holds every bf16
// exactly; the store functor converts.
#include <algorithm>
#include <type_traits>

#include "core/cuda/launch.cuh"
#include "core/cuda/transpose.h"
#include "core/base.h"

namespace trim::cuda {
namespace {

constexpr int kTile = 32;
constexpr int kRowsPerPass = 8;  // a block is kTile x kRowsPerPass threads; each moves 4 elements per tile

template <class T>
struct Load {
  const T* p;
  __device__ float operator()(int64_t i) const {
    if constexpr (std::is_same_v<T, bf16>) return bf16_to_float(p[i]);
    else return p[i];
  }
};

struct StoreBf16 {
  bf16* p;
  __device__ void operator()(int64_t i, float v) const { p[i] = float_to_bf16(v); }
};

struct StoreWiden {
  float* p;
  bool add;  // beta 1
  __device__ void operator()(int64_t i, float v) const { p[i] = add ? p[i] + v : v; }
};

// Tiles are numbered (plane b, row tile, column tile) and walked grid-stride over blockIdx.x
// alone, so no count meets gridDim.y/z's 65535 limit. Every index is 64-bit.
template <class L, class S>
__global__ void transpose_kernel(int64_t batches, int64_t rows, int64_t cols, int64_t row_tiles, int64_t col_tiles,
                                 L load, S store) {
  __shared__ float tile[kTile][kTile + 1];  // +1: column reads hit 32 different banks
  const int64_t tiles = batches * row_tiles * col_tiles;
  const int tx = int(threadIdx.x), ty = int(threadIdx.y);
  for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    const int64_t ct = t % col_tiles, rest = t / col_tiles;
    const int64_t rt = rest % row_tiles, b = rest / row_tiles;
    const int64_t r0 = rt * kTile, c0 = ct * kTile;
    const int64_t plane = b * rows * cols;
    for (int k = ty; k < kTile; k += kRowsPerPass) {  // read rows r0 + k, columns c0 + tx
      const int64_t r = r0 + k, c = c0 + tx;
      if (r < rows && c < cols) tile[k][tx] = load(plane + r * cols + c);
    }
    __syncthreads();
    for (int k = ty; k < kTile; k += kRowsPerPass) {  // write output row c0 + k (input column), columns r0 + tx
      const int64_t c = c0 + k, r = r0 + tx;
      if (r < rows && c < cols) store(plane + c * rows + r, tile[tx][k]);
    }
    __syncthreads();  // the tile is refilled by the next iteration
  }
}

template <class L, class S>
void launch(int64_t batches, int64_t rows, int64_t cols, L load, S store) {
  TRIM_CHECK(batches >= 0 && rows >= 0 && cols >= 0,
             cat("transpose: negative size (", batches, " x ", rows, " x ", cols, ")"));
  if (batches == 0 || rows == 0 || cols == 0) return;
  const int64_t row_tiles = (rows + kTile - 1) / kTile, col_tiles = (cols + kTile - 1) / kTile;
  // Every tile holds at least one element, so tiles <= batches * rows * cols: no overflow for
  // tensors that fit in memory.
  const int64_t tiles = batches * row_tiles * col_tiles;
  const unsigned blocks = unsigned(std::min<int64_t>(tiles, int64_t(sm_count()) * 32));
  transpose_kernel<<<blocks, dim3(kTile, kRowsPerPass), 0, stream()>>>(batches, rows, cols, row_tiles, col_tiles,
                                                                       load, store);
  TRIM_KERNEL_CHECK();
}

}  // namespace

void transpose_to_bf16(const float* in, bf16* out, int64_t batches, int64_t rows, int64_t cols) {
  launch(batches, rows, cols, Load<float>{in}, StoreBf16{out});
}

void transpose_to_bf16(const bf16* in, bf16* out, int64_t batches, int64_t rows, int64_t cols) {
  launch(batches, rows, cols, Load<bf16>{in}, StoreBf16{out});  // exact (a signalling NaN comes out quiet)
}

void transpose_widen(const bf16* in, float* out, float beta, int64_t batches, int64_t rows, int64_t cols) {
  TRIM_CHECK(beta == 0.0f || beta == 1.0f, cat("transpose_widen: beta is ", beta, "; expected 0 or 1"));
  launch(batches, rows, cols, Load<bf16>{in}, StoreWiden{out, beta == 1.0f});
}

}  // namespace trim::cuda
