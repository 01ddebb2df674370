#include "test/support/runs.h"

#include <fstream>

#include "core/io/safetensors.h"
#include "core/config.h"
#include "pruning/registry.h"
#include "test/support/stderr_capture.h"

namespace trim::test {

nlohmann::json small_run(const std::string& output, const std::string& device) {
  return {{"name", "test"},
          {"device", device},
          {"output", output},
          {"seed", 3},
          {"threads", 2},
          {"data", {{"batch_size", 100}, {"eval_batch_size", 250}, {"train_limit", 2000}, {"test_limit", 500}}},
          {"model", {{"name", "cnn_small"}, {"widths", {8, 16}}, {"hidden", 32}, {"dropout", 0.2}}},
          {"optimizer", {{"lr", 0.05}, {"momentum", 0.9}, {"nesterov", true}, {"weight_decay", 5e-4}}},
          {"schedule", {{"kind", "cosine"}, {"per_iteration", true}}},
          {"train", {{"epochs", 2}, {"log_interval_seconds", 1000}}}};
}

Manifest as_manifest(const nlohmann::json& j) { return Manifest{j, "test.json", "test.json"}; }

nlohmann::json mlp_run(const std::string& output, const nlohmann::json& pruning) {
  nlohmann::json j = small_run(output);
  j["model"] = {{"name", "mlp"}, {"hidden", {32, 16}}};
  j["data"]["train_limit"] = 600;
  j["data"]["test_limit"] = 300;
  j["train"]["epochs"] = 2;
  j["pruning"] = pruning;
  return j;
}

nlohmann::json run_method(const nlohmann::json& j, const TrainOptions& options) {
  Manifest m = as_manifest(j);
  Config pc(m.json["pruning"], m.source, "/pruning");
  auto method = make_pruning_method(pc, method_registry().names());
  pc.finish();
  return train(m, *method, options);
}

std::vector<nlohmann::json> metrics_without_timing(const std::string& run_dir) {
  std::ifstream in(run_dir + "/metrics.jsonl");
  std::vector<nlohmann::json> out;
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line);
    for (const char* timing : {"seconds", "elapsed_seconds", "images_per_second", "peak_memory_bytes"}) j.erase(timing);
    out.push_back(j);
  }
  return out;
}

bool same_checkpoint_weights(const std::string& run_a, const std::string& run_b) {
  return same_tensors(run_a + "/checkpoint.safetensors", run_b + "/checkpoint.safetensors");
}

std::string train_eager_and_graphed(const std::string& dir, const std::string& device) {
  nlohmann::json eager = small_run(dir + "/eager", device);
  eager["data"]["train_limit"] = 650;
  eager["data"]["test_limit"] = 250;
  nlohmann::json graphed = eager;
  graphed["output"] = dir + "/graphed";
  graphed["cuda"] = {{"graph", true}};
  train_classifier(as_manifest(eager));
  StderrCapture err;
  train_classifier(as_manifest(graphed));
  return err.text();
}

bool same_tensors(const std::string& file_a, const std::string& file_b) {
  SafetensorsFile a = load_safetensors(file_a);
  SafetensorsFile b = load_safetensors(file_b);
  if (a.tensors.size() != b.tensors.size()) return false;
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    if (a.tensors[i].name != b.tensors[i].name) return false;
    const Tensor &ta = a.tensors[i].tensor, &tb = b.tensors[i].tensor;
    if (ta.dtype() == DType::f32 && ta.to_vector<float>() != tb.to_vector<float>()) return false;
  }
  return true;
}

}  // namespace trim::test
