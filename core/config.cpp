#include "core/config.h"

#include <cmath>
#include <limits>

#include "core/error.h"

namespace trim {

std::string describe_json(const nlohmann::json& v) {
  std::string s = v.dump();
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  switch (v.type()) {
    case nlohmann::json::value_t::null: return "null";
    case nlohmann::json::value_t::boolean: return "a boolean (" + s + ")";
    case nlohmann::json::value_t::string: return "a string (" + s + ")";
    case nlohmann::json::value_t::array: return "an array (" + s + ")";
    case nlohmann::json::value_t::object: return "an object";
    default: return "a number (" + s + ")";
  }
}

Config::Config(const nlohmann::json& node, std::string source, std::string path)
    : node_(node),
      source_(std::move(source)),
      path_(std::move(path)),
      read_(std::make_shared<std::set<std::string>>()),
      children_(std::make_shared<std::vector<Config>>()) {
  if (!node_.is_object())
    throw Error(cat(source_, ": ", path_.empty() ? "/" : path_, ": expected an object, found ", describe_json(node_)));
}

void Config::fail(const std::string& key, const std::string& what) const {
  throw Error(cat(source_, ": ", path_, "/", key, ": ", what));
}

bool Config::has(const std::string& key) const { return node_.contains(key); }

const nlohmann::json* Config::find(const std::string& key) const {
  read_->insert(key);
  auto it = node_.find(key);
  return it == node_.end() ? nullptr : &*it;
}

namespace {

template <class T>
T convert(const Config& c, const std::string& key, const nlohmann::json& v);

template <>
bool convert<bool>(const Config& c, const std::string& key, const nlohmann::json& v) {
  if (!v.is_boolean()) c.fail(key, "expected true or false, found " + describe_json(v));
  return v.get<bool>();
}

template <>
double convert<double>(const Config& c, const std::string& key, const nlohmann::json& v) {
  if (!v.is_number()) c.fail(key, "expected a number, found " + describe_json(v));
  return v.get<double>();
}

template <>
float convert<float>(const Config& c, const std::string& key, const nlohmann::json& v) {
  return float(convert<double>(c, key, v));
}

template <>
int64_t convert<int64_t>(const Config& c, const std::string& key, const nlohmann::json& v) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) {  // accept 3.0, refuse 3.5
    double d = v.get<double>();
    if (std::floor(d) == d && std::fabs(d) < 9e15) return int64_t(d);
  }
  c.fail(key, "expected an integer, found " + describe_json(v));
}

template <>
int convert<int>(const Config& c, const std::string& key, const nlohmann::json& v) {
  int64_t x = convert<int64_t>(c, key, v);
  if (x < std::numeric_limits<int>::min() || x > std::numeric_limits<int>::max())
    c.fail(key, "integer out of range: " + std::to_string(x));
  return int(x);
}

template <>
uint64_t convert<uint64_t>(const Config& c, const std::string& key, const nlohmann::json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  int64_t x = convert<int64_t>(c, key, v);
  if (x < 0) c.fail(key, "expected a non-negative integer, found " + describe_json(v));
  return uint64_t(x);
}

template <>
std::string convert<std::string>(const Config& c, const std::string& key, const nlohmann::json& v) {
  if (!v.is_string()) c.fail(key, "expected a string, found " + describe_json(v));
  return v.get<std::string>();
}

template <>
std::vector<int64_t> convert<std::vector<int64_t>>(const Config& c, const std::string& key, const nlohmann::json& v) {
  if (!v.is_array()) c.fail(key, "expected an array of integers, found " + describe_json(v));
  std::vector<int64_t> out;
  for (size_t i = 0; i < v.size(); ++i) out.push_back(convert<int64_t>(c, key + "/" + std::to_string(i), v[i]));
  return out;
}

template <>
std::vector<float> convert<std::vector<float>>(const Config& c, const std::string& key, const nlohmann::json& v) {
  if (!v.is_array()) c.fail(key, "expected an array of numbers, found " + describe_json(v));
  std::vector<float> out;
  for (size_t i = 0; i < v.size(); ++i) out.push_back(convert<float>(c, key + "/" + std::to_string(i), v[i]));
  return out;
}

}  // namespace

template <class T>
T Config::get(const std::string& key) const {
  const nlohmann::json* v = find(key);
  if (!v) fail(key, "required key is missing");
  return convert<T>(*this, key, *v);
}

template <class T>
T Config::get(const std::string& key, const T& fallback) const {
  const nlohmann::json* v = find(key);
  return v ? convert<T>(*this, key, *v) : fallback;
}

#define TRIM_CONFIG_TYPE(T)                                      \
  template T Config::get<T>(const std::string&) const;           \
  template T Config::get<T>(const std::string&, const T&) const;
TRIM_CONFIG_TYPE(bool)
TRIM_CONFIG_TYPE(int)
TRIM_CONFIG_TYPE(int64_t)
TRIM_CONFIG_TYPE(uint64_t)
TRIM_CONFIG_TYPE(float)
TRIM_CONFIG_TYPE(double)
TRIM_CONFIG_TYPE(std::string)
TRIM_CONFIG_TYPE(std::vector<int64_t>)
TRIM_CONFIG_TYPE(std::vector<float>)
#undef TRIM_CONFIG_TYPE

std::string Config::choice(const std::string& key, const std::vector<std::string>& choices,
                           const std::string& fallback) const {
  std::string v = get<std::string>(key, fallback);
  for (const std::string& c : choices)
    if (v == c) return v;
  std::string list;
  for (const std::string& c : choices) list += (list.empty() ? "\"" : ", \"") + c + "\"";
  fail(key, "expected one of " + list + ", found \"" + v + "\"");
}

Config Config::child(const std::string& key, bool optional) const {
  static const nlohmann::json kEmpty = nlohmann::json::object();
  const nlohmann::json* v = find(key);
  if (!v) {
    if (!optional) fail(key, "required object is missing");
    v = &kEmpty;
  }
  if (!v->is_object()) fail(key, "expected an object, found " + describe_json(*v));
  children_->push_back(Config(*v, source_, path_ + "/" + key));
  return children_->back();
}

void Config::finish() const {
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (read_->count(it.key())) continue;
    std::string known;
    for (const std::string& k : *read_) known += (known.empty() ? "" : ", ") + k;
    fail(it.key(), "unknown key" + (known.empty() ? std::string() : " (known keys here: " + known + ")"));
  }
  for (const Config& c : *children_) c.finish();
}

}  // namespace trim
