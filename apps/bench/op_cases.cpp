#include "apps/bench/op_cases.h"

#include <cmath>

#include "core/ops/ops.h"
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
  add_conv(c, "k7 s2 p3 stem", Shape{1, 3, 15, 13}, Shape{4, 3, 7, 7}, false, conv(2, 3));
  {
    Conv2dParams asym{2, 1, 1, 0, 1, 1, 1};
    add_conv(c, "k3 stride (2,1) pad (1,0)", Shape{2, 2, 7, 6}, Shape{3, 2, 3, 3}, true, asym);
  }

  c.push_back(batch_norm_case("batch_norm eval x[3, 2, 4, 3]", Shape{3, 2, 4, 3}, false));
  add_bn(c, Shape{4, 3, 5, 5});
  add_bn(c, Shape{1, 2, 3, 3});
  add_bn(c, Shape{8, 5});

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
