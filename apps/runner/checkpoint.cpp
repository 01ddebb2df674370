#include "apps/runner/checkpoint.h"

#include <cerrno>
#include <cmath>
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
                     const std::string& manifest, const DataParallelShape& shape) {
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
      {"trim.loss_sum", str(p.metrics.loss_sum)},
      {"trim.correct", std::to_string(p.metrics.correct)},
      {"trim.seen", std::to_string(p.metrics.seen)},
      {"trim.seconds", str(p.seconds)},
      {"trim.rng.seed", std::to_string(generator.seed())},
      {"trim.rng.offset", std::to_string(generator.offset())},
      {"trim.manifest", manifest},
      {"trim.method.name", method.name()},
      {"trim.method", method.state_json().dump()},
      {"trim.world_size", std::to_string(shape.world_size)},
      {"trim.global_batch", std::to_string(shape.global_batch)},
  };
  save_safetensors(path, tensors, meta);
}

Checkpoint read_checkpoint(const std::string& path) {
  SafetensorsFile file = load_safetensors(path);  // a regular file, its layout and checksum
  if (!file.has_checksum)
    throw Error(path + ": the checkpoint has no data checksum (metadata '" + kSafetensorsChecksumKey +
                "'); it was not written by this trim, or its header was damaged");
  Meta meta{file.metadata, path};
  if (meta.text("trim.format") != "1")
    throw Error(path + ": checkpoint format \"" + meta.text("trim.format").substr(0, 40) +
                "\" is not supported (expected \"1\")");
  Checkpoint ck;
  ck.path = path;
  for (NamedTensor& t : file.tensors) {
    if (t.name.rfind(kPrefixModel, 0) == 0) ck.model.emplace_back(t.name.substr(kPrefixModel.size()), t.tensor);
    else if (t.name.rfind(kPrefixOptim, 0) == 0) ck.optim[t.name.substr(kPrefixOptim.size())] = t.tensor;
    else if (t.name.rfind(kPrefixMethod, 0) == 0) ck.method_tensors[t.name.substr(kPrefixMethod.size())] = t.tensor;
    else throw Error(path + ": unexpected tensor '" + t.name + "' (expected names starting with model., optim. or method.)");
  }
  TrainProgress& p = ck.progress;
  const int64_t kMax = INT64_MAX;
  p.round = meta.integer_in("trim.round", 0, kMax, "rounds");
  p.epoch = meta.integer_in("trim.epoch", 0, kMax, "epochs");
  p.batch = meta.integer_in("trim.batch", 0, kMax, "batches");
  p.step = meta.integer_in("trim.step", 0, kMax, "steps");
  p.metrics.seen = meta.integer_in("trim.seen", 0, kMax, "examples");
  p.metrics.correct = meta.integer_in("trim.correct", 0, p.metrics.seen, "at most the examples seen, trim.seen");
  p.metrics.loss_sum = meta.real("trim.loss_sum");
  p.seconds = meta.real("trim.seconds");
  ck.rng_seed = meta.unsigned_integer("trim.rng.seed");
  ck.rng_offset = meta.unsigned_integer("trim.rng.offset");
  if (file.metadata.count("trim.world_size")) ck.shape.world_size = meta.integer_in("trim.world_size", 1, kMax, "ranks");
  if (file.metadata.count("trim.global_batch"))
    ck.shape.global_batch = meta.integer_in("trim.global_batch", 0, kMax, "examples per step");
  ck.manifest = meta.text("trim.manifest");
  ck.method_name = meta.text("trim.method.name");
  ck.method = nlohmann::json::parse(meta.text("trim.method"), nullptr, false);
  if (ck.method.is_discarded()) throw Error(path + ": metadata 'trim.method' is not valid JSON");
  return ck;
}

void check_progress(const Checkpoint& ck, const ResumeBounds& b) {
  if (ck.method_name != b.method_name)
    throw Error(ck.path + ": written by a '" + ck.method_name + "' run, this run is '" + b.method_name + "'");
  const TrainProgress& p = ck.progress;
  auto fail = [&](const char* key, int64_t v, int64_t lo, int64_t hi, const std::string& why) {
    throw Error(cat(ck.path, ": metadata '", key, "' is ", v, "; expected ", lo, "..", hi, " (", why, ")"));
  };
  if (p.round > b.rounds) fail("trim.round", p.round, 0, b.rounds, cat("the run has ", b.rounds, " round(s)"));
  const bool finished = p.round == b.rounds;
  const int64_t epochs = finished ? 0 : b.epochs.at(size_t(p.round));
  if (finished && p.epoch != 0) fail("trim.epoch", p.epoch, 0, 0, "a finished run is at epoch 0 of no round");
  if (!finished && p.epoch >= epochs)
    fail("trim.epoch", p.epoch, 0, epochs - 1, cat("round ", p.round + 1, " trains ", epochs, " epochs"));
  if (finished && p.batch != 0) fail("trim.batch", p.batch, 0, 0, "a finished run is at batch 0");
  if (!finished && p.batch >= b.batches_per_epoch)
    fail("trim.batch", p.batch, 0, b.batches_per_epoch - 1, cat(b.batches_per_epoch, " batches per epoch"));
  if (p.metrics.seen > b.examples_per_epoch)
    fail("trim.seen", p.metrics.seen, 0, b.examples_per_epoch, cat(b.examples_per_epoch, " training examples per epoch"));
  // ++step must not overflow over the steps still to come.
  int64_t left = 0;
  for (int64_t r = p.round; r < b.rounds; ++r) {
    int64_t steps = 0;
    if (__builtin_mul_overflow(b.epochs.at(size_t(r)), b.batches_per_epoch, &steps) ||
        __builtin_add_overflow(left, steps, &left))
      left = INT64_MAX;
  }
  if (p.step > INT64_MAX - left)
    fail("trim.step", p.step, 0, INT64_MAX - left, "steps so far, leaving room for the steps still to come");
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
