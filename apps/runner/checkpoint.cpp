#include "apps/runner/checkpoint.h"

#include <cmath>
#include <set>

#include "core/io/safetensors.h"

namespace trim {
namespace {

const std::string kPrefixModel = "model.", kPrefixOptim = "optim.", kPrefixMethod = "method.";

// The live tensors a checkpoint restores into, checked before any is written.
struct Target {
  std::string name;  // with its prefix
  Tensor live;
  const Tensor* saved;
};

void check_group(const std::string& path, const std::string& prefix,
                 const std::vector<std::pair<std::string, Tensor>>& live, const std::map<std::string, Tensor>& saved,
                 std::vector<Target>& out, const char* whose) {
  for (const auto& [name, t] : live) {
    auto it = saved.find(name);
    if (it == saved.end()) throw Error(path + ": missing " + whose + " tensor '" + prefix + name + "'");
    if (it->second.shape() != t.shape() || it->second.dtype() != t.dtype())
      throw Error(path + ": " + whose + " tensor '" + prefix + name + "' has shape " + it->second.shape().str() + " " +
                  dtype_name(it->second.dtype()) + ", the run expects " + t.shape().str() + " " + dtype_name(t.dtype()));
    out.push_back({prefix + name, t, &it->second});
  }
  if (live.size() != saved.size()) {
    std::set<std::string> known;
    for (const auto& [name, t] : live) known.insert(name);
    for (const auto& [name, t] : saved)
      if (!known.count(name))
        throw Error(path + ": the checkpoint holds " + whose + " tensor '" + prefix + name +
                    "' that this run does not have (was it written with other settings?)");
  }
}

}  // namespace

void check_checkpoint_tensors(const std::string& where, const std::vector<std::pair<std::string, Tensor>>& tensors) {
  for (const auto& [name, t] : tensors) {
    if (t.dtype() != DType::f32 || t.numel() == 0) continue;
    Tensor host = t.to(Device::cpu());
    const float* v = host.data<float>();
    const bool variance = name.size() >= 11 && name.compare(name.size() - 11, 11, "running_var") == 0;
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < host.numel(); ++i)
      if (!std::isfinite(v[i]) || (variance && v[i] < 0.0f)) bad += 1, first = first < 0 ? i : first;
    if (bad > 0)
      throw NonFiniteTensor(cat(where, ": tensor '", name, "' holds ", bad, " of ", host.numel(), " entries that are ",
                      variance ? "negative or not finite (a variance is finite and >= 0)" : "not finite",
                      " (the first at flat index ", first, ": ", v[first], ")"));
  }
}

void save_checkpoint(const std::string& path, const Module& model, const SgdBase& optimizer,
                     const TrainingMethod& method, const CheckpointMeta& meta) {
  std::vector<std::pair<std::string, Tensor>> all;
  for (const auto& [name, t] : model.state_dict()) all.emplace_back(kPrefixModel + name, t);
  for (const auto& [name, t] : optimizer.state()) all.emplace_back(kPrefixOptim + name, t);
  for (const auto& [name, t] : method.state_tensors()) all.emplace_back(kPrefixMethod + name, t);
  check_checkpoint_tensors(cat("not writing ", path), all);
  std::vector<NamedTensor> tensors;
  for (auto& [name, t] : all) tensors.push_back({name, t});
  CheckpointMeta m = meta;
  m.method_name = method.name();
  m.method = method.state_json();
  save_safetensors(path, tensors, checkpoint_metadata(m));
}

Checkpoint read_checkpoint(const std::string& path) {
  SafetensorsFile file = load_safetensors(path);  // a regular file, its layout and checksums
  if (!file.has_checksum)
    throw Error(path + ": the checkpoint has no data checksum (metadata '" + kSafetensorsChecksumKey +
                "'); it was not written by this trim, or its header was damaged");
  if (!file.has_header_checksum)
    throw Error(path + ": the checkpoint has no header checksum (metadata '" + kSafetensorsHeaderChecksumKey +
                "'); it was written by an older trim (or edited), and its metadata cannot be trusted");
  Checkpoint ck;
  static_cast<CheckpointMeta&>(ck) = parse_checkpoint_metadata(path, file.metadata);
  ck.path = path;
  std::vector<std::pair<std::string, Tensor>> all;
  for (NamedTensor& t : file.tensors) {
    all.emplace_back(t.name, t.tensor);
    if (t.name.rfind(kPrefixModel, 0) == 0) ck.model.emplace_back(t.name.substr(kPrefixModel.size()), t.tensor);
    else if (t.name.rfind(kPrefixOptim, 0) == 0) ck.optim[t.name.substr(kPrefixOptim.size())] = t.tensor;
    else if (t.name.rfind(kPrefixMethod, 0) == 0) ck.method_tensors[t.name.substr(kPrefixMethod.size())] = t.tensor;
    else throw Error(path + ": unexpected tensor '" + t.name + "' (expected names starting with model., optim. or method.)");
  }
  check_checkpoint_tensors(cat(path, ": cannot resume"), all);
  return ck;
}

void apply_checkpoint(const Checkpoint& ck, Module& model, SgdBase& optimizer, TrainingMethod& method,
                      Generator& generator) {
  std::map<std::string, Tensor> saved_model(ck.model.begin(), ck.model.end());
  std::vector<Target> targets;
  check_group(ck.path, kPrefixModel, model.state_dict(), saved_model, targets, "model");
  check_group(ck.path, kPrefixOptim, optimizer.state(), ck.optim, targets, "optimizer");
  check_group(ck.path, kPrefixMethod, method.state_tensors(), ck.method_tensors, targets, "method");
  for (Target& t : targets) t.live.copy_(*t.saved);
  method.load_state_json(ck.method);
  generator.set_state(ck.rng_seed, ck.rng_offset);
}

}  // namespace trim
