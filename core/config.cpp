#include "core/config.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>

#include "core/error.h"

namespace trim {

std::string describe_json(const nlohmann::json& v) {
  // A huge or deep container is only named, never dumped whole.
  std::string s;
  if ((v.is_array() || v.is_object()) && (v.size() > 64 || json_depth(v) > 4))
    s = v.is_array() ? "[...]" : "{...}";
  else
    s = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
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

int json_depth(const nlohmann::json& v) {
  int deepest = 0;
  std::vector<std::pair<const nlohmann::json*, int>> todo{{&v, 0}};
  while (!todo.empty()) {
    auto [j, d] = todo.back();
    todo.pop_back();
    if (!j->is_array() && !j->is_object()) continue;
    deepest = std::max(deepest, d + 1);
    for (const nlohmann::json& child : *j) todo.push_back({&child, d + 1});
  }
  return deepest;
}

namespace {

// 1-based line and column of byte offset `pos` in `text`.
std::string line_col(const std::string& text, size_t pos) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < pos && i < text.size(); ++i) {
    if (text[i] == '\n') ++line, col = 1;
    else ++col;
  }
  return cat("line ", line, ", column ", col, " (byte ", pos, ")");
}

// The JSON library's account of a syntax error in trim's words, without its exception id:
// "syntax error while parsing object - unexpected '}'; expected string literal" reads
// "unexpected '}' in an object; expected string literal".
std::string syntax_problem(const std::string& what) {
  std::string s = what;
  const std::string marker = "syntax error ";
  size_t at = s.find(marker);
  if (at == std::string::npos) {  // another kind of parse error: keep its text after the position
    at = s.find(": ");
    return at == std::string::npos ? s : s.substr(at + 2);
  }
  s = s.substr(at + marker.size());
  std::string context;
  if (s.rfind("while parsing ", 0) == 0) {
    size_t dash = s.find(" - ");
    if (dash != std::string::npos) context = s.substr(14, dash - 14);
  }
  size_t dash = s.find("- ");
  if (dash != std::string::npos) s = s.substr(dash + 2);
  std::string expected;
  size_t exp = s.rfind("; expected ");
  if (exp != std::string::npos) expected = s.substr(exp), s = s.substr(0, exp);
  std::string read;
  size_t last = s.find("; last read: '");
  if (last != std::string::npos) {
    std::string token = s.substr(last + 14);
    if (!token.empty() && token.back() == '\'') token.pop_back();
    read = " (the text there reads " + quote(token, 40) + ")";
    s = s.substr(0, last);
  }
  if (!context.empty()) {
    const char* article = context[0] == 'o' || context[0] == 'a' ? "an " : "a ";
    s += " in " + std::string(article) + context;
  }
  return s + read + expected;
}

// A key as a path shows it: as it is when short and printable, else quote() (cut, escaped).
std::string shown_key(const std::string& key) {
  if (key.size() > 80) return quote(key, 80);
  for (unsigned char c : key)
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') return quote(key, 80);
  return key;
}

// The JSON path the parser is at, kept from its events: the key of each enclosing object and the
// index in each enclosing array.
struct PathTracker {
  struct Frame {
    bool array = false;
    std::set<std::string> keys;
    std::string key;
    int64_t index = -1;
  };
  std::vector<Frame> frames;
  void child() {
    if (!frames.empty() && frames.back().array) ++frames.back().index;
  }
  std::string path() const {
    std::string p;
    for (const Frame& f : frames) p += "/" + (f.array ? std::to_string(f.index) : shown_key(f.key));
    return p.empty() ? "/" : p;
  }
};

}  // namespace

nlohmann::json parse_config_json(const std::string& text, const std::string& source, int max_depth) {
  using E = nlohmann::json::parse_event_t;
  PathTracker at;
  auto on_event = [&](int depth, E event, nlohmann::json& parsed) {
    switch (event) {
      case E::object_start:
      case E::array_start:
        at.child();
        if (depth >= max_depth)
          throw Error(cat(source, ": ", at.path(), ": values nest deeper than ", max_depth,
                          " levels; expected a configuration value (a few levels deep)"));
        at.frames.push_back({});
        at.frames.back().array = event == E::array_start;
        break;
      case E::object_end:
      case E::array_end: at.frames.pop_back(); break;
      case E::key: {
        PathTracker::Frame& f = at.frames.back();
        f.key = parsed.get<std::string>();
        if (!f.keys.insert(f.key).second)
          throw Error(cat(source, ": ", at.path(), ": the key ", quote(f.key, 80),
                          " appears twice in one object; expected each key once (strict JSON)"));
        break;
      }
      case E::value: at.child(); break;
    }
    return true;
  };
  try {
    return nlohmann::json::parse(text, on_event);
  } catch (const nlohmann::json::parse_error& e) {
    size_t pos = e.byte ? e.byte - 1 : 0;
    size_t bad = invalid_utf8_at(text);
    if (bad != std::string::npos && bad <= pos)
      throw Error(cat(source, ": invalid UTF-8 at ", line_col(text, bad), "; expected a UTF-8 text"));
    if (text.find_first_not_of(" \t\r\n") == std::string::npos)
      throw Error(cat(source, ": the text is empty; expected a JSON value (a manifest is a JSON object)"));
    throw Error(cat(source, ": invalid JSON at ", line_col(text, pos), ": ", syntax_problem(e.what())));
  } catch (const nlohmann::json::exception& e) {
    // out_of_range 406: a number beyond the double range (1e309).
    std::string why = e.what();
    auto cut = why.find("] ");
    if (cut != std::string::npos) why = why.substr(cut + 2);
    throw Error(cat(source, ": ", at.path(), ": ", why, "; expected a finite number (|x| < 1.8e308)"));
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
  double d = v.get<double>();
  if (!std::isfinite(d)) c.fail(key, "expected a finite number, found " + describe_json(v));
  return d;
}

template <>
float convert<float>(const Config& c, const std::string& key, const nlohmann::json& v) {
  double d = convert<double>(c, key, v);
  if (!std::isfinite(d) || std::fabs(d) > double(FLT_MAX))
    c.fail(key, "expected a number that fits a 32-bit float (|x| <= 3.4e38), found " + describe_json(v));
  return float(d);
}

template <>
int64_t convert<int64_t>(const Config& c, const std::string& key, const nlohmann::json& v) {
  if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
    c.fail(key, "integer out of range (above 2^63 - 1): " + describe_json(v));
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

bool Config::Interval::contains(double x) const {
  return std::isfinite(x) && (lo_open ? x > lo : x >= lo) && (hi_open ? x < hi : x <= hi);
}

std::string Config::Interval::str() const {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%c%.7g, %.7g%c", lo_open ? '(' : '[', lo, hi, hi_open ? ')' : ']');
  return buf;
}

namespace {

void check_int(const Config& c, const std::string& key, int64_t x, int64_t lo, int64_t hi) {
  if (x < lo || x > hi) c.fail(key, cat("expected an integer in [", lo, ", ", hi, "], found ", x));
}

void check_real(const Config& c, const std::string& key, double x, const Config::Interval& r) {
  if (!r.contains(x)) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.7g", x);
    c.fail(key, cat("expected a number in ", r.str(), ", found ", buf));
  }
}

// `x` as the float the code uses, checked as that float: "found 0.9999999999 (1 as a 32-bit float)".
float check_float(const Config& c, const std::string& key, double x, const Config::Interval& r) {
  char given[40];
  std::snprintf(given, sizeof given, "%.10g", x);
  if (!std::isfinite(x) || std::fabs(x) > double(FLT_MAX))
    c.fail(key, cat("expected a number in ", r.str(), " that fits a 32-bit float (|x| <= 3.4e38), found ", given));
  const float f = float(x);
  if (!r.contains(double(f))) {
    char as_float[40];
    std::snprintf(as_float, sizeof as_float, "%.9g", double(f));
    if (double(f) == x) c.fail(key, cat("expected a number in ", r.str(), ", found ", as_float));
    c.fail(key, cat("expected a number in ", r.str(), " as a 32-bit float, found ", given, ", which rounds to ",
                    as_float));
  }
  return f;
}

}  // namespace

int64_t Config::int_in(const std::string& key, int64_t lo, int64_t hi) const {
  int64_t x = get<int64_t>(key);
  check_int(*this, key, x, lo, hi);
  return x;
}

int64_t Config::int_in(const std::string& key, int64_t fallback, int64_t lo, int64_t hi) const {
  int64_t x = get<int64_t>(key, fallback);
  check_int(*this, key, x, lo, hi);
  return x;
}

double Config::real_in(const std::string& key, const Interval& range) const {
  double x = get<double>(key);
  check_real(*this, key, x, range);
  return x;
}

double Config::real_in(const std::string& key, double fallback, const Interval& range) const {
  double x = get<double>(key, fallback);
  check_real(*this, key, x, range);
  return x;
}

float Config::float_in(const std::string& key, const Interval& range) const {
  return check_float(*this, key, get<double>(key), range);
}

float Config::float_in(const std::string& key, float fallback, const Interval& range) const {
  return check_float(*this, key, get<double>(key, double(fallback)), range);
}

std::vector<int64_t> Config::increasing_ints_in(const std::string& key, const std::vector<int64_t>& fallback,
                                                int64_t lo, int64_t hi, size_t max_size) const {
  std::vector<int64_t> v = ints_in(key, fallback, lo, hi, max_size);
  for (size_t i = 1; i < v.size(); ++i)
    if (v[i] <= v[i - 1])
      fail(key + "/" + std::to_string(i), cat("expected values in increasing order, found ", v[i], " after ", v[i - 1]));
  return v;
}

std::vector<int64_t> Config::ints_in(const std::string& key, const std::vector<int64_t>& fallback, int64_t lo,
                                     int64_t hi, size_t max_size) const {
  std::vector<int64_t> v = get<std::vector<int64_t>>(key, fallback);
  if (v.size() > max_size) fail(key, cat("expected at most ", max_size, " entries, found ", v.size()));
  for (size_t i = 0; i < v.size(); ++i) check_int(*this, key + "/" + std::to_string(i), v[i], lo, hi);
  return v;
}

std::vector<float> Config::reals_in(const std::string& key, const std::vector<float>& fallback, const Interval& range,
                                    size_t max_size) const {
  std::vector<float> v = get<std::vector<float>>(key, fallback);
  if (v.size() > max_size) fail(key, cat("expected at most ", max_size, " entries, found ", v.size()));
  for (size_t i = 0; i < v.size(); ++i) check_real(*this, key + "/" + std::to_string(i), v[i], range);
  return v;
}

namespace {

std::string checked_text(const Config& c, const std::string& key, std::string v, size_t max_bytes) {
  if (v.size() > max_bytes) c.fail(key, cat("expected at most ", max_bytes, " bytes, found ", quote(v)));
  for (unsigned char ch : v)
    if (ch < 0x20 || ch == 0x7f) c.fail(key, "expected no control characters (NUL, newline...), found " + quote(v));
  return v;
}

}  // namespace

std::string Config::text_in(const std::string& key, size_t max_bytes) const {
  return checked_text(*this, key, get<std::string>(key), max_bytes);
}

std::string Config::text_in(const std::string& key, const std::string& fallback, size_t max_bytes) const {
  return checked_text(*this, key, get<std::string>(key, fallback), max_bytes);
}

std::string Config::choice(const std::string& key, const std::vector<std::string>& choices,
                           const std::string& fallback) const {
  std::string v = get<std::string>(key, fallback);
  for (const std::string& c : choices)
    if (v == c) return v;
  std::string list;
  for (const std::string& c : choices) list += (list.empty() ? "\"" : ", \"") + c + "\"";
  fail(key, "expected one of " + list + ", found " + quote(v));
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
    throw Error(cat(source_, ": ", path_, "/", shown_key(it.key()), ": unknown key",
                    known.empty() ? std::string() : " (known keys here: " + known + ")"));
  }
  for (const Config& c : *children_) c.finish();
}

}  // namespace trim
