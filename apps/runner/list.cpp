#include "apps/runner/list.h"

#include <algorithm>

#include "core/error.h"
#include "data/datasets.h"
#include "models/models.h"
#include "pruning/registry.h"

namespace trim {
namespace {

std::string shape_text(const Shape& s) {
  std::string t;
  for (int64_t d : s.vec()) t += (t.empty() ? "" : "x") + std::to_string(d);
  return t;
}

// Left-aligned columns: every column but the last padded to its widest cell.
std::string table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) width.resize(std::max(width.size(), i + 1)), width[i] = std::max(width[i], r[i].size());
  std::string out;
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i)
      out += i + 1 < r.size() ? r[i] + std::string(width[i] - r[i].size() + 2, ' ') : r[i];
    out += '\n';
  }
  return out;
}

}  // namespace

std::string registry_listing(const std::string& what) {
  std::vector<std::vector<std::string>> rows;
  if (what == "models") {
    for (const auto& [name, e] : model_registry().entries()) rows.push_back({name, shape_text(e.input), e.about});
  } else if (what == "datasets") {
    for (const auto& [name, e] : dataset_registry().entries()) rows.push_back({name, e.about});
  } else if (what == "methods") {
    for (const auto& [name, e] : method_registry().entries()) rows.push_back({name, e.app, e.about});
  } else {
    throw Error(cat("--list: expected models, datasets or methods, found \"", what, "\""));
  }
  return table(rows);
}

}  // namespace trim
