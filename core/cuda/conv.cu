// Convolution on cuDNN (legacy API). Each distinct problem (shapes, parameters, math options) gets a
// plan: its descriptors and, per pass, a ranked list of candidate algorithms built on first use
// (see rank()). A call runs the plan's current candidate; when that fails (workspace out of memory,
// NOT_SUPPORTED, EXECUTION_FAILED) it falls through to the next one and remembers it, as PyTorch's
// AlgoIterator::try_all does.
//
// The legacy API describes tensors with 32-bit ints: a batch whose activations exceed 2^31 - 1
// elements runs in chunks of images (as PyTorch's split_batch_dim_to_32bit_out does).
#include <algorithm>
#include <array>
#include <climits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/cuda/check.h"
#include "core/cuda/context.h"
#include "core/cuda/cudnn_util.h"
#include "core/cuda/runtime.h"
#include "core/kernels/kernels.h"

namespace trim::cuda {
namespace {

// Fixed, not derived from free memory: a resumed process (or one under other memory pressure)
// ranks the same algorithms and so repeats the same result bits.
constexpr size_t kWorkspaceCap = size_t(1) << 30;

struct Algo {
  int algo = -1;
  size_t workspace = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
};

struct Pass {
  bool ranked = false;
  std::vector<Algo> candidates;  // best first
  size_t current = 0;            // the first candidate not known to fail
};

struct Plan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  Pass fwd, bwd_data, bwd_filter;
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

int to_int(int64_t v) { return static_cast<int>(v); }  // callers have checked v <= INT_MAX

// xs, ws, ys: one chunk's shapes, each with fewer than 2^31 elements (so every dim fits an int).
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
  TRIM_CUDNN_CHECK(cudnnSetTensor4dDescriptor(plan->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, to_int(xs[0]),
                                              to_int(xs[1]), to_int(xs[2]), to_int(xs[3])));
  TRIM_CUDNN_CHECK(cudnnSetTensor4dDescriptor(plan->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, to_int(ys[0]),
                                              to_int(ys[1]), to_int(ys[2]), to_int(ys[3])));
  TRIM_CUDNN_CHECK(cudnnSetFilter4dDescriptor(plan->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, to_int(ws[0]),
                                              to_int(ws[1]), to_int(ws[2]), to_int(ws[3])));
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

cudnnMathType_t base_math() { return conv_tf32() ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH; }

// FP32 math may be plain FMA, or TF32 tensor cores (DEFAULT / TENSOR_OP) when TF32 is on; never
// ALLOW_CONVERSION, which lets cuDNN round FP32 down to FP16 (PyTorch asserts the same).
bool math_allowed(cudnnMathType_t m) {
  if (m == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) return false;
  return conv_tf32() || m != CUDNN_TENSOR_OP_MATH;
}

// Algorithms that accumulate with atomics, whatever a search reports.
bool known_nondeterministic(cudnnConvolutionBwdDataAlgo_t a) { return a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_0; }
bool known_nondeterministic(cudnnConvolutionBwdFilterAlgo_t a) {
  return a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0 || a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3;
}
bool known_nondeterministic(cudnnConvolutionFwdAlgo_t) { return false; }

// Temporary device memory for one call, ordered on the calling thread's stream.
struct Workspace {
  explicit Workspace(size_t n) : mem(n), ptr(mem.get()), bytes(n) {}
  Scratch mem;
  void* ptr;
  size_t bytes;
};

// The candidates of one pass, best first. With benchmark() they come from timing (cudnnFind*Ex,
// fastest first); otherwise from cuDNN's heuristics (cudnnGet*_v7), which rank the same way in
// every process. A candidate must have succeeded in the search, use allowed math, be
// deterministic when required and fit the fixed workspace cap. After them come the algorithms the
// search did not list (so a pass never ends up with nothing to try), ranked by id.
//   heuristic(perf, count), find(perf, count, workspace, bytes), workspace_size(algo, bytes) -> status
template <class Perf, class AlgoT, int kCount, class Heuristic, class Find, class WorkspaceSize>
std::vector<Algo> rank(Plan& pl, const Heuristic& heuristic, const Find& find, const WorkspaceSize& workspace_size) {
  TRIM_CUDNN_CHECK(cudnnSetConvolutionMathType(pl.conv, base_math()));
  Perf perf[kCount > 0 ? 2 * kCount : 16];
  int count = 0;
  const int capacity = int(sizeof(perf) / sizeof(perf[0]));
  if (benchmark()) {
    bool found = false;
    try {
      Workspace ws(kWorkspaceCap);
      find(perf, capacity, &count, ws.ptr, ws.bytes);
      found = true;
    } catch (const Error&) {  // no room for the full workspace: search among the algorithms needing none
      (void)cudaGetLastError();
    }
    if (!found) find(perf, capacity, &count, nullptr, 0);
  } else {
    heuristic(perf, capacity, &count);
  }
  std::vector<Algo> out;
  std::vector<bool> listed(kCount, false);
  auto consider = [&](AlgoT algo, cudnnMathType_t math) {
    TRIM_CUDNN_CHECK(cudnnSetConvolutionMathType(pl.conv, math));
    size_t need = 0;
    if (workspace_size(algo, &need) != CUDNN_STATUS_SUCCESS || need > kWorkspaceCap) return;
    for (const Algo& a : out)
      if (a.algo == int(algo) && a.math == math) return;
    out.push_back(Algo{int(algo), need, math});
  };
  for (int i = 0; i < count; ++i) {
    const Perf& r = perf[i];
    if (int(r.algo) >= 0 && int(r.algo) < kCount) listed[size_t(r.algo)] = true;
    if (r.status != CUDNN_STATUS_SUCCESS || !math_allowed(r.mathType)) continue;
    if (deterministic() && (r.determinism != CUDNN_DETERMINISTIC || known_nondeterministic(r.algo))) continue;
    consider(r.algo, conv_tf32() ? r.mathType : CUDNN_FMA_MATH);
  }
  for (int a = 0; a < kCount; ++a) {
    if (listed[size_t(a)] || (deterministic() && known_nondeterministic(AlgoT(a)))) continue;
    consider(AlgoT(a), base_math());
  }
  return out;
}

// Runs the pass's current candidate, falling through to the next on failure. run(algo, ws) returns
// cuDNN's status for the call. cuDNN checks support before it launches anything, so a failed
// candidate has not written the output (which matters when it accumulates with beta = 1).
template <class Rank, class Run>
void execute(Plan& pl, Pass& pass, const char* name, const Rank& ranker, const Run& run) {
  if (!pass.ranked) {
    pass.candidates = ranker();
    pass.current = 0;
    pass.ranked = true;
  }
  std::string failures;
  for (size_t i = pass.current; i < pass.candidates.size(); ++i) {
    const Algo& a = pass.candidates[i];
    try {
      Workspace ws(a.workspace);
      TRIM_CUDNN_CHECK(cudnnSetConvolutionMathType(pl.conv, a.math));
      cudnnStatus_t status = run(a, ws);
      if (status == CUDNN_STATUS_SUCCESS) {
        pass.current = i;  // later calls start here
        TRIM_CUDA_SYNC_POINT();
        return;
      }
      failures += cat("\n  algorithm ", a.algo, " (math ", int(a.math), ", workspace ", a.workspace,
                      " bytes): ", cudnnGetErrorString(status));
    } catch (const Error& e) {
      failures += cat("\n  algorithm ", a.algo, " (math ", int(a.math), ", workspace ", a.workspace, " bytes): ", e.what());
    }
    (void)cudaGetLastError();  // a failed launch leaves a (non-sticky) error behind
  }
  // pass.current stays: a later call tries them all again (an out-of-memory may have passed).
  throw Error(cat("cuDNN ", name, ": no algorithm could run", deterministic() ? " (deterministic mode)" : "",
                  " within a workspace of ", kWorkspaceCap, " bytes; ", pass.candidates.size(), " candidates",
                  failures.empty() ? std::string() : cat(":", failures)));
}

// Splits the batch so that every chunk's x and y have at most INT_MAX elements; calls
// body(first image, images) per chunk. Refuses shapes where one image alone is too large.
template <class Body>
void for_chunks(const Shape& xs, const Shape& ws, const Shape& ys, const char* what, const Body& body) {
  int64_t n = xs[0], per_x = xs.numel() / std::max<int64_t>(n, 1), per_y = ys.numel() / std::max<int64_t>(n, 1);
  TRIM_CHECK(ws.numel() <= INT_MAX, cat(what, ": the weight ", ws.str(), " has ", ws.numel(),
                                        " elements; cuDNN's legacy API takes at most 2^31 - 1 per tensor"));
  int64_t per = std::max<int64_t>({per_x, per_y, 1});
  TRIM_CHECK(per <= INT_MAX, cat(what, ": one image of input ", xs.str(), " / output ", ys.str(), " has ", per,
                                 " elements; cuDNN's legacy API takes at most 2^31 - 1 per tensor"));
  int64_t chunk = std::min<int64_t>(n, INT_MAX / per);
  for (int64_t first = 0; first < n; first += chunk) body(first, std::min(chunk, n - first));
}

Shape with_batch(const Shape& s, int64_t n) { return Shape{n, s[1], s[2], s[3]}; }

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& w, Tensor& y, const Conv2dParams& p) {
  if (y.numel() == 0) return;
  const Shape &xs = x.shape(), &wsh = w.shape(), &ys = y.shape();
  int64_t per_x = xs.numel() / xs[0], per_y = ys.numel() / ys[0];
  for_chunks(xs, wsh, ys, "conv2d forward", [&](int64_t first, int64_t images) {
    const float* X = x.data<float>() + first * per_x;
    float* Y = y.data<float>() + first * per_y;
    Plan& pl = plan_for(with_batch(xs, images), wsh, with_batch(ys, images), p);
    cudnnHandle_t h = cudnn();
    using Perf = cudnnConvolutionFwdAlgoPerf_t;
    using A = cudnnConvolutionFwdAlgo_t;
    auto ranker = [&] {
      return rank<Perf, A, CUDNN_CONVOLUTION_FWD_ALGO_COUNT>(
          pl,
          [&](Perf* r, int cap, int* n) {
            TRIM_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, pl.x, pl.w, pl.conv, pl.y, cap, n, r));
          },
          [&](Perf* r, int cap, int* n, void* ws, size_t bytes) {
            TRIM_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(h, pl.x, X, pl.w, w.data<float>(), pl.conv, pl.y, Y,
                                                                    cap, n, r, ws, bytes));
          },
          [&](A algo, size_t* bytes) {
            return cudnnGetConvolutionForwardWorkspaceSize(h, pl.x, pl.w, pl.conv, pl.y, algo, bytes);
          });
    };
    execute(pl, pl.fwd, "forward convolution", ranker, [&](const Algo& a, Workspace& ws) {
      return cudnnConvolutionForward(h, &kOne, pl.x, X, pl.w, w.data<float>(), pl.conv, A(a.algo), ws.ptr, ws.bytes,
                                     &kZero, pl.y, Y);
    });
  });
}

void conv2d_backward_data(const Tensor& gy, const Tensor& w, Tensor& gx, const Conv2dParams& p) {
  if (gx.numel() == 0) return;
  const Shape &xs = gx.shape(), &wsh = w.shape(), &ys = gy.shape();
  int64_t per_x = xs.numel() / xs[0], per_y = ys.numel() / ys[0];
  for_chunks(xs, wsh, ys, "conv2d backward-data", [&](int64_t first, int64_t images) {
    float* GX = gx.data<float>() + first * per_x;
    const float* GY = gy.data<float>() + first * per_y;
    Plan& pl = plan_for(with_batch(xs, images), wsh, with_batch(ys, images), p);
    cudnnHandle_t h = cudnn();
    using Perf = cudnnConvolutionBwdDataAlgoPerf_t;
    using A = cudnnConvolutionBwdDataAlgo_t;
    auto ranker = [&] {
      return rank<Perf, A, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT>(
          pl,
          [&](Perf* r, int cap, int* n) {
            TRIM_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, pl.w, pl.y, pl.conv, pl.x, cap, n, r));
          },
          [&](Perf* r, int cap, int* n, void* ws, size_t bytes) {
            TRIM_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(h, pl.w, w.data<float>(), pl.y, GY, pl.conv,
                                                                         pl.x, GX, cap, n, r, ws, bytes));
          },
          [&](A algo, size_t* bytes) {
            return cudnnGetConvolutionBackwardDataWorkspaceSize(h, pl.w, pl.y, pl.conv, pl.x, algo, bytes);
          });
    };
    execute(pl, pl.bwd_data, "backward-data convolution", ranker, [&](const Algo& a, Workspace& ws) {
      return cudnnConvolutionBackwardData(h, &kOne, pl.w, w.data<float>(), pl.y, GY, pl.conv, A(a.algo), ws.ptr,
                                          ws.bytes, &kZero, pl.x, GX);
    });
  });
}

void conv2d_backward_filter(const Tensor& x, const Tensor& gy, Tensor& gw, const Conv2dParams& p, float beta) {
  if (gw.numel() == 0) return;
  const Shape &xs = x.shape(), &wsh = gw.shape(), &ys = gy.shape();
  if (xs[0] == 0) {  // no images: dW = 0
    if (beta == 0.0f) gw.zero_();
    return;
  }
  int64_t per_x = xs.numel() / xs[0], per_y = ys.numel() / ys[0];
  for_chunks(xs, wsh, ys, "conv2d backward-filter", [&](int64_t first, int64_t images) {
    const float* X = x.data<float>() + first * per_x;
    const float* GY = gy.data<float>() + first * per_y;
    const float chunk_beta = first == 0 ? beta : 1.0f;  // later chunks add to the first's sum
    Plan& pl = plan_for(with_batch(xs, images), wsh, with_batch(ys, images), p);
    cudnnHandle_t h = cudnn();
    using Perf = cudnnConvolutionBwdFilterAlgoPerf_t;
    using A = cudnnConvolutionBwdFilterAlgo_t;
    auto ranker = [&] {
      return rank<Perf, A, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT>(
          pl,
          [&](Perf* r, int cap, int* n) {
            TRIM_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, pl.x, pl.y, pl.conv, pl.w, cap, n, r));
          },
          [&](Perf* r, int cap, int* n, void* ws, size_t bytes) {
            // The search writes its trial results into the output: with beta = 1 that would destroy
            // the gradient being accumulated, so it writes into scratch instead.
            Workspace scratch(gw.nbytes());
            TRIM_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(
                h, pl.x, X, pl.y, GY, pl.conv, pl.w, static_cast<float*>(scratch.ptr), cap, n, r, ws, bytes));
          },
          [&](A algo, size_t* bytes) {
            return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, pl.x, pl.y, pl.conv, pl.w, algo, bytes);
          });
    };
    execute(pl, pl.bwd_filter, "backward-filter convolution", ranker, [&](const Algo& a, Workspace& ws) {
      return cudnnConvolutionBackwardFilter(h, &kOne, pl.x, X, pl.y, GY, pl.conv, A(a.algo), ws.ptr, ws.bytes,
                                            &chunk_beta, pl.w, gw.data<float>());
    });
  });
}

}  // namespace trim::cuda
