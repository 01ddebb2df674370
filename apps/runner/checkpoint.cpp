#include "apps/runner/checkpoint.h"

#include <cstdlib>
#include <map>

#include "core/io/safetensors.h"

namespace trim {
namespace {

const std::string kPrefixModel = "model.", kPrefixOptim = "optim.";

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

}  // namespace

void save_checkpoint(const std::string& path, const Module& model, const SgdBase& optimizer,
                     const Generator& generator, const TrainProgress& p, const std::string& manifest) {
  std::vector<NamedTensor> tensors;
  for (const auto& [name, t] : model.state_dict()) tensors.push_back({kPrefixModel + name, t});
  for (const auto& [name, t] : optimizer.state()) tensors.push_back({kPrefixOptim + name, t});
  std::map<std::string, std::string> meta{
      {"trim.format", "1"},
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
  };
  save_safetensors(path, tensors, meta);
}

TrainProgress load_checkpoint(const std::string& path, Module& model, SgdBase& optimizer, Generator& generator,
                              std::string* manifest) {
  SafetensorsFile file = load_safetensors(path);
  Meta meta{file.metadata, path};
  if (meta.text("trim.format") != "1")
    throw Error(path + ": checkpoint format \"" + meta.text("trim.format") + "\" is not supported (expected \"1\")");

  std::vector<std::pair<std::string, Tensor>> model_state;
  std::map<std::string, Tensor> optim_state;
  for (const NamedTensor& t : file.tensors) {
    if (t.name.rfind(kPrefixModel, 0) == 0) model_state.emplace_back(t.name.substr(kPrefixModel.size()), t.tensor);
    else if (t.name.rfind(kPrefixOptim, 0) == 0) optim_state[t.name.substr(kPrefixOptim.size())] = t.tensor;
    else throw Error(path + ": unexpected tensor '" + t.name + "' (expected names starting with model. or optim.)");
  }
  model.load_state_dict(model_state, path);
  size_t used = 0;
  for (auto& [name, t] : optimizer.state()) {
    auto it = optim_state.find(name);
    if (it == optim_state.end()) throw Error(path + ": missing optimizer tensor 'optim." + name + "'");
    if (it->second.shape() != t.shape() || it->second.dtype() != t.dtype())
      throw Error(path + ": optimizer tensor 'optim." + name + "' has shape " + it->second.shape().str() +
                  ", expected " + t.shape().str());
    t.copy_(it->second);
    ++used;
  }
  if (used != optim_state.size())
    throw Error(path + ": the checkpoint holds optimizer state the run's optimizer does not have (was it written "
                       "with different optimizer settings?)");

  TrainProgress p;
  p.epoch = meta.integer("trim.epoch");
  p.batch = meta.integer("trim.batch");
  p.step = meta.integer("trim.step");
  p.loss_sum = meta.real("trim.loss_sum");
  p.correct = meta.integer("trim.correct");
  p.seen = meta.integer("trim.seen");
  p.seconds = meta.real("trim.seconds");
  generator.set_state(meta.unsigned_integer("trim.rng.seed"), meta.unsigned_integer("trim.rng.offset"));
  if (manifest) *manifest = meta.text("trim.manifest");
  return p;
}

}  // namespace trim
