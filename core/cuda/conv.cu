// Convolution on cuDNN (legacy API). Each distinct problem (shapes, parameters, math options) gets a
// plan: its descriptors and, per pass, a ranked list of candidate algorithms built on first use
// (see rank()). A call runs the plan's current candidate; when that fails (workspace out of memory,
// NOT_SUPPORTED, EXECUTION_FAILED) it falls through to the next one and remembers it, as PyTorch's
// AlgoIterator::try_all does.
//
// The legacy API describes tensors with 32-bit ints: a batch whose activations exceed 2^31 - 1
// elements runs in chunks of images (as PyTorch's split_batch_dim_to_32bit_out does).
//
// bf16 (kernel_list.inc: any bf16 input => bf16 operands, f32 accumulation, f32 outputs): cuDNN's
// legacy API offers one bf16 configuration, PSEUDO_BFLOAT16_CONFIG: x, w and y (dx, dw) all
// BFLOAT16 with a FLOAT convolution (compute) type. So f32 inputs are rounded into stream-ordered
// bf16 temporaries (the cast kernel's rule, ew::ToBf16), cuDNN accumulates in f32 and writes a bf16
// temporary, which is widened into the f32 output (added to it where beta = 1). The outputs hold
// bf16-rounded values (as PyTorch autocast's bf16 conv outputs do); the CPU backend's oneDNN may
// keep them unrounded, so the two agree within one bf16 rounding of the result.
//
// Channels-last (set_channels_last, default on): a bf16 call with groups == 1 hands cuDNN NHWC
// operands (KRSC filters), the layout its tensor-core kernels read natively; with NCHW operands it
// picks either NCHW kernels or its own internal transposes. Batch norm, pooling, the neurons and
// every other trim kernel read NCHW, so the layout changes inside the call, in the conversion
// passes it makes anyway (Operand rounds f32 to bf16, Result widens bf16 to f32; core/cuda/
// transpose.h): no extra pass for f32 inputs and outputs, one for inputs already in bf16 (the
// weight copy, the rounded output gradient). Grouped convolutions stay NCHW (trim's bf16 policy
// keeps those with fewer than 16 channels per group in f32 anyway). A shape for which no NHWC
// algorithm runs falls back to NCHW, once logged. Whether NHWC beats NCHW for trim's shapes on
// Hopper is scripts/gpu-check.sh's speed step (trim bf16 with and without channels-last).
#include <algorithm>
#include <array>
#include <atomic>
#include <climits>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/cuda/check.h"
#include "core/cuda/context.h"
#include "core/cuda/cudnn_util.h"
#include "core/cuda/launch.cuh"
#include "core/cuda/runtime.h"
#include "core/cuda/transpose.h"
#include "core/kernels/elementwise_math.h"
#include "core/kernels/kernels.h"
#include "core/log.h"

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

// How x, w and y lie in the memory cuDNN reads: trim's own NCHW (filters KCRS), or channels-last
// (NHWC, filters KRSC; bf16 only).
enum class Layout { nchw, nhwc };

struct Plan {
  cudnnDataType_t dtype = CUDNN_DATA_FLOAT;  // of x, w and y (the compute type is always FLOAT)
  Layout layout = Layout::nchw;
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

// A convolution cuDNN could not run in the asked configuration. `refused`: cuDNN itself declined it
// (a descriptor, a search or every candidate algorithm answered BAD_PARAM or NOT_SUPPORTED; none ran
// out of memory or failed otherwise), so another layout may run where this one cannot.
class NoAlgorithm : public Error {
 public:
  NoAlgorithm(const std::string& what, bool refused) : Error(what), refused(refused) {}
  bool refused;
};

// The statuses by which cuDNN declines a configuration. Not the others of their families: a
// driver or architecture mismatch, a missing sub-library, a null or misaligned pointer are faults
// of the set-up or of trim, and must not quietly move a shape to another layout.
static_assert(CUDNN_MAJOR >= 9, "the refusal statuses below are cuDNN 9's");
bool is_refusal(cudnnStatus_t s) {
  switch (s) {
    case CUDNN_STATUS_BAD_PARAM:
    case CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH:
    case CUDNN_STATUS_NOT_SUPPORTED:
    case CUDNN_STATUS_NOT_SUPPORTED_SHAPE:
    case CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE:
    case CUDNN_STATUS_NOT_SUPPORTED_LAYOUT:
    case CUDNN_STATUS_NOT_SUPPORTED_PADDING:
    case CUDNN_STATUS_NOT_SUPPORTED_SHARED_MEMORY_INSUFFICIENT:
      return true;
    default:
      return false;
  }
}

// A cuDNN call whose failure may mean the configuration (say, channels-last operands) is refused:
// throws NoAlgorithm, `refused` by the status; otherwise as TRIM_CUDNN_CHECK (file and line in the
// message, the TRIM_CUDA_SYNC=1 sync point after it).
#define TRIM_CUDNN_REFUSABLE(expr)                                                                 \
  do {                                                                                             \
    const cudnnStatus_t trim_status_ = (expr);                                                     \
    if (trim_status_ != CUDNN_STATUS_SUCCESS)                                                      \
      throw NoAlgorithm(cat("core/cuda/conv.cu:", __LINE__, ": ", #expr, ": ",                      \
                            cudnnGetErrorString(trim_status_)),                                    \
                        is_refusal(trim_status_));                                                 \
    TRIM_CUDA_SYNC_POINT();                                                                        \
  } while (0)

using Key = std::array<int64_t, 22>;
std::mutex g_plans_mutex;
// Never destroyed: at exit cuDNN may already be unloaded when static destructors run.
auto& g_plans = *new std::map<Key, std::unique_ptr<Plan>>();
// Whole calls (their full shapes, under the NHWC key, and the pass: 0 forward, 1 backward-data,
// 2 backward-filter) for which no NHWC algorithm ran: they run NCHW from then on.
auto& g_nhwc_refused = *new std::set<std::pair<Key, int>>();
std::atomic<int64_t> g_nhwc_calls{0};  // calls that ran on channels-last operands (channels_last_calls())

Key key_of(const Shape& xs, const Shape& ws, const Shape& ys, const Conv2dParams& p, cudnnDataType_t dt, Layout l) {
  return Key{current_device(), xs[0], xs[1], xs[2], xs[3], ws[0], ws[2], ws[3], p.stride_h, p.stride_w, p.pad_h,
             p.pad_w, p.dil_h, p.dil_w, p.groups, conv_tf32(), deterministic(), benchmark(), ys[2], ys[3], int64_t(dt),
             int64_t(l)};
}

int to_int(int64_t v) { return static_cast<int>(v); }  // callers have checked v <= INT_MAX

// xs, ws, ys: one chunk's shapes, each with fewer than 2^31 elements (so every dim fits an int).
// dt: FLOAT or BFLOAT16, the type of x, w and y; l: their layout. Both are part of the key, so
// f32, bf16 and channels-last calls of one shape have their own descriptors and ranked algorithms.
// The shapes are logical (N, C, H, W and K, C/groups, R, S) in either layout.
Plan& plan_for(const Shape& xs, const Shape& ws, const Shape& ys, const Conv2dParams& p, cudnnDataType_t dt, Layout l) {
  const Key key = key_of(xs, ws, ys, p, dt, l);
  std::lock_guard<std::mutex> lock(g_plans_mutex);
  auto& slot = g_plans[key];
  if (slot) return *slot;
  auto plan = std::make_unique<Plan>();
  plan->dtype = dt;
  plan->layout = l;
  const cudnnTensorFormat_t format = l == Layout::nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
  TRIM_CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->x));
  TRIM_CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->y));
  TRIM_CUDNN_CHECK(cudnnCreateFilterDescriptor(&plan->w));
  TRIM_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&plan->conv));
  TRIM_CUDNN_REFUSABLE(cudnnSetTensor4dDescriptor(plan->x, format, dt, to_int(xs[0]), to_int(xs[1]), to_int(xs[2]),
                                                  to_int(xs[3])));
  TRIM_CUDNN_REFUSABLE(cudnnSetTensor4dDescriptor(plan->y, format, dt, to_int(ys[0]), to_int(ys[1]), to_int(ys[2]),
                                                  to_int(ys[3])));
  TRIM_CUDNN_REFUSABLE(cudnnSetFilter4dDescriptor(plan->w, dt, format, to_int(ws[0]), to_int(ws[1]), to_int(ws[2]),
                                                  to_int(ws[3])));
  TRIM_CUDNN_REFUSABLE(cudnnSetConvolution2dDescriptor(plan->conv, p.pad_h, p.pad_w, p.stride_h, p.stride_w, p.dil_h,
                                                       p.dil_w, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  TRIM_CUDNN_REFUSABLE(cudnnSetConvolutionGroupCount(plan->conv, p.groups));
  int n, c, h, w;
  TRIM_CUDNN_REFUSABLE(cudnnGetConvolution2dForwardOutputDim(plan->conv, plan->x, plan->w, &n, &c, &h, &w));
  TRIM_CHECK(n == ys[0] && c == ys[1] && h == ys[2] && w == ys[3],
             cat("cuDNN computes conv output [", n, ", ", c, ", ", h, ", ", w, "], trim expected ", ys.str()));
  slot = std::move(plan);
  return *slot;
}

bool is_bf16(const Plan& pl) { return pl.dtype == CUDNN_DATA_BFLOAT16; }

// bf16 operands: tensor cores (what bf16 is for; they accumulate in FP32). FP32: TF32 tensor cores
// when TF32 is on, else plain FMA.
cudnnMathType_t base_math(const Plan& pl) {
  if (is_bf16(pl)) return CUDNN_TENSOR_OP_MATH;
  return conv_tf32() ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
}

// Never ALLOW_CONVERSION, which lets cuDNN round its operands down to FP16 (PyTorch asserts the
// same for FP32; for bf16 it would trade bf16's range for FP16's). FP32 may be plain FMA, or TF32
// tensor cores (DEFAULT / TENSOR_OP) when TF32 is on; bf16 may use any other math type, all of
// which read the bf16 operands exactly and accumulate in FP32 (the FLOAT compute type).
bool math_allowed(const Plan& pl, cudnnMathType_t m) {
  if (m == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) return false;
  return is_bf16(pl) || conv_tf32() || m != CUDNN_TENSOR_OP_MATH;
}

// The math type a search result runs with: its own, except FP32 with TF32 off, which is pinned to
// FMA (a DEFAULT result could otherwise pick a TF32 kernel).
cudnnMathType_t run_math(const Plan& pl, cudnnMathType_t reported) {
  return is_bf16(pl) || conv_tf32() ? reported : CUDNN_FMA_MATH;
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
  TRIM_CUDNN_CHECK(cudnnSetConvolutionMathType(pl.conv, base_math(pl)));
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
    if (r.status != CUDNN_STATUS_SUCCESS || !math_allowed(pl, r.mathType)) continue;
    if (deterministic() && (r.determinism != CUDNN_DETERMINISTIC || known_nondeterministic(r.algo))) continue;
    consider(r.algo, run_math(pl, r.mathType));
  }
  for (int a = 0; a < kCount; ++a) {
    if (listed[size_t(a)] || (deterministic() && known_nondeterministic(AlgoT(a)))) continue;
    consider(AlgoT(a), base_math(pl));
  }
  return out;
}

// Runs the pass's current candidate, falling through to the next on failure. run(algo, ws) returns
// cuDNN's status for the call. cuDNN checks support before it launches anything, so a failed
// candidate has not written the output (which matters when it accumulates with beta = 1).
template <class Rank, class Run>
void execute(Plan& pl, Pass& pass, const char* name, const Rank& ranker, const Run& run) {
  if (!pass.ranked) {
    try {
      pass.candidates = ranker();
    } catch (const NoAlgorithm& e) {  // a search refused (channels-last operands?) or failed
      (void)cudaGetLastError();
      throw NoAlgorithm(cat("cuDNN ", name, ": ranking its algorithms failed: ", e.what()), e.refused);
    } catch (const Error&) {  // out of memory, another cuDNN failure: as it is
      (void)cudaGetLastError();
      throw;
    }
    pass.current = 0;
    pass.ranked = true;
  }
  std::string failures;
  bool refused = true;  // so far every failure was cuDNN declining the configuration
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
      refused = refused && is_refusal(status);
      failures += cat("\n  algorithm ", a.algo, " (math ", int(a.math), ", workspace ", a.workspace,
                      " bytes): ", cudnnGetErrorString(status));
    } catch (const Error& e) {
      refused = false;
      failures += cat("\n  algorithm ", a.algo, " (math ", int(a.math), ", workspace ", a.workspace, " bytes): ", e.what());
    }
    (void)cudaGetLastError();  // a failed launch leaves a (non-sticky) error behind
  }
  // pass.current stays: a later call tries them all again (an out-of-memory may have passed).
  throw NoAlgorithm(cat("cuDNN ", name, ": no algorithm could run", deterministic() ? " (deterministic mode)" : "",
                       " within a workspace of ", kWorkspaceCap, " bytes; ", pass.candidates.size(), " candidates",
                       failures.empty() ? std::string() : cat(":", failures)),
                    refused);
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

// A run of whole planes of a tensor in trim's layout: `batches` x `channels` x `pixels` elements
// (activations: images x C x H*W; a filter: K x C/groups x R*S). Channels-last swaps the last two.
struct Planes {
  int64_t batches, channels, pixels;
  int64_t count() const { return batches * channels * pixels; }
};

Shape with_batch(const Shape& s, int64_t n) { return Shape{n, s[1], s[2], s[3]}; }
Planes image_planes(const Shape& s, int64_t images) { return Planes{images, s[1], s[2] * s[3]}; }
Planes filter_planes(const Shape& ws) { return Planes{ws[0], ws[1], ws[2] * ws[3]}; }

// gw = beta gw + widen(d), beta 0 or 1: the bf16 dW of one chunk into the f32 gradient.
struct AccumulateBf16 {
  const bf16* d;
  float* gw;
  float beta;
  TRIM_HD void operator()(int64_t i) const {
    const float v = bf16_to_float(d[i]);
    gw[i] = beta == 0.0f ? v : gw[i] + v;  // beta 0 never reads gw (it may be uninitialised)
  }
};

// The cuDNN data type of a call: BFLOAT16 when any input is bf16, else FLOAT. Refuses other
// dtypes and non-f32 outputs (kernel_list.inc's contract).
cudnnDataType_t compute_type(const char* what, const Tensor& a, const char* a_name, const Tensor& b,
                             const char* b_name, const Tensor& out, const char* out_name) {
  auto ok = [](const Tensor& t) { return t.dtype() == DType::f32 || t.dtype() == DType::bf16; };
  TRIM_CHECK(ok(a) && ok(b), cat(what, ": ", a_name, " is ", dtype_name(a.dtype()), " and ", b_name, " is ",
                                 dtype_name(b.dtype()), "; expected f32 or bf16"));
  TRIM_CHECK(out.dtype() == DType::f32, cat(what, ": ", out_name, " is ", dtype_name(out.dtype()), "; expected f32"));
  return a.dtype() == DType::bf16 || b.dtype() == DType::bf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
}

// The planes of input t from element `offset`, as cuDNN reads them under data type dt and layout l:
// the tensor's own memory when its dtype is dt and the layout NCHW; else a stream-ordered bf16
// temporary, rounded to nearest even from f32 (the cast kernel's rule) and, for NHWC, transposed
// in the same pass.
class Operand {
 public:
  Operand(const Tensor& t, int64_t offset, Planes planes, cudnnDataType_t dt, Layout l)
      : mem_(dt == CUDNN_DATA_BFLOAT16 && (t.dtype() == DType::f32 || l == Layout::nhwc)
                 ? size_t(planes.count()) * sizeof(bf16)
                 : 0) {
    TRIM_CHECK(l == Layout::nchw || dt == CUDNN_DATA_BFLOAT16, "conv: channels-last is for bf16 calls only");
    if (dt == CUDNN_DATA_FLOAT) {
      ptr_ = t.data<float>() + offset;
    } else if (l == Layout::nhwc) {
      if (t.dtype() == DType::bf16)
        transpose_to_bf16(t.data<bf16>() + offset, mem_.as<bf16>(), planes.batches, planes.channels, planes.pixels);
      else
        transpose_to_bf16(t.data<float>() + offset, mem_.as<bf16>(), planes.batches, planes.channels, planes.pixels);
      ptr_ = mem_.get();
    } else if (t.dtype() == DType::bf16) {
      ptr_ = t.data<bf16>() + offset;
    } else {
      map(planes.count(), ew::ToBf16{t.data<float>() + offset, mem_.as<bf16>()});
      ptr_ = mem_.get();
    }
  }
  const void* get() const { return ptr_; }

 private:
  Scratch mem_;
  const void* ptr_ = nullptr;
};

// Where cuDNN writes the f32 output planes `out` under data type dt and layout l: the output
// itself for FLOAT; for BFLOAT16 (cuDNN's output has the inputs' type) a bf16 temporary that
// finish() widens into the output (transposed back from NHWC in the same pass), adding to it when
// beta = 1.
class Result {
 public:
  Result(float* out, Planes planes, cudnnDataType_t dt, Layout l)
      : out_(out), planes_(planes), layout_(l), bf16_(dt == CUDNN_DATA_BFLOAT16),
        mem_(bf16_ ? size_t(planes.count()) * sizeof(bf16) : 0) {}
  void* get() const { return bf16_ ? mem_.get() : static_cast<void*>(out_); }
  // The beta cuDNN is given: the caller's for FLOAT; 0 for the bf16 temporary (finish() adds).
  const float* cudnn_beta(const float* beta) const { return bf16_ ? &kZero : beta; }
  void finish(float beta) {
    if (!bf16_) return;
    if (layout_ == Layout::nhwc)  // the temporary is batches x pixels x channels
      transpose_widen(mem_.as<bf16>(), out_, beta, planes_.batches, planes_.pixels, planes_.channels);
    else
      map(planes_.count(), AccumulateBf16{mem_.as<bf16>(), out_, beta});
  }

 private:
  float* out_;
  Planes planes_;
  Layout layout_;
  bool bf16_;
  Scratch mem_;
};

// The layout of a call: NHWC for bf16 with channels_last() on and groups == 1, unless cuDNN
// refused NHWC for this whole call (its shapes and pass) before. body(layout, finished) runs the
// call, counting in `finished` the chunks it has written into the output; when cuDNN refuses an
// NHWC attempt (NoAlgorithm::refused) before any chunk finished, the call runs NCHW instead, logged
// once per shape and pass, and later calls go straight to NCHW. Other failures (out of memory)
// propagate: a fallback decided by memory pressure would make a resumed run compute differently.
// A call whose first chunks ran NHWC and whose smaller last chunk is refused (only above 2^31
// elements) fails with cuDNN's message; later calls of its shape run NCHW. Refusals met inside a
// CUDA graph capture are not remembered (the capture itself may be why); the warm-up steps before
// it settle the layouts.
template <class Body>
void run_in_layout(const char* what, int pass, const Shape& xs, const Shape& ws, const Shape& ys,
                   const Conv2dParams& p, cudnnDataType_t dt, const Body& body) {
  int64_t finished = 0;
  if (dt != CUDNN_DATA_BFLOAT16 || !channels_last() || p.groups != 1) {
    body(Layout::nchw, finished);
    return;
  }
  const std::pair<Key, int> id{key_of(xs, ws, ys, p, dt, Layout::nhwc), pass};
  bool refused_before = false;
  {
    std::lock_guard<std::mutex> lock(g_plans_mutex);  // released before body(), whose plan_for takes it
    refused_before = g_nhwc_refused.count(id) > 0;
  }
  if (refused_before) {
    body(Layout::nchw, finished);
    return;
  }
  try {
    body(Layout::nhwc, finished);
    g_nhwc_calls.fetch_add(1, std::memory_order_relaxed);
    return;
  } catch (const NoAlgorithm& e) {
    if (!e.refused) throw;
    (void)cudaGetLastError();
    cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
    TRIM_CUDA_CHECK(cudaStreamIsCapturing(stream(), &capturing));
    if (capturing == cudaStreamCaptureStatusNone) {
      std::lock_guard<std::mutex> lock(g_plans_mutex);
      g_nhwc_refused.insert(id);
    }
    if (finished > 0) {  // part of the output is written: this call fails, later ones run NCHW
      log_info(cat(what, " x ", xs.str(), ", w ", ws.str(), ": a later chunk found no channels-last (NHWC) bf16 ",
                   "algorithm; this call fails, later calls of this shape run NCHW"));
      throw;
    }
    log_info(cat(what, " x ", xs.str(), ", w ", ws.str(),
                 ": no channels-last (NHWC) bf16 algorithm ran, so this shape runs NCHW (", e.what(), ")"));
  }
  body(Layout::nchw, finished);
}

size_t element_bytes(cudnnDataType_t dt) { return dt == CUDNN_DATA_BFLOAT16 ? sizeof(bf16) : sizeof(float); }

}  // namespace

#include "core/kernels/conv_backward.inc"

int64_t channels_last_calls() { return g_nhwc_calls.load(std::memory_order_relaxed); }

void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y, const Conv2dParams& p) {
  const cudnnDataType_t dt = compute_type("conv2d forward", x, "x", w, "w", y, "y");  // dtypes first, even when empty
  if (y.numel() == 0) return;
  const Shape &xs = x.shape(), &wsh = w.shape(), &ys = y.shape();
  int64_t per_x = xs.numel() / xs[0], per_y = ys.numel() / ys[0];
  run_in_layout("conv2d forward", 0, xs, wsh, ys, p, dt, [&](Layout l, int64_t& finished) {
    const Operand W(w, 0, filter_planes(wsh), dt, l);  // converted once for every chunk
    for_chunks(xs, wsh, ys, "conv2d forward", [&](int64_t first, int64_t images) {
      const Operand X(x, first * per_x, image_planes(xs, images), dt, l);
      Result Y(y.data<float>() + first * per_y, image_planes(ys, images), dt, l);
      Plan& pl = plan_for(with_batch(xs, images), wsh, with_batch(ys, images), p, dt, l);
      cudnnHandle_t h = cudnn();
      using Perf = cudnnConvolutionFwdAlgoPerf_t;
      using A = cudnnConvolutionFwdAlgo_t;
      auto ranker = [&] {
        return rank<Perf, A, CUDNN_CONVOLUTION_FWD_ALGO_COUNT>(
            pl,
            [&](Perf* r, int cap, int* n) {
              TRIM_CUDNN_REFUSABLE(cudnnGetConvolutionForwardAlgorithm_v7(h, pl.x, pl.w, pl.conv, pl.y, cap, n, r));
            },
            [&](Perf* r, int cap, int* n, void* ws, size_t bytes) {
              TRIM_CUDNN_REFUSABLE(cudnnFindConvolutionForwardAlgorithmEx(h, pl.x, X.get(), pl.w, W.get(), pl.conv,
                                                                          pl.y, Y.get(), cap, n, r, ws, bytes));
            },
            [&](A algo, size_t* bytes) {
              return cudnnGetConvolutionForwardWorkspaceSize(h, pl.x, pl.w, pl.conv, pl.y, algo, bytes);
            });
      };
      execute(pl, pl.fwd, "forward convolution", ranker, [&](const Algo& a, Workspace& ws) {
        return cudnnConvolutionForward(h, &kOne, pl.x, X.get(), pl.w, W.get(), pl.conv, A(a.algo), ws.ptr, ws.bytes,
                                       Y.cudnn_beta(&kZero), pl.y, Y.get());
      });
      Y.finish(0.0f);
      ++finished;
    });
  });
  if (b.defined()) add_bias(y, b, ys[2] * ys[3]);  // in a pass of its own
}

void conv2d_backward_data(const Tensor& gy, const Tensor& w, Tensor& gx, const Conv2dParams& p) {
  const cudnnDataType_t dt = compute_type("conv2d backward-data", gy, "gy", w, "w", gx, "gx");  // dtypes first, even when empty
  if (gx.numel() == 0) return;
  const Shape &xs = gx.shape(), &wsh = w.shape(), &ys = gy.shape();
  int64_t per_x = xs.numel() / xs[0], per_y = ys.numel() / ys[0];
  run_in_layout("conv2d backward-data", 1, xs, wsh, ys, p, dt, [&](Layout l, int64_t& finished) {
    const Operand W(w, 0, filter_planes(wsh), dt, l);
    for_chunks(xs, wsh, ys, "conv2d backward-data", [&](int64_t first, int64_t images) {
      const Operand GY(gy, first * per_y, image_planes(ys, images), dt, l);
      Result GX(gx.data<float>() + first * per_x, image_planes(xs, images), dt, l);
      Plan& pl = plan_for(with_batch(xs, images), wsh, with_batch(ys, images), p, dt, l);
      cudnnHandle_t h = cudnn();
      using Perf = cudnnConvolutionBwdDataAlgoPerf_t;
      using A = cudnnConvolutionBwdDataAlgo_t;
      auto ranker = [&] {
        return rank<Perf, A, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT>(
            pl,
            [&](Perf* r, int cap, int* n) {
              TRIM_CUDNN_REFUSABLE(
                  cudnnGetConvolutionBackwardDataAlgorithm_v7(h, pl.w, pl.y, pl.conv, pl.x, cap, n, r));
            },
            [&](Perf* r, int cap, int* n, void* ws, size_t bytes) {
              TRIM_CUDNN_REFUSABLE(cudnnFindConvolutionBackwardDataAlgorithmEx(
                  h, pl.w, W.get(), pl.y, GY.get(), pl.conv, pl.x, GX.get(), cap, n, r, ws, bytes));
            },
            [&](A algo, size_t* bytes) {
              return cudnnGetConvolutionBackwardDataWorkspaceSize(h, pl.w, pl.y, pl.conv, pl.x, algo, bytes);
            });
      };
      execute(pl, pl.bwd_data, "backward-data convolution", ranker, [&](const Algo& a, Workspace& ws) {
        return cudnnConvolutionBackwardData(h, &kOne, pl.w, W.get(), pl.y, GY.get(), pl.conv, A(a.algo), ws.ptr,
                                            ws.bytes, GX.cudnn_beta(&kZero), pl.x, GX.get());
      });
      GX.finish(0.0f);
      ++finished;
    });
  });
}

void conv2d_backward_filter(const Tensor& x, const Tensor& gy, Tensor& gw, const Conv2dParams& p, float beta) {
  const cudnnDataType_t dt = compute_type("conv2d backward-filter", x, "x", gy, "gy", gw, "gw");  // dtypes first, even when empty
  TRIM_CHECK(beta == 0.0f || beta == 1.0f, cat("conv2d backward-filter: beta is ", beta, "; expected 0 or 1"));
  if (gw.numel() == 0) return;
  const Shape &xs = x.shape(), &wsh = gw.shape(), &ys = gy.shape();
  if (xs[0] == 0) {  // no images: dW = 0
    if (beta == 0.0f) gw.zero_();
    return;
  }
  int64_t per_x = xs.numel() / xs[0], per_y = ys.numel() / ys[0];
  // bf16: each chunk's dW is rounded to bf16 (cuDNN's output type), then added in f32.
  run_in_layout("conv2d backward-filter", 2, xs, wsh, ys, p, dt, [&](Layout l, int64_t& finished) {
    Result GW(gw.data<float>(), filter_planes(wsh), dt, l);
    for_chunks(xs, wsh, ys, "conv2d backward-filter", [&](int64_t first, int64_t images) {
      const Operand X(x, first * per_x, image_planes(xs, images), dt, l);
      const Operand GY(gy, first * per_y, image_planes(ys, images), dt, l);
      const float chunk_beta = first == 0 ? beta : 1.0f;  // later chunks add to the first's sum
      Plan& pl = plan_for(with_batch(xs, images), wsh, with_batch(ys, images), p, dt, l);
      cudnnHandle_t h = cudnn();
      using Perf = cudnnConvolutionBwdFilterAlgoPerf_t;
      using A = cudnnConvolutionBwdFilterAlgo_t;
      auto ranker = [&] {
        return rank<Perf, A, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT>(
            pl,
            [&](Perf* r, int cap, int* n) {
              TRIM_CUDNN_REFUSABLE(
                  cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, pl.x, pl.y, pl.conv, pl.w, cap, n, r));
            },
            [&](Perf* r, int cap, int* n, void* ws, size_t bytes) {
              // The search writes its trial results into the output: with beta = 1 that would
              // destroy the gradient being accumulated, so it writes into scratch instead.
              Workspace scratch(size_t(gw.numel()) * element_bytes(dt));
              TRIM_CUDNN_REFUSABLE(cudnnFindConvolutionBackwardFilterAlgorithmEx(
                  h, pl.x, X.get(), pl.y, GY.get(), pl.conv, pl.w, scratch.ptr, cap, n, r, ws, bytes));
            },
            [&](A algo, size_t* bytes) {
              return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, pl.x, pl.y, pl.conv, pl.w, algo, bytes);
            });
      };
      execute(pl, pl.bwd_filter, "backward-filter convolution", ranker, [&](const Algo& a, Workspace& ws) {
        return cudnnConvolutionBackwardFilter(h, &kOne, pl.x, X.get(), pl.y, GY.get(), pl.conv, A(a.algo), ws.ptr,
                                              ws.bytes, GW.cudnn_beta(&chunk_beta), pl.w, GW.get());
      });
      GW.finish(chunk_beta);
      ++finished;
    });
  });
}

// The three kernels (core/kernels/conv_backward.inc): cuDNN's passes share no work.
void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& gy, const ConvGrads& g, const Conv2dParams& p) {
  TRIM_CHECK(gy.dtype() == DType::f32, cat("conv2d backward: gy is ", dtype_name(gy.dtype()), "; expected f32"));
  conv2d_backward_parts(x, w, gy, g, p);
}

}  // namespace trim::cuda
