// Backpropagation through time of the fused neurons: finite differences of the same network with
// Theta replaced by the smooth surrogate in both passes; oracle 7 (the fused kernel against a
// step-by-step composition of autograd ops) for every variant; the fused multi-step call against
// T chained single-step calls; PLIF's deterministic w-gradient.
#include <catch2/catch.hpp>

#include <cmath>

#include "core/autograd/grad_mode.h"
#include "core/autograd/node.h"
#include "core/ops/ops.h"
#include "core/random/philox.h"
#include "core/threads.h"
#include "spiking/neuron.h"
#include "test/support/gradcheck.h"
#include "test/support/neuron_cases.h"

using namespace trim;
using namespace trim::spiking;
using namespace trim::test;

namespace {

Shape drop0(const Shape& s) {
  std::vector<int64_t> d = s.vec();
  return Shape(std::vector<int64_t>(d.begin() + 1, d.end()));
}

// Row t of a [T, ...] tensor as a differentiable view, shaped [...] (or [1, ...] with keep).
Tensor step_of(const Tensor& x, int64_t t, bool keep = false) {
  Shape row = drop0(x.shape());
  Tensor y = x.narrow0(t, 1);
  if (!keep) y = y.view(row);
  if (any_requires_grad({&x})) {
    Shape full = x.shape();
    record(y, "step_of", {&x}, [full, t, row](std::span<const Tensor> gout, const GradRequest&) {
      const Tensor& g = gout[0];
      Tensor gx = Tensor::zeros(full);
      gx.narrow0(t, 1).view(row).copy_(g.view(row));
      return std::vector<Tensor>{gx};
    });
  }
  return y;
}

// y = k[0] x with k a [1] tensor (PLIF's leak); CPU only.
Tensor mul_k(const Tensor& x, const Tensor& k) {
  float kv = k.item();
  Tensor y;
  {
    NoGradGuard g;
    y = scale(x, kv);
  }
  if (any_requires_grad({&x, &k})) {
    Tensor xs = x.detach();
    record(y, "mul_k", {&x, &k}, [xs, kv](std::span<const Tensor> gout, const GradRequest& need) {
      const Tensor& g = gout[0];
      std::vector<Tensor> out(2);
      if (need[0]) out[0] = scale(g, kv);
      if (need[1]) out[1] = Tensor::full(Shape{1}, sum(mul(g, xs)).item());
      return out;
    });
  }
  return y;
}

// k = sigmoid(w) for a [1] tensor; CPU only.
Tensor logistic1(const Tensor& w) {
  float wv = w.item();
  Tensor y = Tensor::full(Shape{1}, logistic(wv));
  if (any_requires_grad({&w}))
    record(y, "logistic1", {&w}, [wv](std::span<const Tensor> gout, const GradRequest&) {
      const Tensor& g = gout[0];
      return std::vector<Tensor>{Tensor::full(Shape{1}, g.item() * logistic_grad(wv))};
    });
  return y;
}

struct Reference {
  std::vector<Tensor> spikes;  // per step
  Tensor v;                    // V[T]
};

// The neuron written out step by step with existing autograd ops (and the single-step spike_fn),
// following the spec's equations literally; detach_reset through Tensor::detach.
Reference step_by_step(const Tensor& x, const NeuronConfig& c, const Tensor& v0, const Tensor& w) {
  Shape row = drop0(x.shape());
  bool plif = c.kind == NeuronKind::plif;
  float vr = c.v_reset.value_or(0.0f);
  Tensor k = plif ? logistic1(w) : Tensor();
  auto times_k = [&](const Tensor& a) { return plif ? mul_k(a, k) : scale(a, 1.0f / c.tau); };
  Tensor neg_vr = Tensor::full(row, -vr), ones = Tensor::full(row, 1.0f);
  Tensor v = v0;
  Reference r;
  for (int64_t t = 0; t < x.size(0); ++t) {
    Tensor xt = step_of(x, t), h;
    if (c.kind == NeuronKind::if_node)
      h = add(v, xt);
    else if (c.decay_input)
      h = add(v, times_k(add(xt, scale(add(v, neg_vr), -1.0f))));
    else
      h = add(add(v, scale(times_k(add(v, neg_vr)), -1.0f)), xt);
    Tensor s = spike_fn(h, c.v_threshold, c.surrogate);
    Tensor sb = c.detach_reset ? s.detach() : s;
    if (c.v_reset)
      v = add(mul(h, add(ones, scale(sb, -1.0f))), scale(sb, vr));
    else
      v = add(h, scale(sb, -c.v_threshold));
    r.spikes.push_back(s);
  }
  r.v = v;
  return r;
}

Tensor random_leaf(const Shape& s, uint64_t seed, float mean, float stddev) {
  std::vector<float> v(size_t(s.numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = mean + stddev * philox::normal(seed, 0, int64_t(i));
  Tensor t = Tensor::from_vector(s, v);
  t.set_requires_grad(true);
  return t;
}

Tensor weights(const Shape& s, uint64_t seed) {
  Tensor t = random_leaf(s, seed, 0.0f, 1.0f);
  return t.detach();
}

struct Grads {
  std::vector<float> spikes, v, gx, gv0, gw;
};

Grads grads_of(const Tensor& spikes, const Tensor& v, const Tensor& loss, const Tensor& x, const Tensor& v0,
               const Tensor& w) {
  loss.backward();
  Grads g;
  g.spikes = spikes.to_vector<float>();
  g.v = v.to_vector<float>();
  g.gx = x.grad().to_vector<float>();
  g.gv0 = v0.grad().to_vector<float>();
  if (w.defined()) g.gw = w.grad().to_vector<float>();
  return g;
}

void compare(const Grads& fused, const Grads& ref) {
  CHECK(fused.spikes == ref.spikes);
  CHECK(mismatch(fused.v, ref.v, 1e-6, 1e-6) <= 1.0);
  CHECK(mismatch(fused.gx, ref.gx, 1e-6, 1e-6) <= 1.0);
  CHECK(mismatch(fused.gv0, ref.gv0, 1e-6, 1e-6) <= 1.0);
  CHECK(mismatch(fused.gw, ref.gw, 1e-6, 1e-5) <= 1.0);
}

struct Inputs {
  Tensor x, v0, w, ws, wv;
};

Inputs inputs_for(const NeuronConfig& c, uint64_t seed) {
  Shape x{5, 3, 7};
  Inputs in;
  // Enough drive for spikes at V_th = 1 (decay_input divides the input by tau), not always spiking.
  bool scaled = c.kind != NeuronKind::if_node && c.decay_input;
  in.x = random_leaf(x, seed, scaled ? 1.5f : 0.6f, scaled ? 1.2f : 0.8f);
  in.v0 = random_leaf(drop0(x), seed + 1, 0.0f, 0.4f);
  if (c.kind == NeuronKind::plif) in.w = random_leaf(Shape{1}, seed + 2, 0.3f, 0.0f);
  in.ws = weights(x, seed + 3);
  in.wv = weights(drop0(x), seed + 4);
  return in;
}

Inputs fresh(const Inputs& a) {
  auto copy = [](const Tensor& t) {
    if (!t.defined()) return Tensor();
    Tensor c = t.detach().clone();
    c.set_requires_grad(true);
    return c;
  };
  return {copy(a.x), copy(a.v0), copy(a.w), a.ws, a.wv};
}

Grads run_fused(const Inputs& in, const NeuronConfig& c) {
  auto o = neuron_forward(in.x, c, in.v0, in.w, true);
  Tensor loss = add(sum(mul(o.spikes, in.ws)), sum(mul(o.v, in.wv)));
  return grads_of(o.spikes, o.v, loss, in.x, in.v0, in.w);
}

}  // namespace

TEST_CASE("BPTT matches finite differences of the smooth-surrogate network", "[spiking][gradcheck]") {
  for (const OpCase& c : neuron_op_cases(true)) {
    SECTION(c.name) {
      std::string worst = check_finite_differences(c, 32);
      INFO(c.name << ": " << worst);
      CHECK(worst.empty());
    }
  }
}

TEST_CASE("time folding and SEW connect match finite differences", "[spiking][gradcheck]") {
  for (const OpCase& c : spiking_op_cases()) {
    SECTION(c.name) {
      std::string worst = check_finite_differences(c);
      INFO(c.name << ": " << worst);
      CHECK(worst.empty());
    }
  }
}

TEST_CASE("oracle 7: fused neurons match step-by-step autograd for every variant", "[spiking]") {
  uint64_t seed = 100;
  for (const NeuronVariant& nv : neuron_variants()) {
    SECTION(nv.name) {
      Inputs base = inputs_for(nv.cfg, seed += 10);
      Grads fused = run_fused(fresh(base), nv.cfg);
      Inputs r = fresh(base);
      Reference ref = step_by_step(r.x, nv.cfg, r.v0, r.w);
      Tensor loss = sum(mul(ref.v, r.wv));
      std::vector<float> spikes;
      for (int64_t t = 0; t < int64_t(ref.spikes.size()); ++t) {
        loss = add(loss, sum(mul(ref.spikes[size_t(t)], step_of(r.ws, t))));
        for (float s : ref.spikes[size_t(t)].to_vector<float>()) spikes.push_back(s);
      }
      Grads want = grads_of(ref.v, ref.v, loss, r.x, r.v0, r.w);
      want.spikes = spikes;
      // Both spike values occur, so the reset paths are exercised.
      double rate = 0.0;
      for (float s : fused.spikes) rate += s;
      rate /= double(fused.spikes.size());
      CHECK(rate > 0.05);
      CHECK(rate < 0.95);
      compare(fused, want);
    }
  }
}

TEST_CASE("one multi-step call equals T chained single-step calls (state streamed through v0)", "[spiking]") {
  uint64_t seed = 900;
  for (const NeuronVariant& nv : neuron_variants()) {
    SECTION(nv.name) {
      Inputs base = inputs_for(nv.cfg, seed += 10);
      Grads fused = run_fused(fresh(base), nv.cfg);
      Inputs s = fresh(base);
      Tensor v = s.v0, loss;
      std::vector<float> spikes;
      for (int64_t t = 0; t < s.x.size(0); ++t) {
        auto o = neuron_forward(step_of(s.x, t, true), nv.cfg, v, s.w, true);
        CHECK(o.spikes.shape() == Shape{1, 3, 7});
        Tensor term = sum(mul(o.spikes, step_of(s.ws, t, true)));
        loss = loss.defined() ? add(loss, term) : term;
        for (float x : o.spikes.to_vector<float>()) spikes.push_back(x);
        v = o.v;
      }
      loss = add(loss, sum(mul(v, s.wv)));
      Grads chained = grads_of(v, v, loss, s.x, s.v0, s.w);
      chained.spikes = spikes;
      compare(fused, chained);
    }
  }
}

TEST_CASE("the final membrane alone carries gradient to x, v0 and w", "[spiking]") {
  NeuronConfig c;
  c.kind = NeuronKind::plif;
  Inputs in = inputs_for(c, 7);
  auto o = neuron_forward(in.x, c, in.v0, in.w, true);
  sum(o.v).backward();
  REQUIRE(in.x.grad().defined());
  REQUIRE(in.v0.grad().defined());
  REQUIRE(in.w.grad().defined());
  // Compare with the reference through V[T] only.
  Inputs r = fresh(in);
  Reference ref = step_by_step(r.x, c, r.v0, r.w);
  sum(ref.v).backward();
  CHECK(mismatch(in.x.grad().to_vector<float>(), r.x.grad().to_vector<float>(), 1e-6, 1e-6) <= 1.0);
  CHECK(mismatch(in.v0.grad().to_vector<float>(), r.v0.grad().to_vector<float>(), 1e-6, 1e-6) <= 1.0);
  CHECK(in.w.grad().item() == Approx(r.w.grad().item()).epsilon(1e-5));
}

TEST_CASE("PLIF's w-gradient does not depend on the thread count", "[spiking]") {
  NeuronConfig c;
  c.kind = NeuronKind::plif;
  c.detach_reset = true;
  Tensor x = random_leaf(Shape{4, 50000}, 31, 0.5f, 1.0f);  // several reduction chunks
  auto grad_w = [&](int threads) {
    set_num_threads(threads);
    Tensor w = Tensor::full(Shape{1}, 0.2f);
    w.set_requires_grad(true);
    sum(neuron_forward(x.detach(), c, Tensor(), w).spikes).backward();
    return w.grad().item();
  };
  int before = num_threads();
  float one = grad_w(1), two = grad_w(2), again = grad_w(2);
  set_num_threads(before);
  CHECK(one == two);
  CHECK(two == again);
  CHECK(std::isfinite(one));
  CHECK(one != 0.0f);
}
