// CUDA path of magnitude and filter selection (see select.h, select_cuda.h). No weight leaves the
// device: keys are built on the device, sorted by CUB's stable radix sort (so equal keys keep the
// lower flat index first, the tie rule), and the k first indices are scattered into the mask.
#include <cub/device/device_radix_sort.cuh>

#include <climits>
#include <limits>

#include "core/cuda/launch.cuh"
#include "core/cuda/runtime.h"
#include "core/memory.h"
#include "core/tensor.h"
#include "pruning/select_cuda.h"
#include "pruning/select_math.h"

namespace trim::pruning_cuda {

namespace {

Device current() { return Device::cuda(cuda::current_device()); }

uint32_t* u32(const Tensor& t) { return reinterpret_cast<uint32_t*>(t.data<int32_t>()); }

__global__ void count_zeros_kernel(const float* x, int64_t n, unsigned long long* out) {
  __shared__ unsigned long long buf[cuda::kThreads];
  unsigned long long c = 0;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    c += x[i] == 0.0f;
  buf[threadIdx.x] = c;
  __syncthreads();
  for (int s = cuda::kThreads / 2; s > 0; s /= 2) {
    if (threadIdx.x < s) buf[threadIdx.x] += buf[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) atomicAdd(out, buf[0]);
}

// One block per row; the same lane order and halving tree as the CPU loop in select.cpp.
__global__ void filter_l1_kernel(const float* w, int64_t cols, double* scores) {
  static_assert(sel::kL1Lanes == cuda::kThreads, "one thread per lane");
  __shared__ double lane[sel::kL1Lanes];
  const float* row = w + int64_t(blockIdx.x) * cols;
  double s = 0.0;
  for (int64_t j = threadIdx.x; j < cols; j += sel::kL1Lanes) s += sel::abs_as_double(row[j]);
  lane[threadIdx.x] = s;
  __syncthreads();
  for (int h = sel::kL1Lanes / 2; h > 0; h /= 2) {
    if (threadIdx.x < h) lane[threadIdx.x] += lane[threadIdx.x + h];
    __syncthreads();
  }
  if (threadIdx.x == 0) scores[blockIdx.x] = lane[0];
}

}  // namespace

void select_unit(const std::vector<Part>& parts, int64_t k, float* out) {
  int64_t n = 0;
  for (const Part& p : parts) n += p.n;
  TRIM_CHECK(n < int64_t(std::numeric_limits<uint32_t>::max()), cat("select_unit: ", n, " entries exceed 32-bit indices"));
  int64_t base = 0;
  for (const Part& p : parts) {
    cuda::map(p.n, sel::InitMask{p.mask, out + base});
    base += p.n;
  }
  if (k == 0 || n == 0) return;
  TRIM_CHECK(k <= n, cat("select_unit: k = ", k, " exceeds the unit's ", n, " entries"));
  Device dev = current();
  Tensor keys_in = Tensor::empty(Shape{n}, DType::i32, dev), keys_out = Tensor::empty(Shape{n}, DType::i32, dev);
  Tensor idx_in = Tensor::empty(Shape{n}, DType::i32, dev), idx_out = Tensor::empty(Shape{n}, DType::i32, dev);
  base = 0;
  for (const Part& p : parts) {
    cuda::map(p.n, sel::RankKeys{p.w, p.mask, u32(keys_in) + base, u32(idx_in) + base, uint32_t(base)});
    base += p.n;
  }
  // Radix sort over all 32 key bits: kPrunedKey uses the top bit, so pruned entries sort last.
  size_t temp_bytes = 0;
  TRIM_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, u32(keys_in), u32(keys_out), u32(idx_in),
                                                  u32(idx_out), n, 0, 32, cuda::stream()));
  Tensor temp = Tensor::empty(Shape{int64_t(std::max<size_t>(temp_bytes, 1))}, DType::u8, dev);
  TRIM_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.data<uint8_t>(), temp_bytes, u32(keys_in), u32(keys_out),
                                                  u32(idx_in), u32(idx_out), n, 0, 32, cuda::stream()));
  cuda::map(k, sel::ScatterPruned{u32(idx_out), out});
}

int64_t count_zeros(const float* x, int64_t n) {
  if (n <= 0) return 0;
  Tensor acc = Tensor::zeros(Shape{2}, DType::i32, current());  // one unsigned long long
  auto* p = reinterpret_cast<unsigned long long*>(acc.data<int32_t>());
  count_zeros_kernel<<<cuda::grid_for(n), cuda::kThreads, 0, cuda::stream()>>>(x, n, p);
  TRIM_KERNEL_CHECK();
  unsigned long long host = 0;
  copy_bytes(&host, Device::cpu(), p, current(), sizeof host);
  return int64_t(host);
}

void filter_l1(const float* w, int64_t rows, int64_t cols, double* scores_host) {
  if (rows <= 0) return;
  TRIM_CHECK(rows <= INT_MAX, cat("filter_l1: ", rows, " rows exceed the grid limit"));
  Tensor scores = Tensor::empty(Shape{2 * rows}, DType::i32, current());  // rows doubles
  auto* d = reinterpret_cast<double*>(scores.data<int32_t>());
  filter_l1_kernel<<<unsigned(rows), cuda::kThreads, 0, cuda::stream()>>>(w, cols, d);
  TRIM_KERNEL_CHECK();
  copy_bytes(scores_host, Device::cpu(), d, current(), size_t(rows) * sizeof(double));
}

void expand_rows(const std::vector<float>& keep, int64_t cols, float* out) {
  int64_t rows = int64_t(keep.size());
  if (rows == 0 || cols == 0) return;
  Tensor k = Tensor::from_vector(Shape{rows}, keep, current());
  cuda::map(rows * cols, sel::ExpandRows{k.data<float>(), cols, out});
}

}  // namespace trim::pruning_cuda
