#include "spiking/neuron.h"

#include <cmath>
#include <vector>

#include "core/autograd/node.h"
#include "spiking/neuron_kernels.h"

namespace trim::spiking {
namespace {

// [T, d1, d2, ...] -> [d1, d2, ...].
Shape step_shape(const Shape& s) {
  std::vector<int64_t> d = s.vec();
  return Shape(std::vector<int64_t>(d.begin() + 1, d.end()));
}

// [d1, d2, ...] -> [T, d1, d2, ...].
Shape time_shape(int64_t T, const Shape& s) {
  std::vector<int64_t> d{T};
  for (int64_t v : s.vec()) d.push_back(v);
  return Shape(d);
}

Tensor empty_f32(const Shape& s, Device d) { return Tensor::empty(s, DType::f32, d); }

const char* kind_name(NeuronKind k) { return k == NeuronKind::if_node ? "if" : k == NeuronKind::lif ? "lif" : "plif"; }

}  // namespace

// Bound of the neuron settings (tau, voltages, surrogate alpha), read as the floats they become:
// published values are O(1) (tau 2, V_th 1, alpha 2-4); beyond 1e6 the dynamics are meaningless.
constexpr double kMaxNeuronValue = 1e6;

NeuronConfig parse_neuron_config(const Config& c) {
  NeuronConfig cfg;
  if (!c.has("neuron")) c.fail("neuron", "required key is missing (\"if\", \"lif\" or \"plif\")");
  std::string kind = c.choice("neuron", {"if", "lif", "plif"}, "");
  cfg.kind = kind == "if" ? NeuronKind::if_node : kind == "lif" ? NeuronKind::lif : NeuronKind::plif;
  if (cfg.kind == NeuronKind::if_node) {
    for (const char* key : {"tau", "decay_input"})
      if (c.has(key)) c.fail(key, "IF neurons have no leak; this key applies to \"lif\" and \"plif\" only");
  } else {
    cfg.tau = c.float_in("tau", cfg.tau, Config::Interval{1.0, kMaxNeuronValue, true, false});
    cfg.decay_input = c.get<bool>("decay_input", cfg.decay_input);
  }
  cfg.v_threshold = c.float_in("v_threshold", cfg.v_threshold, Config::Interval{-kMaxNeuronValue, kMaxNeuronValue});
  if (c.has("v_reset") && c.json().at("v_reset").is_null()) {
    c.accept("v_reset");
    cfg.v_reset = std::nullopt;
  } else {
    if (c.has("v_reset") && !c.json().at("v_reset").is_number())
      c.fail("v_reset", "expected a number, or null for soft reset, found " + describe_json(c.json().at("v_reset")));
    cfg.v_reset = c.float_in("v_reset", 0.0f, Config::Interval{-kMaxNeuronValue, kMaxNeuronValue});
    if (!(*cfg.v_reset < cfg.v_threshold))
      c.fail("v_reset", cat("expected a value below v_threshold (", cfg.v_threshold, "), found ", *cfg.v_reset));
  }
  cfg.detach_reset = c.get<bool>("detach_reset", cfg.detach_reset);
  std::string sg = c.choice("surrogate", {"sigmoid", "atan", "piecewise_linear"}, "sigmoid");
  cfg.surrogate.kind = sg == "sigmoid"  ? surrogate::Kind::sigmoid
                       : sg == "atan" ? surrogate::Kind::atan
                                      : surrogate::Kind::piecewise_linear;
  cfg.surrogate.alpha =
      c.float_in("alpha", surrogate::default_alpha(cfg.surrogate.kind), Config::Interval{0.0, kMaxNeuronValue, true, false});
  c.finish();
  return cfg;
}

NeuronParams neuron_params(const NeuronConfig& cfg) {
  TRIM_CHECK(cfg.kind == NeuronKind::if_node || (cfg.tau > 1.0f && std::isfinite(cfg.tau)),
             cat(kind_name(cfg.kind), " neuron: tau must be a finite number > 1, got ", cfg.tau));
  TRIM_CHECK(std::isfinite(cfg.v_threshold), "neuron: v_threshold must be finite");
  TRIM_CHECK(!cfg.v_reset || std::isfinite(*cfg.v_reset), "neuron: v_reset must be finite");
  TRIM_CHECK(cfg.surrogate.alpha > 0.0f && std::isfinite(cfg.surrogate.alpha),
             cat("neuron: surrogate alpha must be a finite number > 0, got ", cfg.surrogate.alpha));
  NeuronParams p;
  p.kind = cfg.kind;
  p.decay_input = cfg.decay_input;
  p.soft_reset = !cfg.v_reset.has_value();
  p.detach_reset = cfg.detach_reset;
  p.smooth = cfg.smooth_forward;
  p.v_threshold = cfg.v_threshold;
  p.v_reset = cfg.v_reset.value_or(0.0f);
  p.k = cfg.kind == NeuronKind::if_node ? 1.0f : 1.0f / cfg.tau;
  p.sg = cfg.surrogate;
  return p;
}

float plif_initial_w(float tau0) {
  TRIM_CHECK(tau0 > 1.0f && std::isfinite(tau0), cat("plif: initial tau must be a finite number > 1, got ", tau0));
  return -std::log(tau0 - 1.0f);
}

NeuronOutput neuron_forward(const Tensor& x, const NeuronConfig& cfg, const Tensor& v0, const Tensor& w, bool return_v) {
  const char* op = "neuron_forward";
  NeuronParams p = neuron_params(cfg);
  check_dtype(op, x, DType::f32, "x");
  TRIM_CHECK(x.ndim() >= 2, cat(op, ": x must be [T, N, ...] (2 to 5 dimensions), got ", x.shape().str()));
  TRIM_CHECK(x.size(0) >= 1, cat(op, ": x has no time steps: ", x.shape().str()));
  Shape step = step_shape(x.shape());
  if (v0.defined()) {
    check_dtype(op, v0, DType::f32, "v0");
    check_same_device(op, x, v0);
    check_shape(op, v0, step, "v0");
  }
  if (p.kind == NeuronKind::plif) {
    TRIM_CHECK(w.defined(), cat(op, ": a PLIF neuron needs its parameter w ([1])"));
    check_dtype(op, w, DType::f32, "w");
    check_same_device(op, x, w);
    check_shape(op, w, Shape{1}, "w");
  } else {
    TRIM_CHECK(!w.defined(), cat(op, ": only PLIF neurons take a parameter w; this one is ", kind_name(p.kind)));
  }

  bool grad = any_requires_grad({&x, &v0, &w});
  NeuronForwardArgs a;
  a.x = x;
  a.v0 = v0;
  a.w = w;
  a.s = empty_f32(x.shape(), x.device());
  if (grad) a.h = empty_f32(x.shape(), x.device());
  if (return_v) a.v_last = empty_f32(step, x.device());
  TRIM_DISPATCH(x.device(), spiking_neuron_forward, p, a);
  NeuronOutput out{a.s, a.v_last};
  if (!grad) return out;

  // One node with the spikes and, when returned, V[T] as its outputs: the engine hands its backward
  // dL/dS and dL/dV[T] together, once both are complete. Either may be undefined (no gradient
  // reached it), which means zero; the kernel takes a missing dL/dV[T] as zero itself.
  Tensor h = a.h;
  Tensor xs = p.kind == NeuronKind::plif && p.decay_input && w.requires_grad() ? x.detach() : Tensor();
  Tensor v0s = v0.defined() ? v0.detach() : Tensor();
  Tensor ws = w.defined() ? w.detach() : Tensor();
  auto backward = [p, h, xs, v0s, ws](std::span<const Tensor> gout, const GradRequest& need) {
    NeuronBackwardArgs b;
    b.h = h;
    b.x = xs;
    b.v0 = v0s;
    b.w = ws;
    b.gs = gout[0].defined() ? gout[0] : Tensor::zeros(h.shape(), DType::f32, h.device());
    if (gout.size() > 1) b.gv_last = gout[1];
    if (need[0]) b.gx = empty_f32(h.shape(), h.device());
    if (need[1]) b.gv0 = empty_f32(v0s.shape(), h.device());
    if (need[2]) b.gw = empty_f32(Shape{1}, h.device());
    TRIM_DISPATCH(h.device(), spiking_neuron_backward, p, b);
    return std::vector<Tensor>{b.gx, b.gv0, b.gw};
  };
  if (return_v)
    record({&out.spikes, &out.v}, "neuron_forward", {&x, &v0, &w}, backward, {&xs, &v0s, &ws});
  else
    record(out.spikes, "neuron_forward", {&x, &v0, &w}, backward, {&xs, &v0s, &ws});
  return out;
}

Tensor spike_fn(const Tensor& h, float v_threshold, const surrogate::Surrogate& sg) {
  check_dtype("spike_fn", h, DType::f32, "h");
  TRIM_CHECK(std::isfinite(v_threshold), "spike_fn: v_threshold must be finite");
  NeuronParams p;
  p.v_threshold = v_threshold;
  p.sg = sg;
  Tensor s = empty_f32(h.shape(), h.device());
  TRIM_DISPATCH(h.device(), spiking_fire, p, h, s);
  if (any_requires_grad({&h})) {
    Tensor hs = h.detach();
    record(s, "spike_fn", {&h}, [p, hs](std::span<const Tensor> gout, const GradRequest&) {
      const Tensor& g = gout[0];
      Tensor gh = empty_f32(hs.shape(), hs.device());
      TRIM_DISPATCH(hs.device(), spiking_fire_backward, p, hs, g, gh);
      return std::vector<Tensor>{gh};
    }, {&hs});
  }
  return s;
}

Tensor repeat_time(const Tensor& x, int64_t T) {
  check_dtype("repeat_time", x, DType::f32, "x");
  TRIM_CHECK(T >= 1, cat("repeat_time: T must be >= 1, got ", T));
  TRIM_CHECK(x.ndim() < Shape::kMaxDims,
             cat("repeat_time: x ", x.shape().str(), " has no room for a time dimension (at most ", Shape::kMaxDims, ")"));
  Tensor y = empty_f32(time_shape(T, x.shape()), x.device());
  TRIM_DISPATCH(x.device(), spiking_time_repeat, x, 1.0f, y);
  if (any_requires_grad({&x})) {
    Shape in = x.shape();
    record(y, "repeat_time", {&x}, [in](std::span<const Tensor> gout, const GradRequest&) {
      const Tensor& g = gout[0];
      Tensor gx = empty_f32(in, g.device());
      TRIM_DISPATCH(g.device(), spiking_time_sum, g, 1.0f, gx);
      return std::vector<Tensor>{gx};
    });
  }
  return y;
}

Tensor mean_time(const Tensor& x) {
  check_dtype("mean_time", x, DType::f32, "x");
  TRIM_CHECK(x.ndim() >= 1 && x.size(0) >= 1, cat("mean_time: x must be [T, ...] with T >= 1, got ", x.shape().str()));
  int64_t T = x.size(0);
  Tensor y = empty_f32(step_shape(x.shape()), x.device());
  TRIM_DISPATCH(x.device(), spiking_time_sum, x, 1.0f / float(T), y);
  if (any_requires_grad({&x})) {
    Shape in = x.shape();
    record(y, "mean_time", {&x}, [in, T](std::span<const Tensor> gout, const GradRequest&) {
      const Tensor& g = gout[0];
      Tensor gx = empty_f32(in, g.device());
      TRIM_DISPATCH(g.device(), spiking_time_repeat, g, 1.0f / float(T), gx);
      return std::vector<Tensor>{gx};
    });
  }
  return y;
}

}  // namespace trim::spiking
