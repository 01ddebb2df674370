// CUDA path of magnitude and filter selection (see select_kernels.h). No weight leaves the
// device: keys are built on the device, sorted by CUB's stable radix sort (so equal keys keep the
// lower flat index first, the tie rule), and the k first indices are scattered into the mask.
#include <cub/device/device_radix_sort.cuh>

#include <climits>
#include <limits>

#include "core/cuda/launch.cuh"
#include "core/cuda/runtime.h"
#include "core/memory.h"
#include "core/tensor.h"
#include "pruning/select_kernels.h"
#include "pruning/select_math.h"

namespace trim::cuda {

namespace {

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

void select_unit(const sel::UnitTensors& u, int64_t k, Tensor& out) {
  const int64_t n = out.numel();
  TRIM_CHECK(n < int64_t(std::numeric_limits<uint32_t>::max()), cat("select_unit: ", n, " entries exceed 32-bit indices"));
  float* dst = out.data<float>();
  auto mask_of = [&](size_t l) { return u.mask.empty() ? nullptr : u.mask[l].data<float>(); };
  int64_t base = 0;
  for (size_t l = 0; l < u.w.size(); ++l) {
    cuda::map(u.w[l].numel(), sel::InitMask{mask_of(l), dst + base});
    base += u.w[l].numel();
  }
  if (k == 0 || n == 0) return;
  TRIM_CHECK(k <= n, cat("select_unit: k = ", k, " exceeds the unit's ", n, " entries"));
  Device dev = out.device();
  Tensor keys_in = Tensor::empty(Shape{n}, DType::i32, dev), keys_out = Tensor::empty(Shape{n}, DType::i32, dev);
  Tensor idx_in = Tensor::empty(Shape{n}, DType::i32, dev), idx_out = Tensor::empty(Shape{n}, DType::i32, dev);
  base = 0;
  for (size_t l = 0; l < u.w.size(); ++l) {
    cuda::map(u.w[l].numel(), sel::RankKeys{u.w[l].data<float>(), mask_of(l), u32(keys_in) + base, u32(idx_in) + base,
                                            uint32_t(base)});
    base += u.w[l].numel();
  }
  // Radix sort over all 32 key bits: kPrunedKey uses the top bit, so pruned entries sort last.
  size_t temp_bytes = 0;
  TRIM_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, u32(keys_in), u32(keys_out), u32(idx_in),
                                                  u32(idx_out), n, 0, 32, cuda::stream()));
  Tensor temp = Tensor::empty(Shape{int64_t(std::max<size_t>(temp_bytes, 1))}, DType::u8, dev);
  TRIM_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.data<uint8_t>(), temp_bytes, u32(keys_in), u32(keys_out),
                                                  u32(idx_in), u32(idx_out), n, 0, 32, cuda::stream()));
  cuda::map(k, sel::ScatterPruned{u32(idx_out), dst});
}

void select_count_zeros(const Tensor& x, int64_t& count) {
  const int64_t n = x.numel();
  count = 0;
  if (n <= 0) return;
  Tensor acc = Tensor::zeros(Shape{2}, DType::i32, x.device());  // one unsigned long long
  auto* p = reinterpret_cast<unsigned long long*>(acc.data<int32_t>());
  count_zeros_kernel<<<cuda::grid_for(n), cuda::kThreads, 0, cuda::stream()>>>(x.data<float>(), n, p);
  TRIM_KERNEL_CHECK();
  unsigned long long host = 0;
  copy_bytes(&host, Device::cpu(), p, x.device(), sizeof host);
  count = int64_t(host);
}

void select_filter_l1(const Tensor& w, std::vector<double>& scores_host) {
  const int64_t rows = int64_t(scores_host.size());
  if (rows <= 0) return;
  const int64_t cols = w.numel() / rows;
  TRIM_CHECK(rows <= INT_MAX, cat("filter_l1: ", rows, " rows exceed the grid limit"));
  Tensor scores = Tensor::empty(Shape{2 * rows}, DType::i32, w.device());  // rows doubles
  auto* d = reinterpret_cast<double*>(scores.data<int32_t>());
  filter_l1_kernel<<<unsigned(rows), cuda::kThreads, 0, cuda::stream()>>>(w.data<float>(), cols, d);
  TRIM_KERNEL_CHECK();
  copy_bytes(scores_host.data(), Device::cpu(), d, w.device(), size_t(rows) * sizeof(double));
}

void select_expand_rows(const std::vector<float>& keep, Tensor& out) {
  const int64_t rows = int64_t(keep.size());
  if (rows == 0 || out.numel() == 0) return;
  Tensor k = Tensor::from_vector(Shape{rows}, keep, out.device());
  cuda::map(out.numel(), sel::ExpandRows{k.data<float>(), out.numel() / rows, out.data<float>()});
}

}  // namespace trim::cuda
