// libFuzzer target: a checkpoint's metadata (the "__metadata__" object of its safetensors header,
// given here as a JSON object of strings) through parse_checkpoint_metadata and check_progress,
// the code that reads every "trim.*" key a hostile or damaged checkpoint could hold. Anything but a
// trim::Error is a bug; so is metadata that is accepted but does not survive being written again.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "apps/runner/run_state.h"
#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return 0;
  std::map<std::string, std::string> meta;
  for (const auto& [k, v] : j.items()) {
    if (!v.is_string()) return 0;
    meta[k] = v.get<std::string>();
  }
  try {
    trim::CheckpointMeta ck = trim::parse_checkpoint_metadata("fuzz.safetensors", meta);
    // What it writes back, it reads back the same.
    trim::CheckpointMeta again = trim::parse_checkpoint_metadata("again", trim::checkpoint_metadata(ck));
    const trim::TrainProgress &p = ck.progress, &q = again.progress;
    if (p.round != q.round || p.epoch != q.epoch || p.batch != q.batch || p.step != q.step ||
        p.metrics.seen != q.metrics.seen || p.metrics.loss_sum != q.metrics.loss_sum || p.pending.loss != q.pending.loss ||
        p.pending.seen != q.pending.seen || ck.data.examples != again.data.examples ||
        ck.data.fingerprint != again.data.fingerprint || ck.round_epochs != again.round_epochs)
      __builtin_trap();
    trim::ResumeBounds b;
    b.method_name = ck.method_name;
    b.rounds = ck.round_epochs.empty() ? 1 : int64_t(ck.round_epochs.size());
    b.epochs = ck.round_epochs.empty() ? std::vector<int64_t>{2} : ck.round_epochs;
    b.batches_per_epoch = 20;
    b.examples_per_epoch = 2000;
    trim::check_progress("fuzz.safetensors", ck, b);
    trim::describe_data_change(ck.data, {"fashion_mnist", "/data", 2000, "0123456789abcdef"});
  } catch (const trim::Error&) {
  }
  return 0;
}
