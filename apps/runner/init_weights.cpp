#include "apps/runner/init_weights.h"

#include <fmt/format.h>

#include <map>

#include "apps/runner/checkpoint.h"
#include "core/error.h"
#include "core/io/safetensors.h"
#include "core/log.h"

namespace trim {
namespace {

const std::string kModelPrefix = "model.";  // trim's checkpoints (apps/runner/checkpoint.h)

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

std::string describe(const Tensor& t) { return t.shape().str() + " " + dtype_name(t.dtype()); }

// The file's weights by the model's names: a checkpoint's (or any file's) "model." prefix removed
// when the model's own names do not start with it; then the checkpoint's optimizer and method
// state is not weights and is left out.
std::vector<std::pair<std::string, Tensor>> weights_of(const SafetensorsFile& f, const Module& model) {
  bool model_prefixed = false, file_prefixed = false;
  for (const auto& [name, t] : model.state_dict()) model_prefixed = model_prefixed || starts_with(name, kModelPrefix);
  for (const NamedTensor& t : f.tensors) file_prefixed = file_prefixed || starts_with(t.name, kModelPrefix);
  const bool strip = file_prefixed && !model_prefixed;
  std::vector<std::pair<std::string, Tensor>> out;
  for (const NamedTensor& t : f.tensors) {
    if (!strip) out.emplace_back(t.name, t.tensor);
    else if (starts_with(t.name, kModelPrefix)) out.emplace_back(t.name.substr(kModelPrefix.size()), t.tensor);
    else if (!starts_with(t.name, "optim.") && !starts_with(t.name, "method.")) out.emplace_back(t.name, t.tensor);
  }
  return out;
}

// One warning listing `names` (nothing when empty).
void log_list(const std::string& source, const std::string& what, const std::vector<std::string>& names) {
  if (names.empty()) return;
  std::string all;
  for (const std::string& n : names) all += (all.empty() ? "" : "; ") + n;
  log_warn(fmt::format("{}: {} {} tensor(s): {}", source, what, names.size(), all));
}

}  // namespace

InitReport load_init_weights(Module& model, const std::string& path, bool strict, const std::string& where) {
  const std::string source = where + " (" + path + ")";
  SafetensorsFile f = [&] {
    try {
      return load_safetensors(path);  // names the file and what is wrong with it
    } catch (const Error& e) {
      throw Error(where + ": " + e.what());
    }
  }();
  std::vector<std::pair<std::string, Tensor>> given = weights_of(f, model);
  check_checkpoint_tensors(source, given);  // a NaN or an infinity is no trained weight
  std::map<std::string, const Tensor*> by_name;
  for (const auto& [name, t] : given) by_name[name] = &t;

  InitReport report;
  std::vector<std::pair<std::string, Tensor>> state;  // the whole state dict to copy in, in the model's order
  std::map<std::string, bool> known;
  for (const auto& [name, own] : model.state_dict()) {
    known[name] = true;
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      if (strict)
        throw Error(fmt::format("{}: missing tensor '{}' (the model's is {}; the file holds {} tensors; "
                                "\"init_strict\": false keeps the initialisation of the tensors a file lacks)",
                                source, name, describe(own), given.size()));
      report.missing.push_back(name);
      state.emplace_back(name, own.clone());
      continue;
    }
    const Tensor& src = *it->second;
    if (src.shape() != own.shape() || src.dtype() != own.dtype()) {
      if (strict)
        throw Error(fmt::format("{}: tensor '{}' is {} in the file, the model's is {} (\"init_strict\": false skips "
                                "tensors of another shape, e.g. a classifier for other classes)",
                                source, name, describe(src), describe(own)));
      report.skipped.push_back(fmt::format("{}: file {}, model {}", name, describe(src), describe(own)));
      state.emplace_back(name, own.clone());
      continue;
    }
    state.emplace_back(name, src);
    ++report.loaded;
  }
  for (const auto& [name, t] : given) {
    if (known.count(name)) continue;
    if (strict)
      throw Error(fmt::format("{}: unexpected tensor '{}' ({}), which the model does not have (is the file for "
                              "another model? \"init_strict\": false ignores it)",
                              source, name, describe(t)));
    report.ignored.push_back(name);
  }
  model.load_state_dict(state, source);  // every check has passed: copies the whole state dict
  log_list(source, "\"init_strict\": false: skipped (another shape)", report.skipped);
  log_list(source, "\"init_strict\": false: kept the initialisation of (not in the file)", report.missing);
  log_list(source, "\"init_strict\": false: ignored (not in the model)", report.ignored);
  log_info(fmt::format("{}: loaded {} of the model's {} tensors", source, report.loaded, state.size()));
  return report;
}

}  // namespace trim
