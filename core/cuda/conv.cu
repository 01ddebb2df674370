// Convolution on cuDNN. Each distinct problem (shapes, parameters, math options) gets a plan: its
// descriptors and, found on first use with cudnnFind*AlgorithmEx, the fastest algorithm per pass
// (deterministic ones only unless deterministic mode is off). Later calls reuse the plan.
#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <mutex>

#include "core/cuda/check.h"
#include "core/cuda/context.h"
#include "core/cuda/cudnn_util.h"
#include "core/cuda/runtime.h"
#include "core/kernels/kernels.h"

namespace trim::cuda {
namespace {

struct Algo {
  int algo = -1;
  size_t workspace = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
};

struct Plan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  Algo fwd, bwd_data, bwd_filter;
  ~Plan() {
    cudnnDestroyTensorDescriptor(x);
    cudnnDestroyTensorDescriptor(y);
    cudnnDestroyFilterDescriptor(w);
    cudnnDestroyConvolutionDescriptor(conv);
  }
};

using Key = std::array<int64_t, 19>;
std::mutex g_plans_mutex;
std::map<Key, std::unique_ptr<Plan>> g_plans;

Plan& plan_for(const Shape& xs, const Shape& ws, const Shape& ys, const Conv2dParams& p) {
  Key key{current_device(), xs[0], xs[1], xs[2], xs[3], ws[0], ws[2], ws[3], p.stride_h, p.stride_w, p.pad_h,
          p.pad_w, p.dil_h, p.dil_w, p.groups, conv_tf32(), deterministic(), ys[2], ys[3]};
  std::lock_guard<std::mutex> lock(g_plans_mutex);
  auto& slot = g_plans[key];
  if (slot) return *slot;
  auto plan = std::make_unique<Plan>();
  TRIM_CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->x));
  TRIM_CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->y));
  TRIM_CUDNN_CHECK(cudnnCreateFilterDescriptor(&plan->w));
  TRIM_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&plan->conv));
  TRIM_CUDNN_CHECK(cudnnSetTensor4dDescriptor(plan->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(xs[0]), int(xs[1]),
                                              int(xs[2]), int(xs[3])));
  TRIM_CUDNN_CHECK(cudnnSetTensor4dDescriptor(plan->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(ys[0]), int(ys[1]),
                                              int(ys[2]), int(ys[3])));
  TRIM_CUDNN_CHECK(cudnnSetFilter4dDescriptor(plan->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, int(ws[0]), int(ws[1]),
                                              int(ws[2]), int(ws[3])));
  TRIM_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(plan->conv, p.pad_h, p.pad_w, p.stride_h, p.stride_w, p.dil_h,
                                                   p.dil_w, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  TRIM_CUDNN_CHECK(cudnnSetConvolutionGroupCount(plan->conv, p.groups));
  TRIM_CUDNN_CHECK(cudnnSetConvolutionMathType(plan->conv, conv_tf32() ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH));
  int n, c, h, w;
  TRIM_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(plan->conv, plan->x, plan->w, &n, &c, &h, &w));
  TRIM_CHECK(n == ys[0] && c == ys[1] && h == ys[2] && w == ys[3],
             cat("cuDNN computes conv output [", n, ", ", c, ", ", h, ", ", w, "], trim expected ", ys.str()));
  slot = std::move(plan);
  return *slot;
}

// Workspace offered to the algorithm search: half the free memory, at most 1 GiB.
size_t search_limit() {
  size_t free = 0, total = 0;
  TRIM_CUDA_CHECK(cudaMemGetInfo(&free, &total));
  return std::min<size_t>(free / 2, size_t(1) << 30);
}

// Picks the fastest usable result of a cudnnFind*AlgorithmEx search (results come sorted by time).
template <class Perf>
Algo pick(const Perf* perf, int count, size_t limit, const char* pass) {
  for (int i = 0; i < count; ++i) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > limit) continue;
    if (deterministic() && perf[i].determinism != CUDNN_DETERMINISTIC) continue;
    cudnnMathType_t math = perf[i].mathType;
    if (!conv_tf32() && math == CUDNN_TENSOR_OP_MATH) continue;
    return Algo{int(perf[i].algo), perf[i].memory, math};
  }
  TRIM_CHECK(false, cat("cuDNN found no usable ", pass, " algorithm", deterministic() ? " (deterministic mode)" : ""));
  return {};
}

// Runs `search(workspace, limit)` once per plan and pass, with a temporary workspace.
template <class Search>
const Algo& algo(Algo& slot, const Search& search) {
  if (slot.algo >= 0) return slot;
  size_t limit = search_limit();
  void* ws = limit ? malloc_async(limit) : nullptr;
  try {
    slot = search(ws, limit);
  } catch (...) {
    free_async(ws);
    throw;
  }
  free_async(ws);
  return slot;
}

// Temporary workspace for one call.
struct Workspace {
  explicit Workspace(size_t n) : bytes(n), ptr(n ? malloc_async(n) : nullptr) {}
  ~Workspace() {
    if (ptr) free_async(ptr);
  }
  size_t bytes;
  void* ptr;
};

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& w, Tensor& y, const Conv2dParams& p) {
  Plan& pl = plan_for(x.shape(), w.shape(), y.shape(), p);
  cudnnHandle_t h = cudnn();
  const Algo& a = algo(pl.fwd, [&](void* ws, size_t limit) {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int count = 0;
    TRIM_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(h, pl.x, x.data<float>(), pl.w, w.data<float>(), pl.conv,
                                                            pl.y, y.data<float>(), CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                                                            &count, perf, ws, limit));
    return pick(perf, count, limit, "forward convolution");
  });
  Workspace ws(a.workspace);
  TRIM_CUDNN_CHECK(cudnnSetConvolutionMathType(pl.conv, a.math));
  TRIM_CUDNN_CHECK(cudnnConvolutionForward(h, &kOne, pl.x, x.data<float>(), pl.w, w.data<float>(), pl.conv,
                                           cudnnConvolutionFwdAlgo_t(a.algo), ws.ptr, ws.bytes, &kZero, pl.y,
                                           y.data<float>()));
}

void conv2d_backward_data(const Tensor& gy, const Tensor& w, Tensor& gx, const Conv2dParams& p) {
  Plan& pl = plan_for(gx.shape(), w.shape(), gy.shape(), p);
  cudnnHandle_t h = cudnn();
  const Algo& a = algo(pl.bwd_data, [&](void* ws, size_t limit) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int count = 0;
    TRIM_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(
        h, pl.w, w.data<float>(), pl.y, gy.data<float>(), pl.conv, pl.x, gx.data<float>(),
        CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &count, perf, ws, limit));
    return pick(perf, count, limit, "backward-data convolution");
  });
  Workspace ws(a.workspace);
  TRIM_CUDNN_CHECK(cudnnSetConvolutionMathType(pl.conv, a.math));
  TRIM_CUDNN_CHECK(cudnnConvolutionBackwardData(h, &kOne, pl.w, w.data<float>(), pl.y, gy.data<float>(), pl.conv,
                                                cudnnConvolutionBwdDataAlgo_t(a.algo), ws.ptr, ws.bytes, &kZero, pl.x,
                                                gx.data<float>()));
}

void conv2d_backward_filter(const Tensor& x, const Tensor& gy, Tensor& gw, const Conv2dParams& p) {
  Plan& pl = plan_for(x.shape(), gw.shape(), gy.shape(), p);
  cudnnHandle_t h = cudnn();
  const Algo& a = algo(pl.bwd_filter, [&](void* ws, size_t limit) {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int count = 0;
    TRIM_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(
        h, pl.x, x.data<float>(), pl.y, gy.data<float>(), pl.conv, pl.w, gw.data<float>(),
        CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &count, perf, ws, limit));
    return pick(perf, count, limit, "backward-filter convolution");
  });
  Workspace ws(a.workspace);
  TRIM_CUDNN_CHECK(cudnnSetConvolutionMathType(pl.conv, a.math));
  TRIM_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, &kOne, pl.x, x.data<float>(), pl.y, gy.data<float>(), pl.conv,
                                                  cudnnConvolutionBwdFilterAlgo_t(a.algo), ws.ptr, ws.bytes, &kZero,
                                                  pl.w, gw.data<float>()));
}

}  // namespace trim::cuda
