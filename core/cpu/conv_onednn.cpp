// Convolution on the CPU through oneDNN's primitives (forward, backward data, backward weights),
// for every non-depthwise convolution when the oneDNN backend is selected (conv_backend.h).
// trim's tensors stay plain NCHW / OIHW; each primitive is created with format "any", so oneDNN
// picks its blocked layouts (nChw16c, OIhw16i16o, ... on AVX-512), and trim reorders into and out
// of them around the call, as PyTorch's oneDNN path does. Primitives and reorders are cached per
// shape, parameters and thread count (oneDNN fixes its work split when a primitive is created);
// the blocked copies live in one workspace reused by every call, so a network costs the memory
// of its largest convolution once, not one copy per layer.
#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/cpu/conv_impl.h"
#include "core/error.h"

namespace trim::cpu {
namespace {

using dnnl::memory;
using Dims = memory::dims;

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& stream() {
  static dnnl::stream s(engine());
  return s;
}

// One argument of a primitive: trim's plain layout and, when oneDNN chose another one, the
// reorder between them and where the blocked copy sits in the workspace.
struct Arg {
  int id = 0;  // DNNL_ARG_*
  memory::desc user, inner;
  bool blocked = false;
  size_t offset = 0;  // bytes into the workspace
  dnnl::reorder reorder;  // user -> inner for inputs, inner -> user for the output
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
  Dims x, w, y, strides, dilates, pad_l, pad_r;
  Pass fwd, bwd_data, bwd_weights;
};

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

memory::desc plain(const Dims& d) {
  memory::format_tag tag = d.size() == 5 ? memory::format_tag::goihw : memory::format_tag::abcd;
  return memory::desc(d, memory::data_type::f32, tag);
}

memory::desc any(const Dims& d) { return memory::desc(d, memory::data_type::f32, memory::format_tag::any); }

Arg make_arg(int id, const Dims& dims, const memory::desc& want, bool output, size_t& workspace) {
  Arg a;
  a.id = id;
  a.user = plain(dims);
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

// Runs a pass on trim's buffers (in the order of pass.args; the last one is written).
void run(Pass& pass, char* workspace, const std::vector<float*>& buffers) {
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
    if (i + 1 < pass.args.size())
      a.reorder.execute(s, {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, inner}});
    else
      out_user = user, out_inner = inner;
  }
  pass.prim.execute(s, args);
  if (pass.args.back().blocked) pass.args.back().reorder.execute(s, {{DNNL_ARG_FROM, out_inner}, {DNNL_ARG_TO, out_user}});
  s.wait();
}

Entry& entry(const Shape& xs, const Shape& ws, const Shape& ys, const Conv2dParams& p) {
  State& st = state();
  std::vector<int64_t> key{xs[0], xs[1], xs[2], xs[3], ws[0], ws[2], ws[3], ys[2], ys[3], p.stride_h, p.stride_w,
                           p.pad_h, p.pad_w, p.dil_h, p.dil_w, p.groups, omp_get_max_threads()};
  auto it = st.cache.find(key);
  if (it != st.cache.end()) return *it->second;
  if (st.cache.size() >= kMaxEntries) st.cache.clear();

  auto e = std::make_unique<Entry>();
  const int64_t G = p.groups;
  e->x = {xs[0], xs[1], xs[2], xs[3]};
  e->y = {ys[0], ys[1], ys[2], ys[3]};
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
  dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                    any(e->x), any(e->w), any(e->y), e->strides, e->dilates, e->pad_l, e->pad_r);
  e->fwd_pd = dnnl::convolution_forward::primitive_desc(d, engine());
  return *st.cache.emplace(std::move(key), std::move(e)).first->second;
}

void check_status(const dnnl::error& err, const char* what) {
  throw Error(cat("oneDNN convolution ", what, ": ", err.what(), " (status ", int(err.status), ")"));
}

}  // namespace

void onednn_conv2d_forward(const Tensor& x, const Tensor& w, Tensor& y, const Conv2dParams& p) {
  State& st = state();
  std::lock_guard<std::mutex> guard(st.lock);
  try {
    Entry& e = entry(x.shape(), w.shape(), y.shape(), p);
    Pass& pass = e.fwd;
    if (!pass.ready) {
      const auto& pd = e.fwd_pd;
      pass.prim = dnnl::convolution_forward(pd);
      pass.args = {make_arg(DNNL_ARG_SRC, e.x, pd.src_desc(), false, pass.workspace),
                   make_arg(DNNL_ARG_WEIGHTS, e.w, pd.weights_desc(), false, pass.workspace),
                   make_arg(DNNL_ARG_DST, e.y, pd.dst_desc(), true, pass.workspace)};
      pass.ready = true;
    }
    run(pass, st.reserve(pass.workspace),
        {const_cast<float*>(x.data<float>()), const_cast<float*>(w.data<float>()), y.data<float>()});
  } catch (const dnnl::error& err) {
    check_status(err, "forward");
  }
}

void onednn_conv2d_backward_data(const Tensor& gy, const Tensor& w, Tensor& gx, const Conv2dParams& p) {
  State& st = state();
  std::lock_guard<std::mutex> guard(st.lock);
  try {
    Entry& e = entry(gx.shape(), w.shape(), gy.shape(), p);
    Pass& pass = e.bwd_data;
    if (!pass.ready) {
      dnnl::convolution_backward_data::desc d(dnnl::algorithm::convolution_direct, any(e.x), any(e.w), any(e.y),
                                              e.strides, e.dilates, e.pad_l, e.pad_r);
      dnnl::convolution_backward_data::primitive_desc pd(d, engine(), e.fwd_pd);
      pass.prim = dnnl::convolution_backward_data(pd);
      pass.args = {make_arg(DNNL_ARG_DIFF_DST, e.y, pd.diff_dst_desc(), false, pass.workspace),
                   make_arg(DNNL_ARG_WEIGHTS, e.w, pd.weights_desc(), false, pass.workspace),
                   make_arg(DNNL_ARG_DIFF_SRC, e.x, pd.diff_src_desc(), true, pass.workspace)};
      pass.ready = true;
    }
    run(pass, st.reserve(pass.workspace),
        {const_cast<float*>(gy.data<float>()), const_cast<float*>(w.data<float>()), gx.data<float>()});
  } catch (const dnnl::error& err) {
    check_status(err, "backward data");
  }
}

void onednn_conv2d_backward_filter(const Tensor& x, const Tensor& gy, Tensor& gw, const Conv2dParams& p, float beta) {
  State& st = state();
  std::lock_guard<std::mutex> guard(st.lock);
  try {
    Entry& e = entry(x.shape(), gw.shape(), gy.shape(), p);
    Pass& pass = e.bwd_weights;
    if (!pass.ready) {
      dnnl::convolution_backward_weights::desc d(dnnl::algorithm::convolution_direct, any(e.x), any(e.w), any(e.y),
                                                 e.strides, e.dilates, e.pad_l, e.pad_r);
      dnnl::convolution_backward_weights::primitive_desc pd(d, engine(), e.fwd_pd);
      pass.prim = dnnl::convolution_backward_weights(pd);
      pass.args = {make_arg(DNNL_ARG_SRC, e.x, pd.src_desc(), false, pass.workspace),
                   make_arg(DNNL_ARG_DIFF_DST, e.y, pd.diff_dst_desc(), false, pass.workspace),
                   make_arg(DNNL_ARG_DIFF_WEIGHTS, e.w, pd.diff_weights_desc(), true, pass.workspace)};
      pass.ready = true;
    }
    // beta != 0: the fresh gradient goes to the end of the workspace and is then added, so the
    // result is beta * old + fresh as on the im2col path (oneDNN's convolution cannot accumulate).
    const size_t n = size_t(gw.numel()), fresh_at = pass.workspace;
    char* ws = st.reserve(beta != 0.0f ? fresh_at + n * sizeof(float) : fresh_at);
    float* GW = gw.data<float>();
    float* out = beta != 0.0f ? reinterpret_cast<float*>(ws + fresh_at) : GW;
    run(pass, ws, {const_cast<float*>(x.data<float>()), const_cast<float*>(gy.data<float>()), out});
    if (beta != 0.0f)
      for (size_t i = 0; i < n; ++i) GW[i] = beta * GW[i] + out[i];
  } catch (const dnnl::error& err) {
    check_status(err, "backward weights");
  }
}

}  // namespace trim::cpu
