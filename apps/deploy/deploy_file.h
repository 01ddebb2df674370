#pragma once
// model_deploy.safetensors: the deployed network, readable by the PyPI safetensors package.
//   dense layer   "<layer>.weight" (BN folded in), "<layer>.bias" (when the layer has one or a BN
//                 was folded into it)
//   CSR layer     "<layer>.weight.crow_indices" (i32 [rows + 1]), "<layer>.weight.col_indices"
//                 (i32 [nnz]), "<layer>.weight.values" (f32 [nnz]): PyTorch's sparse_csr layout of
//                 the weight read as [O, C/g * kh * kw], and "<layer>.bias"
//   every other tensor of the model's state dict, under its name (a BN folded into a layer has none)
// Metadata (strings): "<layer>.weight.shape" = the dense shape as a JSON array, "<layer>.weight.format"
// = "dense" | "csr", "trim.folded_batch_norm" = "true", "trim.model" = the (slimmed) model spec.
// torch.sparse_csr_tensor(crow, col, values, (shape[0], prod(shape[1:]))) rebuilds a CSR weight.
#include <string>

#include "apps/deploy/plan.h"

namespace trim::deploy {

void write_deploy_file(const std::string& path, Module& model, const Plan& plan, const nlohmann::json& model_spec);

struct DeployFileSummary {
  int64_t tensors = 0, dense_layers = 0, csr_layers = 0, bytes = 0;
};

// Reads a model_deploy.safetensors and checks it: every CSR weight has its three tensors and its
// shape in the metadata and passes CsrMatrix::validate (in-range, monotone indices); every layer
// named in the metadata has its tensors. Throws trim::Error naming the file and the tensor.
DeployFileSummary check_deploy_file(const std::string& path);

}  // namespace trim::deploy
