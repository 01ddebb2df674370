// Dense inference convolutions through oneDNN (conv_infer.h): forward_inference primitives whose
// weight is a constant, reordered into the primitive's blocked layout once per primitive rather
// than on every call (conv_onednn.cpp, the training path, reorders it every time because training
// changes it), with the bias, a residual (a sum post-op: the residual is placed in the output first)
// and the activation (an eltwise post-op) fused. Activations stay
// trim's plain NCHW: they are reordered into the primitive's layout and back around each call,
// through one workspace that every prepared convolution shares (calls are serialised), so a network
// costs the blocked copies of its largest convolution once: buffers per layer took 19 GB for
// ResNet-50 at batch 64 (two plans of 53 layers). One entry per input shape and thread count
// (oneDNN fixes its work split when a primitive is created).
#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "core/cpu/conv_infer.h"
#include "core/error.h"

namespace trim::cpu {
namespace {

using dnnl::memory;
using Dims = memory::dims;

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

memory::desc plain(const Dims& d, memory::format_tag tag) { return memory::desc(d, memory::data_type::f32, tag); }
memory::desc any(const Dims& d) { return memory::desc(d, memory::data_type::f32, memory::format_tag::any); }

// One input shape: the primitive, its weight in the primitive's layout, and the activation
// reorders with their blocked buffers (absent when the primitive takes plain NCHW).
struct Shaped {
  dnnl::convolution_forward prim;
  memory weights, bias;
  memory::desc src_user, src_inner, dst_user, dst_inner;
  std::optional<dnnl::reorder> src_reorder, dst_reorder;
  std::optional<dnnl::reorder> res_reorder;  // the residual into the blocked output (with a residual)
  size_t src_bytes = 0, dst_bytes = 0;  // of the blocked copies in the workspace (0: none)
};

// The blocked activations of the call in progress, shared by every InferConv.
struct Workspace {
  std::mutex lock;
  std::unique_ptr<char, decltype(&std::free)> data{nullptr, &std::free};
  size_t bytes = 0;

  char* reserve(size_t want) {
    if (want > bytes) {
      data.reset(static_cast<char*>(std::aligned_alloc(64, (want + 63) / 64 * 64)));
      TRIM_CHECK(data != nullptr, cat("oneDNN inference convolution: cannot allocate a ", want, "-byte workspace"));
      bytes = want;
    }
    return data.get();
  }
};

Workspace& workspace() {
  static Workspace w;
  return w;
}

size_t aligned(size_t b) { return (b + 63) / 64 * 64; }

}  // namespace

struct InferConv {
  std::vector<float> weight, bias;  // plain OIHW and [O], as given
  Dims w_dims, strides, dilates, pad_l;
  int64_t kh = 0, kw = 0;
  Conv2dParams p;
  // (N, C, H, W, threads, activation, residual) -> entry
  std::map<std::vector<int64_t>, std::unique_ptr<Shaped>> shapes;
  dnnl::stream stream{engine()};
};

namespace {

Shaped& shaped(InferConv& c, const Shape& xs, const Shape& ys, Epilogue act, bool residual) {
  std::vector<int64_t> key{xs[0], xs[1], xs[2], xs[3], omp_get_max_threads(), int64_t(act), residual};
  auto it = c.shapes.find(key);
  if (it != c.shapes.end()) return *it->second;
  auto e = std::make_unique<Shaped>();
  const Dims x{xs[0], xs[1], xs[2], xs[3]}, y{ys[0], ys[1], ys[2], ys[3]};
  // The right/bottom padding that gives trim's floor-rule output size (as conv_onednn.cpp).
  auto right = [](int64_t in, int64_t out, int64_t k, int s, int pad, int dil) {
    return (out - 1) * s + (k - 1) * dil + 1 - in - pad;
  };
  const Dims pad_r{right(xs[2], ys[2], c.kh, c.p.stride_h, c.p.pad_h, c.p.dil_h),
                   right(xs[3], ys[3], c.kw, c.p.stride_w, c.p.pad_w, c.p.dil_w)};
  dnnl::primitive_attr attr;
  dnnl::post_ops po;
  if (residual) po.append_sum(1.0f);  // dst = conv + dst, dst holding the residual
  if (act == Epilogue::relu) po.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
  if (act == Epilogue::relu6) po.append_eltwise(1.0f, dnnl::algorithm::eltwise_clip, 0.0f, 6.0f);
  attr.set_post_ops(po);
  const bool has_bias = !c.bias.empty();
  const memory::desc bias_md = plain(Dims{c.w_dims[0]}, memory::format_tag::a);
  auto make_pd = [&](const memory::desc& src, const memory::desc& dst) {
    auto desc = has_bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                                          dnnl::algorithm::convolution_direct, src, any(c.w_dims),
                                                          bias_md, dst, c.strides, c.dilates, c.pad_l, pad_r)
                         : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                                          dnnl::algorithm::convolution_direct, src, any(c.w_dims), dst,
                                                          c.strides, c.dilates, c.pad_l, pad_r);
    return dnnl::convolution_forward::primitive_desc(desc, attr, engine());
  };
  // Activations in 16-channel blocks (nChw16c) where oneDNN takes them: left to choose ("any"),
  // forward_inference picks channels-last (brgconv), and reordering its output back to NCHW cost
  // as much as the convolution (0.46 against 0.48 ms, 256 -> 1024 channels 1x1 at 14x14, 1 thread);
  // the reorder out of 16-channel blocks took 0.06 ms. Inputs of fewer than 16 channels (the stem)
  // keep "any".
  dnnl::convolution_forward::primitive_desc pd;
  try {
    if (xs[1] < 16) throw dnnl::error(dnnl_unimplemented, "stem");
    pd = make_pd(plain(x, memory::format_tag::nChw16c), plain(y, memory::format_tag::nChw16c));
  } catch (const dnnl::error&) {
    pd = make_pd(any(x), any(y));
  }
  e->prim = dnnl::convolution_forward(pd);
  // The weight, once: plain OIHW -> the primitive's layout.
  memory w_user(plain(c.w_dims, memory::format_tag::oihw), engine(), c.weight.data());
  e->weights = memory(pd.weights_desc(), engine());
  dnnl::reorder(w_user, e->weights).execute(c.stream, w_user, e->weights);
  if (has_bias) {
    e->bias = memory(bias_md, engine());
    std::copy(c.bias.begin(), c.bias.end(), static_cast<float*>(e->bias.get_data_handle()));
  }
  e->src_user = plain(x, memory::format_tag::nchw);
  e->dst_user = plain(y, memory::format_tag::nchw);
  e->src_inner = pd.src_desc();
  e->dst_inner = pd.dst_desc();
  if (e->src_inner != e->src_user) {
    e->src_reorder = dnnl::reorder(dnnl::reorder::primitive_desc(engine(), e->src_user, engine(), e->src_inner));
    e->src_bytes = aligned(e->src_inner.get_size());
  }
  if (e->dst_inner != e->dst_user) {
    e->dst_reorder = dnnl::reorder(dnnl::reorder::primitive_desc(engine(), e->dst_inner, engine(), e->dst_user));
    e->dst_bytes = aligned(e->dst_inner.get_size());
    if (residual)
      e->res_reorder = dnnl::reorder(dnnl::reorder::primitive_desc(engine(), e->dst_user, engine(), e->dst_inner));
  }
  c.stream.wait();
  return *c.shapes.emplace(std::move(key), std::move(e)).first->second;
}

}  // namespace

std::shared_ptr<InferConv> make_infer_conv(const Tensor& weight, const Tensor& bias, const Conv2dParams& p) {
  auto c = std::make_shared<InferConv>();
  c->weight = weight.to_vector<float>();
  if (bias.defined()) c->bias = bias.to_vector<float>();
  c->w_dims = {weight.size(0), weight.size(1), weight.size(2), weight.size(3)};
  c->kh = weight.size(2);
  c->kw = weight.size(3);
  c->strides = {p.stride_h, p.stride_w};
  c->dilates = {p.dil_h - 1, p.dil_w - 1};  // oneDNN counts the gaps: 0 is a dense kernel
  c->pad_l = {p.pad_h, p.pad_w};
  c->p = p;
  return c;
}

void infer_conv_forward(InferConv& c, const Tensor& x, const Tensor& residual, Epilogue act, Tensor& y) {
  TRIM_CHECK(!residual.defined() || (residual.shape() == y.shape() && residual.raw_data() != y.raw_data()),
             "infer_conv_forward: the residual must have the output's shape and not be the output");
  Workspace& ws = workspace();
  std::lock_guard<std::mutex> guard(ws.lock);
  try {
    Shaped& e = shaped(c, x.shape(), y.shape(), act, residual.defined());
    char* buf = ws.reserve(e.src_bytes + e.dst_bytes);
    memory src(e.src_user, engine(), const_cast<float*>(x.data<float>()));
    memory dst(e.dst_user, engine(), y.data<float>());
    memory src_in = e.src_reorder ? memory(e.src_inner, engine(), buf) : src;
    memory dst_in = e.dst_reorder ? memory(e.dst_inner, engine(), buf + e.src_bytes) : dst;
    if (e.src_reorder) e.src_reorder->execute(c.stream, src, src_in);
    if (residual.defined()) {  // the sum post-op adds what the output holds
      if (e.res_reorder) {
        memory res(e.dst_user, engine(), const_cast<float*>(residual.data<float>()));
        e.res_reorder->execute(c.stream, res, dst_in);
      } else {
        std::memcpy(y.data<float>(), residual.data<float>(), residual.nbytes());
      }
    }
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src_in}, {DNNL_ARG_WEIGHTS, e.weights}, {DNNL_ARG_DST, dst_in}};
    if (!c.bias.empty()) args.emplace(DNNL_ARG_BIAS, e.bias);
    e.prim.execute(c.stream, args);
    if (e.dst_reorder) e.dst_reorder->execute(c.stream, dst_in, dst);
    c.stream.wait();
  } catch (const dnnl::error& err) {
    throw Error(cat("oneDNN inference convolution: ", err.what(), " (status ", int(err.status), ")"));
  }
}

}  // namespace trim::cpu
