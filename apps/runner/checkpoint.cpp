#include "apps/runner/checkpoint.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>

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
    errno = 0;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || *end || errno == ERANGE)
      throw Error(path + ": metadata '" + key + "' should be a 64-bit integer, found \"" + s.substr(0, 40) + "\"");
    return v;
  }
  uint64_t unsigned_integer(const std::string& key) const {
    const std::string& s = text(key);
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(s.c_str(), &end, 10);
    if (s.empty() || *end || s[0] == '-' || errno == ERANGE)
      throw Error(path + ": metadata '" + key + "' should be a non-negative 64-bit integer, found \"" +
                  s.substr(0, 40) + "\"");
    return v;
  }
  // An integer in [lo, hi]; `why` says where the bound comes from.
  int64_t integer_in(const std::string& key, int64_t lo, int64_t hi, const std::string& why) const {
    int64_t v = integer(key);
    if (v < lo || v > hi)
      throw Error(cat(path, ": metadata '", key, "' is ", v, "; expected ", lo, "..", hi, " (", why, ")"));
    return v;
  }
  double real(const std::string& key) const {
    const std::string& s = text(key);
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end || !std::isfinite(v) || v < 0)
      throw Error(path + ": metadata '" + key + "' should be a finite number >= 0, found \"" + s.substr(0, 40) + "\"");
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

CheckpointData read_checkpoint(const std::string& path, const Module& model, const SgdBase& optimizer,
                               const ResumeBounds* bounds) {
  SafetensorsFile file = load_safetensors(path);  // a regular file, its layout and checksum
  if (!file.has_checksum)
    throw Error(path + ": the checkpoint has no data checksum (metadata '" + kSafetensorsChecksumKey +
                "'); it was not written by this trim, or its header was damaged");
  Meta meta{file.metadata, path};
  if (meta.text("trim.format") != "1")
    throw Error(path + ": checkpoint format \"" + meta.text("trim.format").substr(0, 40) +
                "\" is not supported (expected \"1\")");

  CheckpointData out;
  std::map<std::string, Tensor> model_given, optim_given;
  for (NamedTensor& t : file.tensors) {
    if (t.name.rfind(kPrefixModel, 0) == 0) model_given[t.name.substr(kPrefixModel.size())] = t.tensor;
    else if (t.name.rfind(kPrefixOptim, 0) == 0) optim_given[t.name.substr(kPrefixOptim.size())] = t.tensor;
    else throw Error(path + ": unexpected tensor '" + t.name + "' (expected names starting with model. or optim.)");
  }
  // Every tensor the run has, with its shape and dtype, and nothing else.
  auto match = [&](const char* prefix, const char* owner, std::map<std::string, Tensor>& given,
                   const std::vector<std::pair<std::string, Tensor>>& wanted,
                   std::vector<std::pair<std::string, Tensor>>& into) {
    for (const auto& [name, t] : wanted) {
      auto it = given.find(name);
      if (it == given.end()) throw Error(cat(path, ": missing ", owner, " tensor '", prefix, name, "'"));
      if (it->second.shape() != t.shape() || it->second.dtype() != t.dtype())
        throw Error(cat(path, ": ", owner, " tensor '", prefix, name, "' has shape ", it->second.shape().str(), " ",
                        dtype_name(it->second.dtype()), ", the run expects ", t.shape().str(), " ",
                        dtype_name(t.dtype())));
      into.emplace_back(name, it->second);
      given.erase(it);
    }
    if (!given.empty())
      throw Error(cat(path, ": the checkpoint holds ", owner, " tensor '", prefix, given.begin()->first,
                      "' that the run does not have (was it written with a different model or optimizer?)"));
  };
  match(kPrefixModel.c_str(), "model", model_given, model.state_dict(), out.model_state);
  match(kPrefixOptim.c_str(), "optimizer", optim_given, optimizer.state(), out.optim_state);

  TrainProgress& p = out.progress;
  const int64_t kMax = INT64_MAX;
  if (bounds) {
    p.epoch = meta.integer_in("trim.epoch", 0, bounds->epochs, cat("the manifest trains ", bounds->epochs, " epochs"));
    p.batch = meta.integer_in("trim.batch", 0, p.epoch == bounds->epochs ? 0 : bounds->batches_per_epoch,
                              p.epoch == bounds->epochs ? "a finished run is at batch 0"
                                                        : cat(bounds->batches_per_epoch, " batches per epoch"));
    // ++step must not overflow over the batches still to train.
    const int64_t left_epochs = bounds->epochs - p.epoch;
    int64_t left = 0;
    if (__builtin_mul_overflow(left_epochs, bounds->batches_per_epoch, &left)) left = kMax;
    p.step = meta.integer_in("trim.step", 0, kMax - left, "steps so far, leaving room for the steps still to come");
    p.seen = meta.integer_in("trim.seen", 0, bounds->examples_per_epoch,
                             cat(bounds->examples_per_epoch, " training examples per epoch"));
  } else {
    p.epoch = meta.integer_in("trim.epoch", 0, kMax, "epochs");
    p.batch = meta.integer_in("trim.batch", 0, kMax, "batches");
    p.step = meta.integer_in("trim.step", 0, kMax, "steps");
    p.seen = meta.integer_in("trim.seen", 0, kMax, "examples");
  }
  p.correct = meta.integer_in("trim.correct", 0, p.seen, "at most the examples seen, trim.seen");
  p.loss_sum = meta.real("trim.loss_sum");
  p.seconds = meta.real("trim.seconds");
  out.rng_seed = meta.unsigned_integer("trim.rng.seed");
  out.rng_offset = meta.unsigned_integer("trim.rng.offset");
  out.manifest = meta.text("trim.manifest");
  return out;
}

void apply_checkpoint(const CheckpointData& data, Module& model, SgdBase& optimizer, Generator& generator) {
  model.load_state_dict(data.model_state, "checkpoint");
  std::map<std::string, const Tensor*> given;
  for (const auto& [name, t] : data.optim_state) given[name] = &t;
  for (auto& [name, t] : optimizer.state()) t.copy_(*given.at(name));
  generator.set_state(data.rng_seed, data.rng_offset);
}

TrainProgress load_checkpoint(const std::string& path, Module& model, SgdBase& optimizer, Generator& generator,
                              std::string* manifest, const ResumeBounds* bounds) {
  CheckpointData data = read_checkpoint(path, model, optimizer, bounds);
  apply_checkpoint(data, model, optimizer, generator);
  if (manifest) *manifest = data.manifest;
  return data.progress;
}

}  // namespace trim
