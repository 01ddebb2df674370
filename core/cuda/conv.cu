// Convolution on cuDNN. Each distinct problem (shapes, parameters, math options) gets a plan: its
// descriptors and, chosen on first use, one algorithm per pass (see choose()). Later calls reuse it.
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

using Key = std::array<int64_t, 20>;
std::mutex g_plans_mutex;
// Never destroyed: at exit cuDNN may already be unloaded when static destructors run.
auto& g_plans = *new std::map<Key, std::unique_ptr<Plan>>();

Plan& plan_for(const Shape& xs, const Shape& ws, const Shape& ys, const Conv2dParams& p) {
  Key key{current_device(), xs[0], xs[1], xs[2], xs[3], ws[0], ws[2], ws[3], p.stride_h, p.stride_w, p.pad_h,
          p.pad_w, p.dil_h, p.dil_w, p.groups, conv_tf32(), deterministic(), benchmark(), ys[2], ys[3]};
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
  int n, c, h, w;
  TRIM_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(plan->conv, plan->x, plan->w, &n, &c, &h, &w));
  TRIM_CHECK(n == ys[0] && c == ys[1] && h == ys[2] && w == ys[3],
             cat("cuDNN computes conv output [", n, ", ", c, ", ", h, ", ", w, "], trim expected ", ys.str()));
  slot = std::move(plan);
  return *slot;
}

// Workspace an algorithm may use: half of what is free on the device (counting memory cached in
// trim's own pool, which cudaMemGetInfo reports as used), at most 1 GiB.
size_t workspace_limit() {
  size_t free = 0, total = 0;
  TRIM_CUDA_CHECK(cudaMemGetInfo(&free, &total));
  return std::min<size_t>((free + pool_cached_bytes()) / 2, size_t(1) << 30);
}

cudnnMathType_t base_math() { return conv_tf32() ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH; }

bool math_allowed(cudnnMathType_t m) {
  return conv_tf32() || (m != CUDNN_TENSOR_OP_MATH && m != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION);
}

// Algorithms that accumulate with atomics, whatever a search reports.
bool known_nondeterministic(cudnnConvolutionBwdDataAlgo_t a) { return a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_0; }
bool known_nondeterministic(cudnnConvolutionBwdFilterAlgo_t a) {
  return a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0 || a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3;
}
bool known_nondeterministic(cudnnConvolutionFwdAlgo_t) { return false; }

// Chooses one pass's algorithm once per plan. With benchmark() the candidates come from timing
// them (cudnnFind*Ex, fastest first); otherwise from cuDNN's heuristics (cudnnGet*_v7), which rank
// the same way in every process. The first candidate that succeeded, uses allowed math, is
// deterministic when required and fits the workspace limit wins.
//   heuristic(perf, count), find(perf, count, workspace, limit), workspace_size(algo) -> bytes
template <class Perf, class Heuristic, class Find, class WorkspaceSize>
const Algo& choose(Plan& pl, Algo& slot, const char* pass, const Heuristic& heuristic, const Find& find,
                   const WorkspaceSize& workspace_size) {
  if (slot.algo >= 0) return slot;
  TRIM_CUDNN_CHECK(cudnnSetConvolutionMathType(pl.conv, base_math()));
  size_t limit = workspace_limit();
  Perf perf[16];
  int count = 0;
  if (benchmark()) {
    void* ws = limit ? malloc_async(limit) : nullptr;
    try {
      find(perf, &count, ws, limit);
    } catch (...) {
      free_async(ws);
      throw;
    }
    free_async(ws);
  } else {
    heuristic(perf, &count);
  }
  for (int i = 0; i < count; ++i) {
    const Perf& r = perf[i];
    if (r.status != CUDNN_STATUS_SUCCESS || !math_allowed(r.mathType)) continue;
    if (deterministic() && (r.determinism != CUDNN_DETERMINISTIC || known_nondeterministic(r.algo))) continue;
    cudnnMathType_t math = conv_tf32() ? r.mathType : CUDNN_FMA_MATH;
    TRIM_CUDNN_CHECK(cudnnSetConvolutionMathType(pl.conv, math));
    size_t need = 0;
    if (workspace_size(r.algo, &need) != CUDNN_STATUS_SUCCESS || need > limit) continue;
    slot = Algo{int(r.algo), need, math};
    return slot;
  }
  TRIM_CHECK(false, cat("cuDNN offers no usable ", pass, " algorithm", deterministic() ? " (deterministic mode)" : "",
                        " within a workspace of ", limit, " bytes"));
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
  using Perf = cudnnConvolutionFwdAlgoPerf_t;
  const Algo& a = choose<Perf>(
      pl, pl.fwd, "forward convolution",
      [&](Perf* r, int* n) {
        TRIM_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, pl.x, pl.w, pl.conv, pl.y, 16, n, r));
      },
      [&](Perf* r, int* n, void* ws, size_t limit) {
        TRIM_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(h, pl.x, x.data<float>(), pl.w, w.data<float>(), pl.conv,
                                                                pl.y, y.data<float>(), 16, n, r, ws, limit));
      },
      [&](cudnnConvolutionFwdAlgo_t algo, size_t* bytes) {
        return cudnnGetConvolutionForwardWorkspaceSize(h, pl.x, pl.w, pl.conv, pl.y, algo, bytes);
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
  using Perf = cudnnConvolutionBwdDataAlgoPerf_t;
  const Algo& a = choose<Perf>(
      pl, pl.bwd_data, "backward-data convolution",
      [&](Perf* r, int* n) {
        TRIM_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, pl.w, pl.y, pl.conv, pl.x, 16, n, r));
      },
      [&](Perf* r, int* n, void* ws, size_t limit) {
        TRIM_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(h, pl.w, w.data<float>(), pl.y, gy.data<float>(),
                                                                     pl.conv, pl.x, gx.data<float>(), 16, n, r, ws,
                                                                     limit));
      },
      [&](cudnnConvolutionBwdDataAlgo_t algo, size_t* bytes) {
        return cudnnGetConvolutionBackwardDataWorkspaceSize(h, pl.w, pl.y, pl.conv, pl.x, algo, bytes);
      });
  Workspace ws(a.workspace);
  TRIM_CUDNN_CHECK(cudnnSetConvolutionMathType(pl.conv, a.math));
  TRIM_CUDNN_CHECK(cudnnConvolutionBackwardData(h, &kOne, pl.w, w.data<float>(), pl.y, gy.data<float>(), pl.conv,
                                                cudnnConvolutionBwdDataAlgo_t(a.algo), ws.ptr, ws.bytes, &kZero, pl.x,
                                                gx.data<float>()));
}

void conv2d_backward_filter(const Tensor& x, const Tensor& gy, Tensor& gw, const Conv2dParams& p, float beta) {
  Plan& pl = plan_for(x.shape(), gw.shape(), gy.shape(), p);
  cudnnHandle_t h = cudnn();
  using Perf = cudnnConvolutionBwdFilterAlgoPerf_t;
  const Algo& a = choose<Perf>(
      pl, pl.bwd_filter, "backward-filter convolution",
      [&](Perf* r, int* n) {
        TRIM_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, pl.x, pl.y, pl.conv, pl.w, 16, n, r));
      },
      [&](Perf* r, int* n, void* ws, size_t limit) {
        // The search writes its trial results into the output: with beta = 1 that would destroy
        // the gradient being accumulated, so it writes into scratch instead.
        Workspace scratch(gw.nbytes());
        TRIM_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(h, pl.x, x.data<float>(), pl.y, gy.data<float>(),
                                                                       pl.conv, pl.w, static_cast<float*>(scratch.ptr),
                                                                       16, n, r, ws, limit));
      },
      [&](cudnnConvolutionBwdFilterAlgo_t algo, size_t* bytes) {
        return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, pl.x, pl.y, pl.conv, pl.w, algo, bytes);
      });
  Workspace ws(a.workspace);
  TRIM_CUDNN_CHECK(cudnnSetConvolutionMathType(pl.conv, a.math));
  TRIM_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, &kOne, pl.x, x.data<float>(), pl.y, gy.data<float>(), pl.conv,
                                                  cudnnConvolutionBwdFilterAlgo_t(a.algo), ws.ptr, ws.bytes, &beta,
                                                  pl.w, gw.data<float>()));
}

}  // namespace trim::cuda
