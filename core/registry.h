#pragma once
// Registry<Entry>: the one shape of every name -> factory table in trim (models, datasets, pruning
// methods). An entry holds its factory and its metadata (a one-line description, a default input
// shape, the app that runs it, ...); the registry adds the lookup with one error format and the
// list that `--list` prints. Each table is built once, in one function of the folder that owns its
// entries (models/registry.cpp, data/datasets.cpp, pruning/registry.cpp): adding a model, data set
// or method is adding one row there.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"

namespace trim {

template <class Entry>
class Registry {
 public:
  // `kind` names the entries in messages: "model", "dataset", "pruning method".
  Registry(std::string kind, std::initializer_list<std::pair<const std::string, Entry>> rows)
      : kind_(std::move(kind)), rows_(rows) {
    // An initializer list with a repeated name would silently keep the first row.
    if (rows_.size() != rows.size()) throw Error(cat("Registry of ", kind_, ": a name is listed twice"));
  }

  const std::string& kind() const { return kind_; }
  bool contains(const std::string& name) const { return rows_.count(name) != 0; }
  // Every name, sorted.
  std::vector<std::string> names() const {
    std::vector<std::string> n;
    for (const auto& [name, e] : rows_) n.push_back(name);
    return n;
  }
  // The names joined for messages: "a", "b", "c".
  std::string known() const {
    std::string s;
    for (const auto& [name, e] : rows_) s += (s.empty() ? "\"" : ", \"") + name + "\"";
    return s;
  }
  // The entry called `name`; an unknown name is an Error listing the known ones.
  const Entry& at(const std::string& name) const {
    auto it = rows_.find(name);
    if (it == rows_.end()) throw Error(cat("unknown ", kind_, " \"", name, "\"; known: ", known()));
    return it->second;
  }
  const std::map<std::string, Entry>& entries() const { return rows_; }

 private:
  std::string kind_;
  std::map<std::string, Entry> rows_;
};

}  // namespace trim
