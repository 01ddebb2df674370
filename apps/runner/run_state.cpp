#include "apps/runner/run_state.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/error.h"

namespace trim {
namespace {

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
  nlohmann::json json(const std::string& key) const {
    nlohmann::json j = nlohmann::json::parse(text(key), nullptr, false);
    if (j.is_discarded()) throw Error(path + ": metadata '" + key + "' is not valid JSON");
    return j;
  }
  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw Error(cat(path, ": metadata '", key, "': ", what));
  }
};

// A JSON array of integers >= 0 (of at most `limit` entries).
std::vector<int64_t> counts(const Meta& meta, const std::string& key, const nlohmann::json& j, size_t limit) {
  if (!j.is_array() || j.size() > limit) meta.fail(key, cat("expected an array of at most ", limit, " counts"));
  std::vector<int64_t> out;
  for (const nlohmann::json& v : j) {
    if (!v.is_number_integer() || (v.is_number_integer() && !v.is_number_unsigned() && v.get<int64_t>() < 0))
      meta.fail(key, "expected integers >= 0");
    if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)) meta.fail(key, "a count above 2^63 - 1");
    out.push_back(v.get<int64_t>());
  }
  return out;
}

PendingSums parse_pending(const Meta& meta) {
  const std::string key = "trim.pending";
  nlohmann::json j = meta.json(key);
  if (!j.is_object() || j.size() != 3 || !j.contains("loss") || !j.contains("correct") || !j.contains("seen"))
    meta.fail(key, "expected an object with the arrays \"loss\", \"correct\" and \"seen\" (one entry per rank)");
  constexpr size_t kMaxRanks = 1 << 20;
  PendingSums p;
  p.correct = counts(meta, key, j["correct"], kMaxRanks);
  p.seen = counts(meta, key, j["seen"], kMaxRanks);
  if (!j["loss"].is_array() || j["loss"].size() != p.seen.size() || p.correct.size() != p.seen.size() || p.seen.empty())
    meta.fail(key, "expected \"loss\", \"correct\" and \"seen\" of the same length, one entry per rank");
  for (size_t k = 0; k < p.seen.size(); ++k) {
    const nlohmann::json& v = j["loss"][k];
    // The device sum is an f32: a value it cannot hold was not written by trim.
    if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0 ||
        double(float(v.get<double>())) != v.get<double>())
      meta.fail(key, cat("rank ", k, ": the loss sum must be a finite 32-bit float >= 0"));
    p.loss.push_back(v.get<double>());
    if (p.correct[k] > p.seen[k]) meta.fail(key, cat("rank ", k, ": more examples correct than seen"));
  }
  return p;
}

DataIdentity parse_data(const Meta& meta) {
  const std::string key = "trim.data";
  nlohmann::json j = meta.json(key);
  if (!j.is_object() || j.size() != 4 || !j.contains("kind") || !j["kind"].is_string() || !j.contains("root") ||
      !j["root"].is_string() || !j.contains("fingerprint") || !j["fingerprint"].is_string() ||
      !j.contains("examples") || !j["examples"].is_number_unsigned() ||
      j["examples"].get<uint64_t>() > uint64_t(INT64_MAX) || j["kind"].get<std::string>().empty())
    meta.fail(key, "expected {\"kind\": name, \"root\": folder, \"examples\": count, \"fingerprint\": hex digits}");
  return {j["kind"], j["root"], j["examples"].get<int64_t>(), j["fingerprint"]};
}

}  // namespace

std::map<std::string, std::string> checkpoint_metadata(const CheckpointMeta& c) {
  const TrainProgress& p = c.progress;
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
      {"trim.rng.seed", std::to_string(c.rng_seed)},
      {"trim.rng.offset", std::to_string(c.rng_offset)},
      {"trim.manifest", c.manifest},
      {"trim.method.name", c.method_name},
      {"trim.method", c.method.dump()},
      {"trim.world_size", std::to_string(c.shape.world_size)},
      {"trim.global_batch", std::to_string(c.shape.global_batch)},
      {"trim.round_epochs", nlohmann::json(c.round_epochs).dump()},
  };
  if (!p.pending.empty())
    meta["trim.pending"] = nlohmann::json{{"loss", p.pending.loss}, {"correct", p.pending.correct},
                                          {"seen", p.pending.seen}}.dump();
  if (c.data.known())
    meta["trim.data"] = nlohmann::json{{"kind", c.data.kind}, {"root", c.data.root}, {"examples", c.data.examples},
                                       {"fingerprint", c.data.fingerprint}}.dump();
  return meta;
}

CheckpointMeta parse_checkpoint_metadata(const std::string& path, const std::map<std::string, std::string>& metadata) {
  Meta meta{metadata, path};
  if (meta.text("trim.format") != "1")
    throw Error(path + ": checkpoint format \"" + meta.text("trim.format").substr(0, 40) +
                "\" is not supported (expected \"1\")");
  CheckpointMeta ck;
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
  if (metadata.count("trim.pending")) p.pending = parse_pending(meta);
  ck.rng_seed = meta.unsigned_integer("trim.rng.seed");
  ck.rng_offset = meta.unsigned_integer("trim.rng.offset");
  if (metadata.count("trim.world_size")) ck.shape.world_size = meta.integer_in("trim.world_size", 1, kMax, "ranks");
  if (metadata.count("trim.global_batch"))
    ck.shape.global_batch = meta.integer_in("trim.global_batch", 0, kMax, "examples per step");
  if (!p.pending.empty() && int64_t(p.pending.seen.size()) != ck.shape.world_size)
    meta.fail("trim.pending", cat(p.pending.seen.size(), " ranks' sums, but trim.world_size is ", ck.shape.world_size));
  if (metadata.count("trim.data")) ck.data = parse_data(meta);
  if (metadata.count("trim.round_epochs")) {
    ck.round_epochs = counts(meta, "trim.round_epochs", meta.json("trim.round_epochs"), 1 << 20);
    for (int64_t e : ck.round_epochs)
      if (e < 1) meta.fail("trim.round_epochs", "every round trains at least one epoch");
  }
  ck.manifest = meta.text("trim.manifest");
  ck.method_name = meta.text("trim.method.name");
  ck.method = meta.json("trim.method");
  return ck;
}

void check_progress(const std::string& path, const CheckpointMeta& ck, const ResumeBounds& b) {
  if (ck.method_name != b.method_name)
    throw Error(path + ": written by a '" + ck.method_name + "' run, this run is '" + b.method_name + "'");
  const TrainProgress& p = ck.progress;
  auto fail = [&](const char* key, int64_t v, int64_t lo, int64_t hi, const std::string& why) {
    throw Error(cat(path, ": metadata '", key, "' is ", v, "; expected ", lo, "..", hi, " (", why, ")"));
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
  int64_t seen = p.metrics.seen;
  for (int64_t s : p.pending.seen)
    if (__builtin_add_overflow(seen, s, &seen)) seen = INT64_MAX;
  if (seen > b.examples_per_epoch)
    fail("trim.seen", seen, 0, b.examples_per_epoch, cat(b.examples_per_epoch, " training examples per epoch"));
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

std::string describe_data_change(const DataIdentity& was, const DataIdentity& now) {
  std::vector<std::string> changes;
  auto quoted = [](const std::string& s) { return "\"" + (s.size() > 200 ? s.substr(0, 200) + "..." : s) + "\""; };
  if (was.kind != now.kind) changes.push_back(cat("data.dataset ", quoted(was.kind), " -> ", quoted(now.kind)));
  if (was.root != now.root) changes.push_back(cat("data.root ", quoted(was.root), " -> ", quoted(now.root)));
  if (was.examples != now.examples)
    changes.push_back(cat("training examples ", was.examples, " -> ", now.examples));
  if (was.fingerprint != now.fingerprint)
    changes.push_back(cat("fingerprint ", was.fingerprint, " -> ", now.fingerprint));
  std::string out;
  for (size_t i = 0; i < changes.size(); ++i) out += (i ? ", " : "") + changes[i];
  return out;
}

}  // namespace trim
