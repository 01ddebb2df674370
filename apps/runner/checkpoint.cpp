#include "apps/runner/checkpoint.h"

#include <cstdlib>
#include <set>

#include "core/io/safetensors.h"

namespace trim {
namespace {

const std::string kPrefixModel = "model.", kPrefixOptim = "optim.", kPrefixMethod = "method.";

std::string str(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);  // round-trips exactly
  return buf;
}

struct Meta {
  const std::map<std::string, std::string>& m;
  const std::string& path;
  const std::string& text(const std::string& key) const {
    auto it = m.find(key);
    if (it == m.end()) throw Error(path + ": not a trim checkpoint: metadata key '" + key + "' is missing");
    return it->second;
  }
  int64_t integer(const std::string& key) const {
    const std::string& s = text(key);
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || *end) throw Error(path + ": metadata '" + key + "' should be an integer, found \"" + s + "\"");
    return v;
  }
  int64_t count(const std::string& key) const {
    int64_t v = integer(key);
    if (v < 0) throw Error(path + ": metadata '" + key + "' should be >= 0, found " + std::to_string(v));
    return v;
  }
  uint64_t unsigned_integer(const std::string& key) const {
    const std::string& s = text(key);
    char* end = nullptr;
    unsigned long long v = std::strtoull(s.c_str(), &end, 10);
    if (s.empty() || *end || s[0] == '-')
      throw Error(path + ": metadata '" + key + "' should be a non-negative integer, found \"" + s + "\"");
    return v;
  }
  double real(const std::string& key) const {
    const std::string& s = text(key);
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end) throw Error(path + ": metadata '" + key + "' should be a number, found \"" + s + "\"");
    return v;
  }
};

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

void save_checkpoint(const std::string& path, const Module& model, const SgdBase& optimizer,
                     const TrainingMethod& method, const Generator& generator, const TrainProgress& p,
                     const std::string& manifest) {
  std::vector<NamedTensor> tensors;
  for (const auto& [name, t] : model.state_dict()) tensors.push_back({kPrefixModel + name, t});
  for (const auto& [name, t] : optimizer.state()) tensors.push_back({kPrefixOptim + name, t});
  for (const auto& [name, t] : method.state_tensors()) tensors.push_back({kPrefixMethod + name, t});
  std::map<std::string, std::string> meta{
      {"trim.format", "1"},
      {"trim.round", std::to_string(p.round)},
      {"trim.epoch", std::to_string(p.epoch)},
      {"trim.batch", std::to_string(p.batch)},
      {"trim.step", std::to_string(p.step)},
      {"trim.loss_sum", str(p.loss_sum)},
      {"trim.correct", std::to_string(p.correct)},
      {"trim.seen", std::to_string(p.seen)},
      {"trim.seconds", str(p.seconds)},
      {"trim.rng.seed", std::to_string(generator.seed())},
      {"trim.rng.offset", std::to_string(generator.offset())},
      {"trim.manifest", manifest},
      {"trim.method.name", method.name()},
      {"trim.method", method.state_json().dump()},
  };
  save_safetensors(path, tensors, meta);
}

Checkpoint read_checkpoint(const std::string& path) {
  SafetensorsFile file = load_safetensors(path);
  Meta meta{file.metadata, path};
  if (meta.text("trim.format") != "1")
    throw Error(path + ": checkpoint format \"" + meta.text("trim.format") + "\" is not supported (expected \"1\")");
  Checkpoint ck;
  ck.path = path;
  for (NamedTensor& t : file.tensors) {
    if (t.name.rfind(kPrefixModel, 0) == 0) ck.model.emplace_back(t.name.substr(kPrefixModel.size()), t.tensor);
    else if (t.name.rfind(kPrefixOptim, 0) == 0) ck.optim[t.name.substr(kPrefixOptim.size())] = t.tensor;
    else if (t.name.rfind(kPrefixMethod, 0) == 0) ck.method_tensors[t.name.substr(kPrefixMethod.size())] = t.tensor;
    else throw Error(path + ": unexpected tensor '" + t.name + "' (expected names starting with model., optim. or method.)");
  }
  TrainProgress& p = ck.progress;
  p.round = meta.count("trim.round");
  p.epoch = meta.count("trim.epoch");
  p.batch = meta.count("trim.batch");
  p.step = meta.count("trim.step");
  p.loss_sum = meta.real("trim.loss_sum");
  p.correct = meta.count("trim.correct");
  p.seen = meta.count("trim.seen");
  p.seconds = meta.real("trim.seconds");
  ck.rng_seed = meta.unsigned_integer("trim.rng.seed");
  ck.rng_offset = meta.unsigned_integer("trim.rng.offset");
  ck.manifest = meta.text("trim.manifest");
  ck.method_name = meta.text("trim.method.name");
  ck.method = nlohmann::json::parse(meta.text("trim.method"), nullptr, false);
  if (ck.method.is_discarded()) throw Error(path + ": metadata 'trim.method' is not valid JSON");
  return ck;
}

void apply_checkpoint(const Checkpoint& ck, Module& model, SgdBase& optimizer, TrainingMethod& method,
                      Generator& generator) {
  if (ck.method_name != method.name())
    throw Error(ck.path + ": written by a '" + ck.method_name + "' run, this run is '" + method.name() + "'");
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
