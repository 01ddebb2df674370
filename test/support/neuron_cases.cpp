#include "test/support/neuron_cases.h"

#include "spiking/sew_connect.h"

namespace trim::test {
namespace {

using spiking::NeuronConfig;
using spiking::NeuronKind;
using K = InputSpec::Kind;

InputSpec in(Shape s, K kind = K::normal) { return {s, kind, true, 0}; }

std::string describe(const NeuronConfig& c) {
  std::string s = c.kind == NeuronKind::if_node ? "IF" : c.kind == NeuronKind::lif ? "LIF" : "PLIF";
  s += c.v_reset ? " hard" : " soft";
  if (c.detach_reset) s += " detach";
  if (c.kind != NeuronKind::if_node) s += c.decay_input ? " decay_input" : " no-decay_input";
  s += c.surrogate.kind == surrogate::Kind::atan ? " atan" : c.surrogate.kind == surrogate::Kind::sigmoid ? " sigmoid" : " pwl";
  return s;
}

}  // namespace

std::vector<NeuronVariant> neuron_variants() {
  std::vector<NeuronVariant> out;
  auto add = [&](NeuronConfig c) { out.push_back({describe(c), c}); };
  for (NeuronKind kind : {NeuronKind::if_node, NeuronKind::lif, NeuronKind::plif})
    for (bool soft : {false, true})
      for (bool detach : {false, true})
        for (bool decay : {true, false}) {
          if (kind == NeuronKind::if_node && !decay) continue;
          NeuronConfig c;
          c.kind = kind;
          c.tau = kind == NeuronKind::lif ? 3.0f : 2.0f;  // tau 3: a k that is not a power of two
          c.v_reset = soft ? std::nullopt : std::optional<float>(-0.25f);
          c.detach_reset = detach;
          c.decay_input = decay;
          c.surrogate = {surrogate::Kind::atan, 2.0f};
          add(c);
        }
  for (NeuronKind kind : {NeuronKind::lif, NeuronKind::plif})
    for (surrogate::Kind sg : {surrogate::Kind::sigmoid, surrogate::Kind::piecewise_linear}) {
      NeuronConfig c;
      c.kind = kind;
      c.surrogate = {sg, surrogate::default_alpha(sg)};
      add(c);
    }
  return out;
}

std::vector<OpCase> neuron_op_cases(bool smooth) {
  std::vector<OpCase> cases;
  Shape x{4, 2, 3, 5}, v{2, 3, 5};
  for (const NeuronVariant& nv : neuron_variants()) {
    if (smooth && nv.cfg.detach_reset) continue;
    NeuronConfig cfg = nv.cfg;
    cfg.smooth_forward = smooth;
    bool plif = cfg.kind == NeuronKind::plif;
    std::vector<InputSpec> ins{in(x), in(v)};
    if (plif) ins.push_back(in(Shape{1}));
    for (bool state : {false, true}) {
      cases.push_back({"neuron_forward " + nv.name + (state ? " -> V[T]" : " -> spikes"), ins,
                       [cfg, plif, state](std::vector<Tensor>& t) {
                         auto o = spiking::neuron_forward(t[0], cfg, t[1], plif ? t[2] : Tensor(), state);
                         return state ? o.v : o.spikes;
                       },
                       2e-3f});
    }
  }
  return cases;
}

std::vector<OpCase> spiking_op_cases() {
  std::vector<OpCase> c;
  for (Shape s : {Shape{7}, Shape{2, 3, 4, 5}}) {
    c.push_back({"repeat_time T=4 " + s.str(), {in(s)},
                 [](std::vector<Tensor>& t) { return spiking::repeat_time(t[0], 4); }, 0.05f});
    c.push_back({"mean_time " + s.str(), {in(s)}, [](std::vector<Tensor>& t) { return spiking::mean_time(t[0]); }, 0.05f});
    for (spiking::Connect f : {spiking::Connect::add, spiking::Connect::and_, spiking::Connect::iand})
      c.push_back({std::string("sew_connect ") + spiking::connect_name(f) + " " + s.str(), {in(s), in(s)},
                   [f](std::vector<Tensor>& t) { return spiking::sew_connect(t[0], t[1], f); }, 0.05f});
  }
  c.push_back({"mean_time [3, 300000] (many neurons)", {in(Shape{3, 300000})},
               [](std::vector<Tensor>& t) { return spiking::mean_time(t[0]); }, 0.05f});
  return c;
}

}  // namespace trim::test
