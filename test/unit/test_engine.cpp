// The engine pieces later features build on: the parameter store, gradients written in place by
// backward, the gradient-ready hook, master/forward parameters, gradient-norm clipping and the
// non-finite gradient flag.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>

#include <nlohmann/json.hpp>

#include "core/autograd/grad_mode.h"
#include "core/autograd/node.h"
#include "core/io/safetensors.h"
#include "core/ops/ops.h"
#include "core/optim/sgd.h"
#include "core/random/philox.h"
#include "layers/layers.h"
#include "pruning/lats_rule.h"
#include "test/support/fixtures.h"
#include "test/support/gradcheck.h"

using namespace trim;

using test::leaf;

namespace {

std::vector<float> values(const Tensor& t) { return t.to_vector<float>(); }

std::vector<float> random_vector(int64_t n, uint64_t seed, float scale = 1.0f) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = scale * philox::normal(seed, 0, i);
  return v;
}

Tensor random_images(uint64_t seed) {
  return Tensor::from_vector(Shape{4, 2, 6, 6}, random_vector(4 * 2 * 6 * 6, seed));
}

// A small network whose weights are each used once, plus one square Linear applied twice (its
// weight and bias receive two contributions).
struct Net {
  Conv2d conv{Conv2dOptions{.in = 2, .out = 3, .kernel = 3, .padding = 1, .bias = true}};
  BatchNorm2d bn{3};
  Linear fc{3 * 6 * 6, 5};
  Linear twice{5, 5};
  Tensor forward(const Tensor& x) {
    Tensor h = flatten(relu(bn.forward(conv.forward(x))));
    return twice.forward(relu(twice.forward(fc.forward(h))));
  }
  std::vector<std::pair<std::string, Tensor>> params() {
    return {{"conv.weight", conv.weight}, {"conv.bias", conv.bias}, {"bn.weight", bn.weight},
            {"bn.bias", bn.bias},         {"fc.weight", fc.weight}, {"fc.bias", fc.bias},
            {"twice.weight", twice.weight}, {"twice.bias", twice.bias}};
  }
};

Tensor net_loss(Net& net) {
  Tensor labels = Tensor::from_vector<int32_t>(Shape{4}, {1, 0, 4, 2});
  return cross_entropy(net.forward(random_images(7)), labels);
}

}  // namespace

TEST_CASE("the parameter store moves parameters into one aligned arena without changing them", "[engine]") {
  Tensor a = leaf({1, 2, 3}), b = leaf(std::vector<float>(70, 0.5f));
  Tensor alias = a;  // every handle sees the move
  ParamStore store({{"a", a}, {"b", b, false}});
  REQUIRE(store.total() == 64 + 128);
  CHECK(store.slot(1).offset == 64);
  CHECK(values(alias) == std::vector<float>{1, 2, 3});
  CHECK(a.data<float>() == store.params().data<float>());
  CHECK(b.data<float>() == store.params().data<float>() + 64);
  CHECK(a.grad().data<float>() == store.grads().data<float>());
  CHECK(values(store.params())[3] == 0.0f);  // padding is zero
  Tensor mask = store.state("mask", 1.0f);
  CHECK(store.state("mask").data<float>() == mask.data<float>());  // one buffer per name
  CHECK(values(store.view(mask, 1)) == std::vector<float>(70, 1.0f));
  CHECK(store.find("b") == 1);
  CHECK(store.find("c") == -1);
  CHECK_THROWS_WITH(ParamStore({{"a", leaf({1})}, {"a", leaf({2})}}), Catch::Contains("two parameters named 'a'"));
}

TEST_CASE("backward writes gradients into the store, bit for bit as the clone-then-add path", "[engine][autograd]") {
  // Two identical networks: one on the clone-then-add path (the old one), one bound to a store
  // (gradients written in place by conv, linear and batch norm, accumulating with beta = 1).
  default_generator().set_state(11, 0);
  Net plain;
  default_generator().set_state(11, 0);
  Net bound;
  std::vector<OptimParam> ps;
  for (auto& [name, t] : bound.params()) ps.push_back({name, t});
  ParamStore store(ps);
  for (int pass = 0; pass < 2; ++pass) {  // the second pass accumulates onto the first
    set_grads_in_place(false);
    net_loss(plain).backward();
    set_grads_in_place(true);
    net_loss(bound).backward();
    auto a = plain.params(), b = bound.params();
    for (size_t i = 0; i < a.size(); ++i) {
      INFO(a[i].first << " pass " << pass);
      CHECK(values(a[i].second.grad()) == values(b[i].second.grad()));
    }
  }
  // After zero_grad the next backward overwrites: equal to one fresh backward.
  store.zero_grad();
  net_loss(bound).backward();
  default_generator().set_state(11, 0);
  Net fresh;
  net_loss(fresh).backward();
  auto b = bound.params(), f = fresh.params();
  for (size_t i = 0; i < b.size(); ++i) {
    INFO(b[i].first);
    CHECK(values(b[i].second.grad()) == values(f[i].second.grad()));
  }
}

TEST_CASE("the gradient-ready hook fires once per parameter, after its last contribution", "[engine][autograd]") {
  default_generator().set_state(5, 0);
  Net net;
  Tensor unused = leaf({1, 2});
  std::vector<OptimParam> ps;
  for (auto& [name, t] : net.params()) ps.push_back({name, t});
  ps.push_back({"unused", unused});
  ParamStore store(ps);
  std::map<size_t, int> fired;
  std::map<size_t, std::vector<float>> seen;
  store.on_grad_ready([&](size_t slot, int64_t offset, int64_t count) {
    ++fired[slot];
    CHECK(offset == store.slot(slot).offset);
    CHECK(count == store.slot(slot).numel);
    seen[slot] = values(store.grads().narrow0(offset, count));
  });
  for (int pass = 0; pass < 2; ++pass) {
    fired.clear();
    store.zero_grad();
    net_loss(net).backward();
    CHECK(fired.size() == ps.size() - 1);  // not the unused parameter yet
    store.finish_backward();                // completes the arena and reports what backward never reached
    REQUIRE(fired.size() == ps.size());
    for (size_t i = 0; i < ps.size(); ++i) {
      INFO(ps[i].name);
      CHECK(fired[i] == 1);
      CHECK(seen[i] == values(store.slot(i).param.tensor.grad()));  // the final value
    }
    CHECK(seen[ps.size() - 1] == std::vector<float>{0, 0});
  }
}

TEST_CASE("record takes a run-time number of inputs", "[engine][autograd]") {
  std::vector<Tensor> xs{leaf({1, 2}), leaf({3, 4}), leaf({5, 6})};
  std::vector<const Tensor*> in;
  for (const Tensor& x : xs) in.push_back(&x);
  Tensor y = Tensor::zeros(Shape{2});
  for (const Tensor& x : xs) add_(y, x);
  REQUIRE(any_requires_grad(std::span<const Tensor* const>(in)));
  record(y, "sum_n", std::span<const Tensor* const>(in), [n = xs.size()](std::span<const Tensor> gout, const GradRequest&) {
    const Tensor& g = gout[0];
    return std::vector<Tensor>(n, g);
  });
  sum(mul(y, y)).backward();  // d/dx_i = 2 y = [18, 24]
  for (const Tensor& x : xs) CHECK(values(x.grad()) == std::vector<float>{18, 24});
}

TEST_CASE("a master/forward pair updated by the LATS rule holds w = S_d(theta) exactly", "[engine][optim][lats]") {
  SECTION("pruning/README.md#lats oracle 6: the ISTA identity") {
    Tensor w = leaf({0.4f});
    Sgd<LatsRule> opt({{"w", w, false, 1.0f, 0.0f, true}}, {0.1f, 0.0f, false, 0.0f});
    Tensor master = opt.store().slot(0).master;
    master.fill_(0.5f);  // theta = 0.5 with d = 0.1 gives w = 0.4
    opt.rule_scalars().threshold = 0.15f;    // the next forward's threshold
    opt.zero_grad();
    w.grad().fill_(1.0f);
    opt.step();
    CHECK(values(opt.store().slot(0).master)[0] == Approx(0.4f).margin(1e-7));
    CHECK(values(w)[0] == Approx(0.25f).margin(1e-7));
  }
  SECTION("oracle 1 and 2: S_0.1 and the straight-through gradient") {
    std::vector<float> theta{-0.5f, -0.1f, 0.0f, 0.05f, 0.3f, 1.2f};
    Tensor w = leaf(theta);
    Sgd<LatsRule> opt({{"w", w, true, 1.0f, 0.0f, true}}, {1.0f, 0.0f, false, 0.5f});
    opt.rule_scalars().threshold = 0.1f;
    opt.zero_grad();
    w.grad().fill_(0.0f);  // a zero step: only the store runs, and decay (not applied to theta = 0)
    Tensor master = opt.store().slot(0).master;
    master.copy_(Tensor::from_vector(Shape{6}, theta));
    opt.set_lr(0.0f);
    opt.step();
    std::vector<float> want{-0.4f, 0.0f, 0.0f, 0.0f, 0.2f, 1.1f};
    auto got = values(w);
    for (size_t i = 0; i < want.size(); ++i) CHECK(got[i] == Approx(want[i]).margin(1e-7));
    CHECK(LatsRule::grad({}, {}, 0, 0.0f, 1.0f) == 0.0f);
    CHECK(LatsRule::grad({}, {}, 0, -0.1f, 1.0f) == 1.0f);
  }
  SECTION("over many steps and tensors the forward copy is S_d of the master, bit for bit") {
    std::vector<OptimParam> ps;
    std::vector<Tensor> ws;
    for (int k = 0; k < 3; ++k) {
      Tensor t = Tensor::from_vector(Shape{1000 + k * 20000}, random_vector(1000 + k * 20000, 30 + k, 0.1f));
      t.set_requires_grad(true);
      ws.push_back(t);
      ps.push_back({cat("w", k), t, true, 1.0f, 0.0f, true});
    }
    Sgd<LatsRule> opt(ps, {0.05f, 0.9f, true, 1e-4f});
    for (int step = 0; step < 5; ++step) {
      opt.zero_grad();
      for (size_t k = 0; k < ws.size(); ++k)
        ws[k].grad().copy_(Tensor::from_vector(ws[k].shape(), random_vector(ws[k].numel(), 100 + step * 7 + k)));
      opt.rule_scalars().threshold = 0.02f * float(step + 1);
      opt.step();
      for (size_t k = 0; k < ws.size(); ++k) {
        auto th = values(opt.store().slot(k).master), w = values(ws[k]);
        int64_t zeros = 0;
        for (size_t i = 0; i < w.size(); ++i) {
          REQUIRE(w[i] == soft_threshold(th[i], 0.02f * float(step + 1)));
          zeros += w[i] == 0.0f;
        }
        CHECK(zeros > 0);
      }
    }
  }
}

TEST_CASE("gradient-norm clipping matches PyTorch's clip_grad_norm_", "[engine][optim][golden]") {
  SafetensorsFile g = load_safetensors(TRIM_SOURCE_DIR "/test/golden/pytorch_ops.safetensors");
  for (const char* c : {"clip_1", "clip_100"}) {
    INFO(c);
    float max_norm = nlohmann::json::parse(g.metadata.at(c))["max_norm"].get<float>();
    std::vector<OptimParam> ps;
    std::vector<Tensor> ws;
    for (int i = 0; i < 3; ++i) {
      const Tensor* gi = g.find(cat(c, ".g", i));
      REQUIRE(gi);
      Tensor w = Tensor::zeros(gi->shape());
      w.set_requires_grad(true);
      ws.push_back(w);
      ps.push_back({cat("p", i), w, false});
    }
    SgdOptions o{1.0f, 0.0f, false, 0.0f};
    o.clip_grad_norm = max_norm;
    DenseSgd opt(ps, o);
    opt.zero_grad();
    for (int i = 0; i < 3; ++i) ws[size_t(i)].grad().copy_(*g.find(cat(c, ".g", i)));
    opt.step();  // lr 1 from w = 0: w = -clipped gradient
    for (int i = 0; i < 3; ++i) {
      std::vector<float> got = values(ws[size_t(i)]), want = g.find(cat(c, ".clipped", i))->to_vector<float>();
      for (float& x : got) x = -x;
      CHECK(test::mismatch(got, want, 1e-7, 1e-6) <= 1.0);
    }
    CHECK(opt.last_grad_norm() == Approx(g.find(cat(c, ".norm"))->item()).epsilon(1e-6));
  }
}

TEST_CASE("per-parameter lr scale and gradient clamp", "[engine][optim]") {
  Tensor a = leaf({1, 1}), b = leaf({1, 1});
  DenseSgd opt({{"a", a, false, 0.5f}, {"b", b, false, 1.0f, 0.25f}}, {0.1f, 0.0f, false, 0.0f});
  opt.zero_grad();
  a.grad().copy_(Tensor::from_vector(Shape{2}, std::vector<float>{1, -1}));
  b.grad().copy_(Tensor::from_vector(Shape{2}, std::vector<float>{1, -0.1f}));
  opt.step();
  CHECK(values(a) == std::vector<float>{1 - 0.05f, 1 + 0.05f});
  CHECK(values(b) == std::vector<float>{1 - 0.1f * 0.25f, 1 + 0.1f * 0.1f});
}

TEST_CASE("a non-finite gradient is flagged with the number of its step", "[engine][optim]") {
  Tensor w = leaf({1, 2, 3});
  DenseSgd opt({{"w", w}}, {0.1f, 0.9f, false, 0.0f});
  for (int64_t step = 0; step < 6; ++step) {
    opt.set_step_number(step);
    opt.zero_grad();
    w.grad().fill_(step == 3 || step == 5 ? NAN : 1.0f);
    if (step == 4) w.grad().fill_(INFINITY);
    opt.step();
    CHECK(opt.first_nonfinite_step() == (step < 3 ? -1 : 3));
  }
}
