#include "pruning/prunable.h"

namespace trim {

int64_t PrunableSet::numel() const {
  int64_t n = 0;
  for (const Tensor& t : tensors) n += t.numel();
  return n;
}

bool glob_match(const std::string& glob, const std::string& name) {
  // ok[j]: glob[0, i) matches name[0, j). One row per glob position; names are short.
  const size_t m = name.size();
  std::vector<char> ok(m + 1, 0), next(m + 1, 0);
  ok[0] = 1;
  size_t i = 0;
  while (i < glob.size()) {
    const bool star2 = glob[i] == '*' && i + 1 < glob.size() && glob[i + 1] == '*';
    const char c = glob[i];
    std::fill(next.begin(), next.end(), 0);
    if (star2 || c == '*') {
      // Extends any match by a run of characters (without '.' for a single star).
      for (size_t j = 0; j <= m; ++j) {
        if (ok[j]) next[j] = 1;
        else if (j > 0 && next[j - 1] && (star2 || name[j - 1] != '.')) next[j] = 1;
      }
    } else {
      for (size_t j = 1; j <= m; ++j)
        next[j] = ok[j - 1] && (c == '?' ? name[j - 1] != '.' : name[j - 1] == c);
    }
    ok.swap(next);
    i += star2 ? 2 : 1;
  }
  return ok[m] != 0;
}

namespace {

bool may_prune(const NamedParameter& p) { return p.info.kind == ParamKind::weight && p.tensor.ndim() > 1; }

const char* kind_name(ParamKind k) {
  switch (k) {
    case ParamKind::weight: return "weight";
    case ParamKind::bias: return "bias";
    case ParamKind::norm: return "normalization parameter";
  }
  return "?";
}

std::string where_prefix(const NamePattern& p) { return p.where.empty() ? std::string() : p.where + ": "; }

}  // namespace

PrunableSet prunable_set(const std::vector<NamedParameter>& params, const PrunableFilter& filter) {
  std::vector<char> chosen(params.size(), 0);
  if (filter.include.empty()) {
    for (size_t i = 0; i < params.size(); ++i) chosen[i] = params[i].info.prunable;
  } else {
    for (const NamePattern& pat : filter.include) {
      bool any = false;
      for (size_t i = 0; i < params.size(); ++i) {
        if (!glob_match(pat.glob, params[i].name)) continue;
        if (!may_prune(params[i]))
          throw Error(cat(where_prefix(pat), "include pattern '", pat.glob, "' matches '", params[i].name,
                          "', a ", kind_name(params[i].info.kind), " of shape ", params[i].tensor.shape().str(),
                          "; only conv and linear weights (more than one dimension) can be pruned"));
        chosen[i] = 1;
        any = true;
      }
      if (!any) throw Error(cat(where_prefix(pat), "include pattern '", pat.glob, "' matches no parameter"));
    }
  }
  std::vector<char> base = chosen;
  for (const NamePattern& pat : filter.exclude) {
    bool any = false;
    for (size_t i = 0; i < params.size(); ++i) {
      if (base[i] && glob_match(pat.glob, params[i].name)) chosen[i] = 0, any = true;
    }
    if (!any) throw Error(cat(where_prefix(pat), "exclude pattern '", pat.glob, "' matches no prunable parameter"));
  }
  PrunableSet set;
  for (size_t i = 0; i < params.size(); ++i) {
    if (!chosen[i]) continue;
    set.names.push_back(params[i].name);
    set.tensors.push_back(params[i].tensor);
  }
  if (set.tensors.empty()) throw Error("the prunable set is empty: no conv or linear weight is left to prune");
  return set;
}

}  // namespace trim
