#include "apps/bench/op_cases.h"

#include <cmath>
#include <memory>

#include "core/bf16.h"
#include "core/cpu/sparse_impl.h"
#include "core/ops/ops.h"
#include "core/ops/precision.h"
#include "core/ops/sparse.h"
#include "core/random/generator.h"
#include "core/random/philox.h"

namespace trim::test {
namespace {

using K = InputSpec::Kind;

InputSpec in(Shape s, K kind = K::normal, bool grad = true) { return {s, kind, grad, 0}; }
InputSpec labels(int64_t n, int classes) { return {Shape{n}, K::labels, false, classes}; }

Conv2dParams conv(int s, int p, int d = 1, int g = 1) { return {s, s, p, p, d, d, g}; }

void add_conv(std::vector<OpCase>& cases, const std::string& name, Shape x, Shape w, bool bias, Conv2dParams p) {
  cases.push_back(conv2d_case("conv2d " + name + " x" + x.str() + " w" + w.str() + (bias ? " +bias" : ""), x, w, bias, p));
}

void add_bn(std::vector<OpCase>& cases, Shape x) { cases.push_back(batch_norm_case("batch_norm train x" + x.str(), x, true)); }

const char* act_name(int act) { return act == 0 ? "" : act == 1 ? " relu" : " relu6"; }

// The sparse ops: batch 1 (the matrix-vector path), 2..3 (per-sample gathers) and larger (packed
// batch); sizes off the vector widths (tails of 16 and 64); densities 0, low, half and 1; every
// convolution path of cpu/sparse.cpp (1x1 direct, implicit with padding, dilation and strides, im2col)
// and every epilogue, with and without a residual; a few rows large enough for the threaded paths.
void add_sparse(std::vector<OpCase>& c) {
  struct L {
    Shape x, w;
    bool bias;
    float density;
    int act;
  };
  for (L l : {L{Shape{1, 37}, Shape{29, 37}, true, 0.3f, 1}, L{Shape{3, 50}, Shape{17, 50}, false, 0.5f, 0},
              L{Shape{8, 70}, Shape{33, 70}, true, 0.1f, 2}, L{Shape{67, 45}, Shape{9, 45}, true, 1.0f, 0},
              L{Shape{5, 20}, Shape{6, 20}, true, 0.0f, 1}, L{Shape{1, 1000}, Shape{200, 1000}, true, 0.2f, 1},
              L{Shape{64, 300}, Shape{100, 300}, false, 0.1f, 2}}) {
    std::string name = "sparse_linear " + l.x.str() + " -> " + std::to_string(l.w[0]) + " density " +
                       std::to_string(int(l.density * 100)) + "%" + act_name(l.act) + (l.bias ? " +bias" : "");
    c.push_back(sparse_linear_case(name, l.x, l.w, l.bias, l.density, l.act));
  }
  struct C {
    const char* tag;
    Shape x, w;
    bool bias;
    Conv2dParams p;
    float density;
    int act;
    bool residual = false;  // a residual block's shortcut added before the activation
  };
  for (C k : {C{"k3 s1 p1", Shape{2, 3, 7, 9}, Shape{5, 3, 3, 3}, true, conv(1, 1), 0.5f, 1},
              C{"k3 s2 p0", Shape{2, 2, 8, 7}, Shape{3, 2, 3, 3}, false, conv(2, 0), 0.3f, 0},
              C{"k1 s1 p0 (direct)", Shape{3, 5, 4, 3}, Shape{6, 5, 1, 1}, true, conv(1, 0), 0.5f, 2},
              C{"k1 s2 p0", Shape{2, 4, 6, 5}, Shape{3, 4, 1, 1}, false, conv(2, 0), 1.0f, 0},
              C{"k3 s1 p2 dilation=2", Shape{1, 2, 8, 9}, Shape{4, 2, 3, 3}, true, conv(1, 2, 2), 0.4f, 0},
              C{"k3 stride (2,1) pad (1,0)", Shape{2, 2, 7, 6}, Shape{3, 2, 3, 3}, true, Conv2dParams{2, 1, 1, 0, 1, 1, 1},
                0.6f, 1},
              C{"k3 s1 p1 batch 1", Shape{1, 8, 13, 70}, Shape{16, 8, 3, 3}, true, conv(1, 1), 0.2f, 1},
              C{"k5 s1 p2 empty", Shape{1, 1, 6, 6}, Shape{2, 1, 5, 5}, true, conv(1, 2), 0.0f, 2},
              C{"k3 s1 p0 dense", Shape{4, 3, 5, 5}, Shape{2, 3, 3, 3}, false, conv(1, 0), 1.0f, 0},
              C{"k3 s1 p1 threaded", Shape{4, 16, 20, 20}, Shape{32, 16, 3, 3}, true, conv(1, 1), 0.1f, 1},
              C{"k1 s1 p0 batch 1 threaded", Shape{1, 64, 17, 17}, Shape{48, 64, 1, 1}, false, conv(1, 0), 0.3f, 2},
              C{"k3 s1 p1 two column tiles", Shape{1, 20, 12, 14}, Shape{36, 20, 3, 3}, false, conv(1, 1), 0.3f, 2},
              C{"k3 s1 p1 small plane, many channels", Shape{1, 160, 7, 7}, Shape{24, 160, 3, 3}, true, conv(1, 1),
                0.2f, 1},
              // Strided k x k: phase planes (implicit), in conv tiles and in the wide spmm grid.
              C{"k3 s2 p1 phase planes", Shape{2, 12, 14, 14}, Shape{20, 12, 3, 3}, true, conv(2, 1), 0.3f, 1},
              C{"k7 s2 p3 stem", Shape{1, 3, 23, 21}, Shape{8, 3, 7, 7}, true, conv(2, 3), 0.4f, 1},
              C{"k3 s3 p1 odd plane", Shape{1, 5, 11, 10}, Shape{6, 5, 3, 3}, false, conv(3, 1), 0.5f, 0},
              C{"k3 s2 p1 wide grid", Shape{1, 8, 40, 44}, Shape{16, 8, 3, 3}, true, conv(2, 1), 0.2f, 1},
              // The residual on every path: direct 1x1, conv tiles (cropped), the wide grid, strided.
              C{"k1 s1 p0 (direct) residual", Shape{2, 16, 9, 9}, Shape{24, 16, 1, 1}, true, conv(1, 0), 0.3f, 1, true},
              C{"k3 s1 p1 residual", Shape{2, 10, 7, 7}, Shape{12, 10, 3, 3}, true, conv(1, 1), 0.4f, 1, true},
              C{"k3 s1 p1 wide grid residual", Shape{1, 8, 13, 70}, Shape{16, 8, 3, 3}, false, conv(1, 1), 0.2f, 2,
                true},
              C{"k3 s2 p1 residual", Shape{1, 6, 12, 12}, Shape{8, 6, 3, 3}, true, conv(2, 1), 0.5f, 0, true},
              // Only the residual in the epilogue (no bias, no activation), and with an empty weight.
              C{"k3 s1 p1 residual only", Shape{2, 4, 6, 5}, Shape{6, 4, 3, 3}, false, conv(1, 1), 0.5f, 0, true},
              C{"k3 s1 p1 empty residual", Shape{1, 2, 6, 6}, Shape{3, 2, 3, 3}, true, conv(1, 1), 0.0f, 1, true}}) {
    std::string name = std::string("sparse_conv2d ") + k.tag + " x" + k.x.str() + " w" + k.w.str() + " density " +
                       std::to_string(int(k.density * 100)) + "%" + act_name(k.act) + (k.bias ? " +bias" : "") +
                       (k.residual ? " +residual" : "");
    c.push_back(sparse_conv2d_case(name, k.x, k.w, k.bias, k.p, k.density, k.act, k.residual));
  }
}

// bf16 rows: conv2d (oneDNN's bf16 primitives or the emulation: 1x1, groups; depthwise and the
// stem, with fewer than kBf16MinChannels input channels per group, stay f32 under the policy),
// linear and matmul (gemm_bf16 with every transpose pair) under the bf16 policy, against f32.
OpCase bf16_row(OpCase c, const std::string& op) {
  for (InputSpec& i : c.inputs) i.bf16_values = true;
  c.name = op + "_bf16" + c.name.substr(c.name.find(' '));
  c.reference = c.run;
  c.run = [f32 = c.run](std::vector<Tensor>& t) {
    PrecisionScope bf16(Precision::bf16);
    return f32(t);
  };
  return c;
}

void add_bf16(std::vector<OpCase>& c) {
  auto conv_row = [&](const std::string& tag, Shape x, Shape w, bool bias, Conv2dParams p) {
    c.push_back(bf16_row(conv2d_case("conv2d " + tag + " x" + x.str() + " w" + w.str() + (bias ? " +bias" : ""), x, w,
                                     bias, p),
                         "conv2d"));
  };
  conv_row("k3 s1 p1", Shape{2, 16, 9, 11}, Shape{32, 16, 3, 3}, true, conv(1, 1));
  conv_row("k1 s2 p0", Shape{2, 24, 6, 5}, Shape{16, 24, 1, 1}, false, conv(2, 0));
  // A 3x3 plane: backward weights as one batched matrix product (cpu/conv_batched.cpp).
  conv_row("k3 s1 p1 small plane", Shape{6, 32, 3, 3}, Shape{24, 32, 3, 3}, true, conv(1, 1));
  conv_row("k3 s1 p1 groups=2", Shape{2, 32, 5, 6}, Shape{6, 16, 3, 3}, true, conv(1, 1, 1, 2));
  conv_row("k3 s2 p1 depthwise", Shape{2, 6, 7, 7}, Shape{6, 1, 3, 3}, false, conv(2, 1, 1, 6));
  conv_row("k7 s2 p3 stem", Shape{2, 3, 15, 13}, Shape{8, 3, 7, 7}, true, conv(2, 3));
  c.push_back(bf16_row(linear_case("linear [64, 200] -> 100 +bias", Shape{64, 200}, Shape{100, 200}, true), "linear"));
  c.push_back(bf16_row(linear_case("linear [3, 7] -> 5", Shape{3, 7}, Shape{5, 7}, false), "linear"));
  c.push_back(bf16_row({"matmul [33, 70] x [70, 21]", {in(Shape{33, 70}), in(Shape{70, 21})},
                        [](std::vector<Tensor>& t) { return matmul(t[0], t[1]); }, 0.05f},
                       "matmul"));
}

std::vector<OpCase> build() {
  std::vector<OpCase> c;
  for (Shape s : {Shape{7}, Shape{2, 3, 5}, Shape{1, 3, 4, 5}}) {
    c.push_back({"add " + s.str(), {in(s), in(s)}, [](std::vector<Tensor>& t) { return add(t[0], t[1]); }, 0.05f});
    c.push_back({"mul " + s.str(), {in(s), in(s)}, [](std::vector<Tensor>& t) { return mul(t[0], t[1]); }, 0.05f});
  }
  // Large enough for several blocks and grid-stride loops on a GPU.
  c.push_back({"add [1200000]", {in(Shape{1200000}), in(Shape{1200000})},
               [](std::vector<Tensor>& t) { return add(t[0], t[1]); }, 0.05f});
  c.push_back({"sum [1100000]", {in(Shape{1100000})}, [](std::vector<Tensor>& t) { return sum(t[0]); }, 0.05f});
  c.push_back(linear_case("linear [300, 200] -> 500 +bias", Shape{300, 200}, Shape{500, 200}, true));
  // In place and never recorded (pruning masks on parameter arenas): no gradient, the CUDA test
  // compares the updated input.
  c.push_back({"mul_ in place [1200000]", {in(Shape{1200000}, K::normal, false), in(Shape{1200000}, K::normal, false)},
               [](std::vector<Tensor>& t) {
                 mul_(t[0], t[1]);
                 return t[0];
               }});
  c.push_back({"mul same input [5]", {in(Shape{5})}, [](std::vector<Tensor>& t) { return mul(t[0], t[0]); }, 1e-2f});
  c.push_back({"scale [3, 4]", {in(Shape{3, 4})}, [](std::vector<Tensor>& t) { return scale(t[0], -1.5f); }, 0.05f});
  for (Shape s : {Shape{17}, Shape{2, 3, 4, 5}})
    c.push_back({"relu " + s.str(), {in(s, K::away_from_zero)}, [](std::vector<Tensor>& t) { return relu(t[0]); }, 1e-2f});
  c.push_back({"dropout p=0.3 [4, 33]", {in(Shape{4, 33})}, [](std::vector<Tensor>& t) {
                 Generator g(1234);  // the same mask on every evaluation
                 return dropout(t[0], 0.3f, true, g);
               }, 0.05f});
  for (Shape s : {Shape{5, 7}, Shape{2, 3, 4, 5}}) {
    c.push_back({"sum " + s.str(), {in(s)}, [](std::vector<Tensor>& t) { return sum(t[0]); }, 0.05f});
    c.push_back({"mean " + s.str(), {in(s)}, [](std::vector<Tensor>& t) { return mean(t[0]); }, 0.05f});
  }
  c.push_back({"reshape [2, 3, 4] -> [4, 6]", {in(Shape{2, 3, 4})},
               [](std::vector<Tensor>& t) { return reshape(t[0], Shape{4, 6}); }, 0.05f});
  c.push_back({"flatten [2, 3, 2, 2]", {in(Shape{2, 3, 2, 2})}, [](std::vector<Tensor>& t) { return flatten(t[0]); }, 0.05f});
  c.push_back({"matmul [3, 5] x [5, 4]", {in(Shape{3, 5}), in(Shape{5, 4})},
               [](std::vector<Tensor>& t) { return matmul(t[0], t[1]); }, 0.05f});
  c.push_back({"matmul [1, 7] x [7, 1]", {in(Shape{1, 7}), in(Shape{7, 1})},
               [](std::vector<Tensor>& t) { return matmul(t[0], t[1]); }, 0.05f});
  c.push_back(linear_case("linear [4, 6] -> 3 +bias", Shape{4, 6}, Shape{3, 6}, true));
  c.push_back(linear_case("linear [1, 5] -> 2", Shape{1, 5}, Shape{2, 5}, false));

  add_conv(c, "k3 s1 p1", Shape{2, 3, 7, 9}, Shape{4, 3, 3, 3}, true, conv(1, 1));
  add_conv(c, "k3 s2 p0", Shape{2, 2, 8, 7}, Shape{3, 2, 3, 3}, false, conv(2, 0));
  add_conv(c, "k1 s1 p0 (direct)", Shape{3, 5, 4, 3}, Shape{6, 5, 1, 1}, true, conv(1, 0));
  add_conv(c, "k1 s2 p0", Shape{2, 4, 6, 5}, Shape{3, 4, 1, 1}, false, conv(2, 0));
  add_conv(c, "k3 s1 p1 groups=2", Shape{2, 4, 5, 6}, Shape{6, 2, 3, 3}, true, conv(1, 1, 1, 2));
  add_conv(c, "k3 s2 p1 depthwise", Shape{2, 3, 7, 7}, Shape{3, 1, 3, 3}, false, conv(2, 1, 1, 3));
  add_conv(c, "k3 s1 p2 dilation=2", Shape{1, 2, 8, 9}, Shape{2, 2, 3, 3}, true, conv(1, 2, 2));
  add_conv(c, "k5 s1 p2 batch 1", Shape{1, 1, 6, 6}, Shape{2, 1, 5, 5}, false, conv(1, 2));
  // One input channel: im2col + GEMM under either backend (cpu/conv.cpp).
  add_conv(c, "k3 s1 p1 grayscale stem", Shape{3, 1, 9, 8}, Shape{5, 1, 3, 3}, true, conv(1, 1));
  add_conv(c, "k7 s2 p3 stem", Shape{1, 3, 15, 13}, Shape{4, 3, 7, 7}, false, conv(2, 3));
  {
    Conv2dParams asym{2, 1, 1, 0, 1, 1, 1};
    add_conv(c, "k3 stride (2,1) pad (1,0)", Shape{2, 2, 7, 6}, Shape{3, 2, 3, 3}, true, asym);
  }

  c.push_back(batch_norm_case("batch_norm eval x[3, 2, 4, 3]", Shape{3, 2, 4, 3}, false));
  add_bn(c, Shape{4, 3, 5, 5});
  add_bn(c, Shape{1, 2, 3, 3});
  add_bn(c, Shape{8, 5});
  for (Shape s : {Shape{4, 3, 5, 5}, Shape{8, 5}}) {  // batch norm + ReLU fused (training)
    Shape ch{s[1]};
    c.push_back({"batch_norm_relu train x" + s.str(),
                 {in(s), in(ch, K::positive), in(ch), in(ch, K::normal, false), in(ch, K::positive, false)},
                 [](std::vector<Tensor>& t) { return batch_norm_relu(t[0], t[1], t[2], t[3], t[4], true, 0.1f, 1e-5f); },
                 3e-3f});  // 1e-2 (batch norm's step) crosses the kink on this row's inputs, 1e-3 drowns in float noise
  }

  struct PoolCase {
    Shape x;
    Pool2dParams p;
  };
  for (PoolCase pc : {PoolCase{Shape{2, 3, 6, 7}, {2, 2, 2, 2, 0, 0}}, PoolCase{Shape{1, 2, 9, 9}, {3, 3, 2, 2, 1, 1}},
                      PoolCase{Shape{2, 2, 5, 4}, {3, 3, 1, 1, 1, 1}}}) {
    std::string tag = " k" + std::to_string(pc.p.kernel_h) + " s" + std::to_string(pc.p.stride_h) + " p" +
                      std::to_string(pc.p.pad_h) + " " + pc.x.str();
    Pool2dParams p = pc.p;
    c.push_back({"max_pool2d" + tag, {in(pc.x, K::distinct)}, [p](std::vector<Tensor>& t) { return max_pool2d(t[0], p); },
                 1e-2f});
    c.push_back({"avg_pool2d" + tag, {in(pc.x)}, [p](std::vector<Tensor>& t) { return avg_pool2d(t[0], p); }, 0.05f});
  }
  for (Shape s : {Shape{2, 3, 5, 4}, Shape{1, 1, 1, 1}})
    c.push_back({"global_avg_pool " + s.str(), {in(s)}, [](std::vector<Tensor>& t) { return global_avg_pool(t[0]); }, 0.05f});

  for (float eps : {0.0f, 0.1f}) {
    c.push_back({"cross_entropy [5, 7] smoothing " + std::to_string(eps), {in(Shape{5, 7}), labels(5, 7)},
                 [eps](std::vector<Tensor>& t) { return cross_entropy(t[0], t[1], eps); }, 1e-2f});
  }
  c.push_back({"cross_entropy [1, 3]", {in(Shape{1, 3}), labels(1, 3)},
               [](std::vector<Tensor>& t) { return cross_entropy(t[0], t[1]); }, 1e-2f});
  c.push_back({"cross_entropy [6, 1000] smoothing 0.1", {in(Shape{6, 1000}), labels(6, 1000)},
               [](std::vector<Tensor>& t) { return cross_entropy(t[0], t[1], 0.1f); }, 1e-2f});
  // ReLU6 on both sides of both kinks (inputs scaled by 4: about 8% lie above 6); option-A
  // shortcut (odd sizes, stride 1 and 2, padding in front only or on both sides); adaptive average
  // pooling (overlapping windows, output larger than the input); direct depthwise convolutions.
  c.push_back({"relu6 4x [2, 3, 6, 7]", {in(Shape{2, 3, 6, 7}, K::away_from_zero)},
               [](std::vector<Tensor>& t) { return relu6(scale(t[0], 4.0f)); }, 1e-3f});
  c.push_back({"shortcut_a s2 pad 2+2 [2, 3, 7, 6] -> 7", {in(Shape{2, 3, 7, 6})},
               [](std::vector<Tensor>& t) { return shortcut_a(t[0], 2, 2, 7); }, 0.05f});
  c.push_back({"shortcut_a s1 pad 1+0 [1, 2, 3, 3] -> 3", {in(Shape{1, 2, 3, 3})},
               [](std::vector<Tensor>& t) { return shortcut_a(t[0], 1, 1, 3); }, 0.05f});
  c.push_back({"adaptive_avg_pool2d [2, 3, 7, 5] -> 3x2", {in(Shape{2, 3, 7, 5})},
               [](std::vector<Tensor>& t) { return adaptive_avg_pool2d(t[0], 3, 2); }, 0.05f});
  c.push_back({"adaptive_avg_pool2d [1, 2, 2, 3] -> 5x4", {in(Shape{1, 2, 2, 3})},
               [](std::vector<Tensor>& t) { return adaptive_avg_pool2d(t[0], 5, 4); }, 0.05f});
  add_conv(c, "k3 s1 p1 depthwise", Shape{3, 4, 6, 5}, Shape{4, 1, 3, 3}, true, conv(1, 1, 1, 4));
  add_conv(c, "k3 s2 p1 depthwise even", Shape{2, 5, 8, 8}, Shape{5, 1, 3, 3}, false, conv(2, 1, 1, 5));
  add_conv(c, "k5 s1 p2 dilation=2 depthwise", Shape{1, 3, 9, 7}, Shape{3, 1, 5, 5}, false, conv(1, 2, 2, 3));
  add_conv(c, "k3 s1 p0 depthwise batch 1", Shape{1, 2, 4, 4}, Shape{2, 1, 3, 3}, false, conv(1, 0, 1, 2));
  add_sparse(c);
  add_bf16(c);
  return c;
}

}  // namespace

OpCase conv2d_case(const std::string& name, const Shape& x, const Shape& w, bool bias, const Conv2dParams& p,
                   bool input_grad) {
  std::vector<InputSpec> ins{in(x, K::normal, input_grad), in(w)};
  if (bias) ins.push_back(in(Shape{w[0]}));
  OpCase c{name, ins, [p, bias](std::vector<Tensor>& t) { return conv2d(t[0], t[1], bias ? t[2] : Tensor(), p); },
           0.05f};
  c.args = {{"stride_h", p.stride_h}, {"stride_w", p.stride_w}, {"pad_h", p.pad_h},  {"pad_w", p.pad_w},
            {"dil_h", p.dil_h},       {"dil_w", p.dil_w},       {"groups", p.groups}};
  return c;
}

OpCase batch_norm_case(const std::string& name, const Shape& x, bool training) {
  Shape c{x[1]};
  OpCase k{name,
           {in(x), in(c, K::positive), in(c), in(c, K::normal, false), in(c, K::positive, false)},
           [training](std::vector<Tensor>& t) { return batch_norm(t[0], t[1], t[2], t[3], t[4], training, 0.1f, 1e-5f); },
           training ? 1e-2f : 0.05f};  // evaluation mode is linear in x, gamma and beta
  k.args = {{"training", training ? 1 : 0}};
  return k;
}

OpCase linear_case(const std::string& name, const Shape& x, const Shape& w, bool bias) {
  std::vector<InputSpec> ins{in(x), in(w)};
  if (bias) ins.push_back(in(Shape{w[0]}));
  return {name, ins, [bias](std::vector<Tensor>& t) { return linear(t[0], t[1], bias ? t[2] : Tensor()); }, 0.05f};
}

namespace {

Tensor dense_act(const Tensor& y, int act) { return act == 0 ? y : act == 1 ? relu(y) : relu6(y); }

std::vector<InputSpec> sparse_inputs(const Shape& x, const Shape& w, bool bias, float density) {
  std::vector<InputSpec> ins{in(x, K::normal, false), in(w, K::normal, false)};
  ins[1].density = density;
  if (bias) ins.push_back(in(Shape{w[0]}, K::normal, false));
  return ins;
}

}  // namespace

OpCase sparse_linear_case(const std::string& name, const Shape& x, const Shape& w, bool bias, float density, int act) {
  OpCase c{name, sparse_inputs(x, w, bias, density), [bias, act](std::vector<Tensor>& t) {
             return sparse_linear(t[0], CsrMatrix::from_dense(t[1]), bias ? t[2] : Tensor(), Epilogue(act));
           }};
  c.dense = [bias, act](std::vector<Tensor>& t) { return dense_act(linear(t[0], t[1], bias ? t[2] : Tensor()), act); };
  c.args = {{"act", act}};
  return c;
}

OpCase sparse_conv2d_case(const std::string& name, const Shape& x, const Shape& w, bool bias, const Conv2dParams& p,
                          float density, int act, bool residual) {
  const int kh = int(w[2]), kw = int(w[3]);
  std::vector<InputSpec> ins = sparse_inputs(x, w, bias, density);
  const size_t r = ins.size();  // the residual's index, when there is one
  if (residual)
    ins.push_back(in(Shape{x[0], w[0], window_out(x[2], kh, p.stride_h, p.pad_h, p.dil_h),
                           window_out(x[3], kw, p.stride_w, p.pad_w, p.dil_w)},
                     K::normal, false));
  OpCase c{name, ins, [=](std::vector<Tensor>& t) {
             return sparse_conv2d(t[0], CsrMatrix::from_dense(t[1]), kh, kw, bias ? t[2] : Tensor(), p, Epilogue(act),
                                  residual ? t[r] : Tensor());
           }};
  c.dense = [=](std::vector<Tensor>& t) {
    Tensor y = conv2d(t[0], t[1], bias ? t[2] : Tensor(), p);
    return dense_act(residual ? add(y, t[r]) : y, act);
  };
  c.args = {{"stride_h", p.stride_h}, {"stride_w", p.stride_w}, {"pad_h", p.pad_h}, {"pad_w", p.pad_w},
            {"dil_h", p.dil_h},       {"dil_w", p.dil_w},       {"groups", p.groups}, {"act", act},
            {"residual", residual ? int64_t(r) : 0}};
  return c;
}

namespace {

// The CSR of a weight tensor, kept with the tensor it came from (held, so its address cannot be
// reused by another weight while the cache lives).
struct CsrCache {
  Tensor source;
  CsrMatrix csr;
  const CsrMatrix& of(const Tensor& w) {
    if (!source.defined() || source.raw_data() != w.raw_data() || source.device() != w.device()) {
      csr = CsrMatrix::from_dense(w);
      source = w;
    }
    return csr;
  }
};

}  // namespace

std::vector<OpCase> sparse_perf_cases(int64_t batch) {
  std::vector<OpCase> out;
  const float densities[] = {0.2f, 0.1f, 0.05f, 0.02f};
  auto add = [&](const std::string& geometry, std::vector<InputSpec> ins, float density, OpCase::Run sparse_run,
                 OpCase::Run dense_run) {
    for (InputSpec& i : ins) i.grad = false;
    ins[1].density = density;
    bool sparse = sparse_run != nullptr;
    std::string tag = sparse ? " sparsity " + std::to_string(int(std::lround((1 - density) * 100))) + "%" : " dense";
    OpCase c{std::string(sparse ? "sparse " : "dense ") + geometry + tag, ins, sparse ? sparse_run : dense_run};
    c.layer = geometry;
    out.push_back(c);
  };
  struct Conv {
    int64_t c, o, hw, k;
  };
  std::vector<int64_t> batches{1};
  if (batch != 1) batches.push_back(batch);
  for (int64_t n : batches)
    for (Conv v : {Conv{64, 64, 56, 3}, Conv{128, 128, 28, 3}, Conv{256, 256, 14, 3}, Conv{512, 512, 7, 3},
                   Conv{256, 64, 56, 1}, Conv{1024, 256, 14, 1}, Conv{512, 2048, 7, 1}}) {
      Shape x{n, v.c, v.hw, v.hw}, w{v.o, v.c, v.k, v.k};
      Conv2dParams p = conv(1, int(v.k / 2));
      int kk = int(v.k);
      std::string geometry = "conv " + x.str() + " k" + std::to_string(v.k) + " o" + std::to_string(v.o) + " +bias relu";
      std::vector<InputSpec> ins{in(x), in(w), in(Shape{v.o})};
      add(geometry, ins, 0.2f, nullptr, [p](std::vector<Tensor>& t) { return relu(conv2d(t[0], t[1], t[2], p)); });
      for (float d : densities) {
        auto cache = std::make_shared<CsrCache>();
        add(geometry, ins, d, [cache, p, kk](std::vector<Tensor>& t) {
          return sparse_conv2d(t[0], cache->of(t[1]), kk, kk, t[2], p, Epilogue::relu);
        }, nullptr);
      }
      // The k x k method's alternative (cpu/sparse_impl.h), timed beside the default at 90% and 95%.
      for (float d : {0.1f, 0.05f}) {
        if (v.k == 1) break;
        auto cache = std::make_shared<CsrCache>();
        add(geometry, ins, d, [cache, p, kk](std::vector<Tensor>& t) {
          const cpu::SparseConvMethod before = cpu::sparse_conv_method();
          cpu::set_sparse_conv_method(cpu::SparseConvMethod::im2col);
          Tensor y = sparse_conv2d(t[0], cache->of(t[1]), kk, kk, t[2], p, Epilogue::relu);
          cpu::set_sparse_conv_method(before);
          return y;
        }, nullptr);
        out.back().name += " im2col";
      }
      // The spmm tiles instead of the convolution tiles (AVX-512), at 90% and 95%.
      for (float d : {0.1f, 0.05f}) {
        auto cache = std::make_shared<CsrCache>();
        add(geometry, ins, d, [cache, p, kk](std::vector<Tensor>& t) {
          cpu::set_sparse_conv_tiles(false);
          Tensor y = sparse_conv2d(t[0], cache->of(t[1]), kk, kk, t[2], p, Epilogue::relu);
          cpu::set_sparse_conv_tiles(true);
          return y;
        }, nullptr);
        out.back().name += " spmm";
      }
    }
  for (int64_t n : {int64_t(1), int64_t(64)}) {
    Shape x{n, 784}, w{128, 784};
    std::string geometry = "linear " + x.str() + " -> 128 +bias relu";
    std::vector<InputSpec> ins{in(x), in(w), in(Shape{128})};
    add(geometry, ins, 0.2f, nullptr, [](std::vector<Tensor>& t) { return relu(linear(t[0], t[1], t[2])); });
    for (float d : densities) {
      auto cache = std::make_shared<CsrCache>();
      add(geometry, ins, d, [cache](std::vector<Tensor>& t) {
        return sparse_linear(t[0], cache->of(t[1]), t[2], Epilogue::relu);
      }, nullptr);
    }
  }
  return out;
}

const std::vector<OpCase>& op_cases() {
  static const std::vector<OpCase> cases = build();
  return cases;
}

std::vector<Tensor> make_inputs(const OpCase& c, uint64_t seed) {
  std::vector<Tensor> out;
  uint64_t offset = 0;
  for (const InputSpec& s : c.inputs) {
    int64_t n = s.shape.numel();
    auto u = [&](int64_t i) { return philox::uniform(seed, offset, i); };
    auto z = [&](int64_t i) { return philox::normal(seed, offset, i); };
    if (s.kind == InputSpec::Kind::labels) {
      std::vector<int32_t> v(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) v[size_t(i)] = int32_t(u(i) * float(s.classes)) % s.classes;
      out.push_back(Tensor::from_vector(s.shape, v));
    } else {
      std::vector<float> v(static_cast<size_t>(n));
      if (s.kind == InputSpec::Kind::distinct) {
        std::vector<int64_t> perm = random_permutation(n, seed, offset);
        for (int64_t i = 0; i < n; ++i) v[size_t(i)] = (float(perm[size_t(i)]) - float(n) / 2) * 0.05f;
      }
      for (int64_t i = 0; i < n && s.kind != InputSpec::Kind::distinct; ++i) {
        float x = z(i);
        if (s.kind == InputSpec::Kind::away_from_zero) x = (x < 0 ? -0.1f : 0.1f) + x;
        if (s.kind == InputSpec::Kind::positive) x = 0.5f + u(i);
        // Its own stream for the pattern (key seed + 1), so it does not correlate with the values.
        if (s.density < 1.0f && philox::uniform(seed + 1, offset, i) >= s.density) x = 0.0f;
        if (s.bf16_values) x = bf16_to_float(float_to_bf16(x));
        v[size_t(i)] = x;
      }
      Tensor t = Tensor::from_vector(s.shape, v);
      if (s.grad) t.set_requires_grad(true);
      out.push_back(t);
    }
    offset += philox::blocks_for(n) + 1;
  }
  return out;
}

}  // namespace trim::test
