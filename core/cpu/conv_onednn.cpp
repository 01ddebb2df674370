// Convolution on the CPU through oneDNN's primitives (forward, backward data, backward weights),
// for every non-depthwise convolution when the oneDNN backend is selected (conv_backend.h).
// trim's tensors stay plain NCHW / OIHW; each primitive is created with format "any", so oneDNN
// picks its blocked layouts (nChw16c, OIhw16i16o, ... on AVX-512), and trim reorders into and out
// of them around the call, as PyTorch's oneDNN path does. Primitives and reorders are cached per
// shape, parameters and thread count (oneDNN fixes its work split when a primitive is created);
// the blocked copies live in one workspace reused by every call, so a network costs the memory
// of its largest convolution once, not one copy per layer.
//
// A bias rides in the forward primitive. The conv2d op's backward (onednn_conv2d_backward) runs the
// backward-data and backward-weights primitives back to back on one blocked copy of gy (the weights
// pass's copies are placed after the data pass's, and its gy argument reads the data pass's copy),
// and in f32 the weights primitive also sums the bias gradient: ResNet-18's step made 77 activation
// reorders, now 58.
//
// bf16 (the kernel contract in kernel_list.inc): when any input is bf16 and the CPU runs bf16
// natively (bf16_support.h), the primitives take bf16 src / weights / diff_dst and write f32
// dst / diff_src / diff_weights (f32 accumulation). An input's reorder into the blocked layout
// also converts it: a bf16 buffer reorders bf16 -> bf16, an f32 one f32 -> bf16 in the same pass.
// The cache key holds the compute type, and each pass is built per pair of input dtypes. Without
// native bf16 the inputs are rounded to bf16 in f32 and the f32 primitives run (emulation).
#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/cpu/bf16_support.h"
#include "core/cpu/conv_impl.h"
#include "core/cpu/onednn_context.h"
#include "core/error.h"
#include "core/kernels/kernels.h"

namespace trim::cpu {

dnnl::engine& onednn_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& onednn_stream() {
  static dnnl::stream s(onednn_engine());
  return s;
}

namespace {

using dnnl::memory;
using Dims = memory::dims;

dnnl::engine& engine() { return onednn_engine(); }
dnnl::stream& stream() { return onednn_stream(); }

// One argument of a primitive: trim's plain layout and, when oneDNN chose another one, the
// reorder between them and where the blocked copy sits in the workspace.
struct Arg {
  int id = 0;  // DNNL_ARG_*
  memory::desc user, inner;
  bool blocked = false;
  size_t offset = 0;  // bytes into the workspace
  dnnl::reorder reorder;  // user -> inner for inputs, inner -> user for the output
  bool reuse = false;  // an input whose blocked copy the pass run just before left in the workspace
};

// A primitive with its arguments, inputs first and the output last.
struct Pass {
  dnnl::primitive prim;
  std::vector<Arg> args;
  size_t workspace = 0;  // bytes of blocked copies
  bool ready = false;
};

struct Entry {
  dnnl::convolution_forward::primitive_desc fwd_pd;
  Dims x, w, y, b, strides, dilates, pad_l, pad_r;
  memory::data_type compute = memory::data_type::f32;  // of src / weights / diff_dst
  // Passes by kind (forward, backward data, backward weights) and their inputs' user dtypes.
  std::map<int, Pass> passes;
};

enum PassKind { kForward = 0, kBackwardData = 1, kBackwardWeights = 2 };
// Variants of a pass: with the bias (forward: adds it; backward weights: sums its gradient), and
// for backward weights, run right after backward data (sharing its blocked copy of gy).
enum Variant { kPlain = 0, kBias = 1, kAfterData = 2 };

memory::data_type dt(const Tensor& t) {
  return t.dtype() == DType::bf16 ? memory::data_type::bf16 : memory::data_type::f32;
}

Pass& pass_of(Entry& e, PassKind kind, const Tensor& in0, const Tensor& in1, int variant = kPlain) {
  return e.passes[(kind * 4 + variant) * 4 + (in0.dtype() == DType::bf16 ? 2 : 0) + (in1.dtype() == DType::bf16 ? 1 : 0)];
}

// The state every call shares; calls are serialised by `lock` (they use one workspace).
struct State {
  std::mutex lock;
  std::map<std::vector<int64_t>, std::unique_ptr<Entry>> cache;
  std::unique_ptr<char, decltype(&std::free)> workspace{nullptr, &std::free};
  size_t workspace_bytes = 0;

  char* reserve(size_t bytes) {
    if (bytes > workspace_bytes) {
      workspace.reset(static_cast<char*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64)));
      TRIM_CHECK(workspace != nullptr, cat("oneDNN convolution: cannot allocate a ", bytes, "-byte workspace"));
      workspace_bytes = bytes;
    }
    return workspace.get();
  }
};

State& state() {
  static State s;
  return s;
}

// More distinct convolutions than this (a benchmark sweeping shapes) start the cache afresh.
constexpr size_t kMaxEntries = 256;

memory::desc plain(const Dims& d, memory::data_type t) {
  memory::format_tag tag = d.size() == 5   ? memory::format_tag::goihw
                           : d.size() == 1 ? memory::format_tag::a
                                           : memory::format_tag::abcd;
  return memory::desc(d, t, tag);
}

memory::desc any(const Dims& d, memory::data_type t = memory::data_type::f32) {
  return memory::desc(d, t, memory::format_tag::any);
}

// `user`: the dtype of trim's buffer (the output's is always f32).
Arg make_arg(int id, const Dims& dims, memory::data_type user, const memory::desc& want, bool output,
             size_t& workspace) {
  Arg a;
  a.id = id;
  a.user = plain(dims, user);
  a.inner = want;
  a.blocked = want != a.user;
  if (a.blocked) {
    a.offset = workspace;
    workspace += (want.get_size() + 63) / 64 * 64;
    a.reorder = output ? dnnl::reorder(dnnl::reorder::primitive_desc(engine(), want, engine(), a.user))
                       : dnnl::reorder(dnnl::reorder::primitive_desc(engine(), a.user, engine(), want));
  }
  return a;
}

// Runs a pass on trim's buffers (in the order of pass.args; the last one is written; an input
// marked `reuse` is read from the workspace as the pass before left it).
void run(Pass& pass, char* workspace, const std::vector<void*>& buffers) {
  dnnl::stream& s = stream();
  std::unordered_map<int, memory> args;
  memory out_user, out_inner;
  for (size_t i = 0; i < pass.args.size(); ++i) {
    Arg& a = pass.args[i];
    memory user(a.user, engine(), buffers[i]);
    if (!a.blocked) {
      args.emplace(a.id, user);
      continue;
    }
    memory inner(a.inner, engine(), workspace + a.offset);
    args.emplace(a.id, inner);
    if (i + 1 == pass.args.size())
      out_user = user, out_inner = inner;
    else if (!a.reuse)
      a.reorder.execute(s, {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, inner}});
  }
  pass.prim.execute(s, args);
  if (pass.args.back().blocked) pass.args.back().reorder.execute(s, {{DNNL_ARG_FROM, out_inner}, {DNNL_ARG_TO, out_user}});
  s.wait();
}

// `half`: compute in bf16 (bf16 src / weights / diff_dst, f32 dst / diff_src / diff_weights).
Entry& entry(const Shape& xs, const Shape& ws, const Shape& ys, const Conv2dParams& p, bool half) {
  State& st = state();
  std::vector<int64_t> key{xs[0], xs[1], xs[2], xs[3], ws[0], ws[2], ws[3], ys[2], ys[3], p.stride_h, p.stride_w,
                           p.pad_h, p.pad_w, p.dil_h, p.dil_w, p.groups, omp_get_max_threads(), half ? 1 : 0};
  auto it = st.cache.find(key);
  if (it != st.cache.end()) return *it->second;
  if (st.cache.size() >= kMaxEntries) st.cache.clear();

  auto e = std::make_unique<Entry>();
  const int64_t G = p.groups;
  e->x = {xs[0], xs[1], xs[2], xs[3]};
  e->y = {ys[0], ys[1], ys[2], ys[3]};
  e->b = {ys[1]};
  e->w = G == 1 ? Dims{ws[0], ws[1], ws[2], ws[3]} : Dims{G, ws[0] / G, ws[1], ws[2], ws[3]};
  e->strides = {p.stride_h, p.stride_w};
  e->dilates = {p.dil_h - 1, p.dil_w - 1};  // oneDNN counts the gaps: 0 is a dense kernel
  e->pad_l = {p.pad_h, p.pad_w};
  // The right/bottom padding that makes oneDNN's output size the floor rule's (trim::window_out):
  // out = (in + pad_l + pad_r - dilated_kernel) / stride + 1 holds with pad_r = pad_l exactly
  // when the division is exact; otherwise the last rows/columns of padding are never read.
  auto right = [](int64_t in, int64_t out, int64_t k, int s, int pad, int dil) {
    return (out - 1) * s + (k - 1) * dil + 1 - in - pad;
  };
  e->pad_r = {right(xs[2], ys[2], ws[2], p.stride_h, p.pad_h, p.dil_h),
              right(xs[3], ys[3], ws[3], p.stride_w, p.pad_w, p.dil_w)};
  e->compute = half ? memory::data_type::bf16 : memory::data_type::f32;
  dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                    any(e->x, e->compute), any(e->w, e->compute), any(e->y), e->strides, e->dilates,
                                    e->pad_l, e->pad_r);
  e->fwd_pd = dnnl::convolution_forward::primitive_desc(d, engine());
  return *st.cache.emplace(std::move(key), std::move(e)).first->second;
}

void check_status(const dnnl::error& err, const char* what) {
  throw Error(cat("oneDNN convolution ", what, ": ", err.what(), " (status ", int(err.status), ")"));
}

// Native bf16 unless some input is bf16 on a CPU without it: then every input is rounded to bf16
// in f32 (emulated[0..1] hold them) and the f32 primitives run.
//
// Every pass runs natively where it can. An earlier version emulated backward weights on CPUs
// without AMX at batches under 64, strides other than 1 and 2^21 weights or more, after a
// measurement on an AMD EPYC (AVX-512 BF16) that found oneDNN 2.6's bf16 kernels 3-10x slower
// than f32 there. On the AMD EPYC of a later session (family 25, model 17; same oneDNN, same code)
// `trim-bench --shapes resnet18 --precision compare` at 2 threads found native bf16 at 0.52-0.65x
// of f32 on every ResNet-18 shape at batch 8 (emulated: 0.71-0.81x) and 0.60x / 0.55x on the
// strided and 512-channel 7x7 shapes at batch 64 (emulated: 0.70x / 0.81x); ResNet-18's bf16 step
// at batch 8 took 0.77x of the emulated one. With AMX every pass was measured native-first too.
bool compute_half(const Tensor& a, const Tensor& b, Tensor* emulated) {
  if (!any_bf16(a, b)) return false;
  if (bf16_native()) return true;
  note_bf16_emulated();
  emulated[0] = bf16_rounded_f32(a), emulated[1] = bf16_rounded_f32(b);
  return false;
}

// The passes, built on first use. A bias is f32 in trim's plain layout (oneDNN's "a").

void build_forward(Entry& e, Pass& pass, const Tensor& x, const Tensor& w, bool bias) {
  dnnl::convolution_forward::primitive_desc pd = e.fwd_pd;
  if (bias) {
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                      any(e.x, e.compute), any(e.w, e.compute), plain(e.b, memory::data_type::f32),
                                      any(e.y), e.strides, e.dilates, e.pad_l, e.pad_r);
    pd = dnnl::convolution_forward::primitive_desc(d, engine());
  }
  pass.prim = dnnl::convolution_forward(pd);
  pass.args = {make_arg(DNNL_ARG_SRC, e.x, dt(x), pd.src_desc(), false, pass.workspace),
               make_arg(DNNL_ARG_WEIGHTS, e.w, dt(w), pd.weights_desc(), false, pass.workspace)};
  if (bias) pass.args.push_back(make_arg(DNNL_ARG_BIAS, e.b, memory::data_type::f32, pd.bias_desc(), false, pass.workspace));
  pass.args.push_back(make_arg(DNNL_ARG_DST, e.y, memory::data_type::f32, pd.dst_desc(), true, pass.workspace));
  pass.ready = true;
}

void build_backward_data(Entry& e, Pass& pass, const Tensor& gy, const Tensor& w) {
  dnnl::convolution_backward_data::desc d(dnnl::algorithm::convolution_direct, any(e.x), any(e.w, e.compute),
                                          any(e.y, e.compute), e.strides, e.dilates, e.pad_l, e.pad_r);
  dnnl::convolution_backward_data::primitive_desc pd(d, engine(), e.fwd_pd);
  pass.prim = dnnl::convolution_backward_data(pd);
  pass.args = {make_arg(DNNL_ARG_DIFF_DST, e.y, dt(gy), pd.diff_dst_desc(), false, pass.workspace),
               make_arg(DNNL_ARG_WEIGHTS, e.w, dt(w), pd.weights_desc(), false, pass.workspace),
               make_arg(DNNL_ARG_DIFF_SRC, e.x, memory::data_type::f32, pd.diff_src_desc(), true, pass.workspace)};
  pass.ready = true;
}

// `after`: the backward-data pass that runs just before this one on the same gy. This pass's
// blocked copies then start where that pass's end, and where both want gy in the same blocked
// layout this pass reads the copy that pass made instead of reordering gy again.
void build_backward_weights(Entry& e, Pass& pass, const Tensor& x, const Tensor& gy, bool bias, const Pass* after) {
  const memory::desc diff_w = any(e.w);
  auto d = bias ? dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, any(e.x, e.compute),
                                                           diff_w, plain(e.b, memory::data_type::f32),
                                                           any(e.y, e.compute), e.strides, e.dilates, e.pad_l,
                                                           e.pad_r)
                : dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, any(e.x, e.compute),
                                                           diff_w, any(e.y, e.compute), e.strides, e.dilates,
                                                           e.pad_l, e.pad_r);
  dnnl::convolution_backward_weights::primitive_desc pd(d, engine(), e.fwd_pd);
  pass.prim = dnnl::convolution_backward_weights(pd);
  pass.workspace = after ? after->workspace : 0;
  pass.args = {make_arg(DNNL_ARG_SRC, e.x, dt(x), pd.src_desc(), false, pass.workspace)};
  const Arg* shared = after ? &after->args.front() : nullptr;  // its DIFF_DST (built from the same gy)
  if (shared && shared->id == DNNL_ARG_DIFF_DST && shared->blocked && shared->user == plain(e.y, dt(gy)) &&
      shared->inner == pd.diff_dst_desc()) {
    Arg a = *shared;
    a.reuse = true;
    pass.args.push_back(a);
  } else {
    pass.args.push_back(make_arg(DNNL_ARG_DIFF_DST, e.y, dt(gy), pd.diff_dst_desc(), false, pass.workspace));
  }
  if (bias) {  // plain, so run() binds trim's buffer (it reorders only inputs and the last argument)
    pass.args.push_back(
        make_arg(DNNL_ARG_DIFF_BIAS, e.b, memory::data_type::f32, pd.diff_bias_desc(), false, pass.workspace));
    TRIM_CHECK(!pass.args.back().blocked, "oneDNN convolution: the bias gradient is not in the plain layout asked for");
  }
  pass.args.push_back(
      make_arg(DNNL_ARG_DIFF_WEIGHTS, e.w, memory::data_type::f32, pd.diff_weights_desc(), true, pass.workspace));
  pass.ready = true;
}

// out = beta * out + fresh over n floats; for beta != 0 only (with 0 a NaN in out would stay).
void accumulate(float* out, const float* fresh, size_t n, float beta) {
  for (size_t i = 0; i < n; ++i) out[i] = beta * out[i] + fresh[i];
}

size_t round64(size_t bytes) { return (bytes + 63) / 64 * 64; }

}  // namespace

void onednn_conv2d_forward(const Tensor& x_in, const Tensor& w_in, const Tensor& b, Tensor& y, const Conv2dParams& p) {
  Tensor em[2];
  const bool half = compute_half(x_in, w_in, em);
  const Tensor& x = em[0].defined() ? em[0] : x_in;
  const Tensor& w = em[1].defined() ? em[1] : w_in;
  State& st = state();
  std::lock_guard<std::mutex> guard(st.lock);
  try {
    Entry& e = entry(x.shape(), w.shape(), y.shape(), p, half);
    Pass& pass = pass_of(e, kForward, x, w, b.defined() ? kBias : kPlain);
    if (!pass.ready) build_forward(e, pass, x, w, b.defined());
    std::vector<void*> buffers = {x.raw_data(), w.raw_data()};
    if (b.defined()) {
      TRIM_CHECK(b.numel() == y.size(1), cat("oneDNN convolution: a bias of ", b.numel(), " for ", y.size(1), " channels"));
      buffers.push_back(b.data<float>());
    }
    buffers.push_back(y.raw_data());
    run(pass, st.reserve(pass.workspace), buffers);
  } catch (const dnnl::error& err) {
    check_status(err, "forward");
  }
}

void onednn_conv2d_backward_data(const Tensor& gy_in, const Tensor& w_in, Tensor& gx, const Conv2dParams& p) {
  Tensor em[2];
  const bool half = compute_half(gy_in, w_in, em);
  const Tensor& gy = em[0].defined() ? em[0] : gy_in;
  const Tensor& w = em[1].defined() ? em[1] : w_in;
  State& st = state();
  std::lock_guard<std::mutex> guard(st.lock);
  try {
    Entry& e = entry(gx.shape(), w.shape(), gy.shape(), p, half);
    Pass& pass = pass_of(e, kBackwardData, gy, w);
    if (!pass.ready) build_backward_data(e, pass, gy, w);
    run(pass, st.reserve(pass.workspace), {gy.raw_data(), w.raw_data(), gx.raw_data()});
  } catch (const dnnl::error& err) {
    check_status(err, "backward data");
  }
}

void onednn_conv2d_backward_filter(const Tensor& x_in, const Tensor& gy_in, Tensor& gw, const Conv2dParams& p,
                                   float beta) {
  Tensor em[2];
  const bool half = compute_half(x_in, gy_in, em);
  const Tensor& x = em[0].defined() ? em[0] : x_in;
  const Tensor& gy = em[1].defined() ? em[1] : gy_in;
  State& st = state();
  std::lock_guard<std::mutex> guard(st.lock);
  try {
    Entry& e = entry(x.shape(), gw.shape(), gy.shape(), p, half);
    Pass& pass = pass_of(e, kBackwardWeights, x, gy);
    if (!pass.ready) build_backward_weights(e, pass, x, gy, false, nullptr);
    // beta != 0: the fresh gradient goes to the end of the workspace and is then added, so the
    // result is beta * old + fresh as on the im2col path (oneDNN's convolution cannot accumulate).
    const size_t n = size_t(gw.numel()), fresh_at = pass.workspace;
    char* ws = st.reserve(beta != 0.0f ? fresh_at + n * sizeof(float) : fresh_at);
    float* out = beta != 0.0f ? reinterpret_cast<float*>(ws + fresh_at) : gw.data<float>();
    run(pass, ws, {x.raw_data(), gy.raw_data(), out});
    if (beta != 0.0f) accumulate(gw.data<float>(), out, n, beta);
  } catch (const dnnl::error& err) {
    check_status(err, "backward weights");
  }
}

void onednn_conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& gy, const ConvGrads& g,
                            const Conv2dParams& p) {
  const bool half = any_bf16(x, w);
  TRIM_CHECK(!half || bf16_native(), "onednn_conv2d_backward: bf16 operands on a CPU without native bf16");
  TRIM_CHECK(gy.dtype() == DType::f32, "onednn_conv2d_backward: expected an f32 gy");
  // oneDNN's bias gradient sums the gy its weights pass reads: in bf16 that is the rounded one, so
  // there the bias sums the f32 gy on its own (kernel_list.inc).
  const bool fused_bias = g.gb && g.gw && !half;
  {
    State& st = state();
    std::lock_guard<std::mutex> guard(st.lock);
    try {
      Entry& e = entry(x.shape(), w.shape(), gy.shape(), p, half);
      Pass* data = nullptr;
      Pass* weights = nullptr;
      if (g.gx) {
        data = &pass_of(e, kBackwardData, gy, w);
        if (!data->ready) build_backward_data(e, *data, gy, w);
      }
      if (g.gw) {
        weights = &pass_of(e, kBackwardWeights, x, gy, (fused_bias ? kBias : kPlain) | (data ? kAfterData : kPlain));
        if (!weights->ready) build_backward_weights(e, *weights, x, gy, fused_bias, data);
      }
      // The workspace: the blocked copies, then the fresh weight and bias gradients of an
      // accumulating call (oneDNN's convolution cannot accumulate; see backward_filter).
      const size_t copies = std::max(data ? data->workspace : 0, weights ? weights->workspace : 0);
      const size_t nw = g.gw && g.beta_w != 0.0f ? size_t(g.gw->numel()) : 0;
      const size_t nb = fused_bias && g.beta_b != 0.0f ? size_t(g.gb->numel()) : 0;
      const size_t fresh_w = copies, fresh_b = fresh_w + round64(nw * sizeof(float));
      char* ws = st.reserve(fresh_b + nb * sizeof(float));
      if (data) run(*data, ws, {gy.raw_data(), w.raw_data(), g.gx->raw_data()});
      if (weights) {
        const Arg& dy = weights->args[1];  // a shared copy is where this call's data pass wrote it
        TRIM_CHECK(!dy.reuse || (data && data->args.front().offset == dy.offset && data->args.front().inner == dy.inner),
                   "oneDNN convolution backward: the shared copy of gy is not where the data pass wrote it");
        float* out_w = g.beta_w != 0.0f ? reinterpret_cast<float*>(ws + fresh_w) : g.gw->data<float>();
        float* out_b = nullptr;
        std::vector<void*> buffers = {x.raw_data(), gy.raw_data()};
        if (fused_bias) {
          out_b = g.beta_b != 0.0f ? reinterpret_cast<float*>(ws + fresh_b) : g.gb->data<float>();
          buffers.push_back(out_b);
        }
        buffers.push_back(out_w);
        run(*weights, ws, buffers);
        if (g.beta_w != 0.0f) accumulate(g.gw->data<float>(), out_w, size_t(g.gw->numel()), g.beta_w);
        if (fused_bias && g.beta_b != 0.0f) accumulate(g.gb->data<float>(), out_b, size_t(g.gb->numel()), g.beta_b);
      }
    } catch (const dnnl::error& err) {
      check_status(err, "backward");
    }
  }
  if (g.gb && !fused_bias) bias_grad(gy, gy.size(2) * gy.size(3), *g.gb, g.beta_b);
}

}  // namespace trim::cpu
