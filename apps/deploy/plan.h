#pragma once
// The inference plan of trim-deploy: a trained model turned into what runs fast, with the same
// predictions.
//
// Design (the smallest that covers every model of the zoo):
//  - Each Conv2d and Linear becomes a DeployedLayer: its weight with the BatchNorm2d that follows it
//    folded in (eval statistics: W'[o] = W[o] * g[o] / sqrt(var[o] + eps), b' = (b - mean) * that +
//    beta; a row scale, so zeros stay zeros), the ReLU / ReLU6 that follows fused into its
//    Epilogue, and its weight stored dense or in CSR (core/ops/sparse.h).
//  - Chain models (Sequential / ChainModel: mlp, cnn_small, sap_cnn, ...) are walked in forward
//    order into a flat list of steps; a folded BN and a fused ReLU are no steps at all, so the batch-1
//    path is one op per layer and nothing else (no copies, no per-layer allocations beyond the
//    op's output).
//  - Every other model (ResNets, MobileNets: their forward() adds residuals and calls activations
//    as functions) keeps its own forward(): each Conv2d / Linear gets WeightedLayer::deployed set to
//    its DeployedLayer (layers/layers.h), and a BatchNorm2d folded into the conv before it is made
//    the identity (weight 1, bias 0, mean 0, var 1 - eps); a ReLU / ReLU6 module that follows them
//    in a Sequential is fused into the layer and made the identity too, and the residual blocks'
//    conv_bn (layers/layers.h) hands the deployed conv its shortcut and activation, so a block's
//    tail is one call. Which BN follows which conv is read from
//    the module names the zoo uses (P.convK -> P.bnK, P.k -> P.(k+1)) and checked by shape; the
//    deployed logits are compared with the model's own (see compare_logits) before anything is
//    written, so a wrong pairing cannot pass silently.
// Everything runs in eval mode under NoGradGuard.
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/ops/conv_infer.h"
#include "core/ops/sparse.h"
#include "layers/layers.h"
#include "layers/module.h"

namespace trim::deploy {

enum class Format { dense, csr };
const char* format_name(Format f);

struct DeployedLayer {
  std::string name;  // module name ("3", "layer1.0.conv1")
  bool conv = false;
  Shape weight_shape;                 // dense shape: [O, C/g, kh, kw] or [O, I]
  Conv2dParams params;                // conv only
  Tensor weight, bias;                // folded dense weight (weight_shape) and bias (undefined: none)
  CsrMatrix csr;                      // the same weight in CSR, when format == csr
  // The dense conv prepared for inference (core/ops/conv_infer.h), made on the first dense run:
  // weight and bias must not change after that.
  mutable std::shared_ptr<PreparedConv2d> prepared;
  Format format = Format::dense;
  Epilogue act = Epilogue::none;
  std::string folded_bn;              // the BatchNorm2d folded in ("" when none)
  Module* module = nullptr;           // the model's layer

  bool sparse_capable() const { return params.groups == 1; }  // sparse_conv2d: groups == 1 only
  void build_csr();           // the CSR copy of the weight (once)
  void set_format(Format f);  // builds the CSR copy when needed
  // act(layer(x) + residual), the bias, the residual and the activation in the layer's epilogue;
  // with neither a residual nor an act, the layer's own fused `act`. (A layer followed by an
  // activation module never also receives one from its caller; run() checks.)
  Tensor run(const Tensor& x, const Tensor& residual = Tensor(), Epilogue act = Epilogue::none) const;
  // run() in `f` (csr needs csr built).
  Tensor run_as(Format f, const Tensor& x, const Tensor& residual = Tensor(), Epilogue act = Epilogue::none) const;
  int64_t nonzeros() const;
  int64_t stored_bytes() const;  // bytes of the layer's tensors in its format
};

class Plan {
 public:
  // Builds the plan of `model` (moved to eval mode; the caller keeps it alive and must not use it
  // for training afterwards: folded BNs and fused activations are made the identity in non-chain
  // models). Every layer
  // starts dense.
  Plan(std::shared_ptr<Module> model, Device device);
  ~Plan();
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;

  Tensor forward(const Tensor& x);
  bool chain() const { return chain_; }
  std::vector<DeployedLayer>& layers() { return layers_; }
  const std::vector<DeployedLayer>& layers() const { return layers_; }
  // While on, each layer records its call (for per-layer timing).
  void capture_inputs(bool on) { capture_ = on; }
  struct Call {
    Tensor x, residual;
    Epilogue act = Epilogue::none;
  };
  const Tensor& captured_input(size_t layer) const { return inputs_.at(layer).x; }
  const Call& captured_call(size_t layer) const { return inputs_.at(layer); }
  // The chain's steps as JSON, for scripts that rebuild the network (null for non-chain models):
  // [{"op": "linear"|"conv2d", "layer", "act"}, {"op": "max_pool2d", ...}, {"op": "flatten"}, ...].
  nlohmann::json steps_json() const;

 private:
  struct Step {
    int layer = -1;            // index into layers_, or
    Module* other = nullptr;   // a module run as it is (pooling, flatten)
  };
  Tensor run_layer(size_t i, const Tensor& x, const Tensor& residual = Tensor(), Epilogue act = Epilogue::none);
  std::shared_ptr<Module> model_;
  std::vector<DeployedLayer> layers_;
  std::vector<Step> steps_;
  std::vector<Call> inputs_;
  bool chain_ = false, capture_ = false;
};

// || a - b ||_inf / || a ||_inf (0 when both are zero).
double relative_difference(const Tensor& a, const Tensor& b);

}  // namespace trim::deploy
