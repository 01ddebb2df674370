// Settings checked as they are used and as early as they can be (issue 18, items 5, 7, 8): float
// settings checked as floats, model/data mismatches and schedules that cannot work refused before
// the run folder is written, every pruning knob bounded, user strings shown quoted and cut, JSON
// and gzip errors in plain words.
#include <catch2/catch.hpp>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "apps/runner/manifest.h"
#include "apps/runner/run_config.h"
#include "apps/runner/trainer.h"
#include "core/config.h"
#include "core/text.h"
#include "data/gz_reader.h"
#include "models/models.h"
#include "pruning/method_config.h"
#include "pruning/registry.h"
#include "test/support/fixtures.h"
#include "test/support/runs.h"

using namespace trim;
using Catch::Contains;
using test::as_manifest;
using test::small_run;
namespace fs = std::filesystem;

namespace {

// The message of the trim::Error that `f` throws ("" when it throws none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// A short run of `app`'s family (trim-train when empty) on `j`: what the app's main does.
nlohmann::json run_app(const nlohmann::json& j, const std::string& app = "") {
  Manifest m = as_manifest(j);
  RunConfig cfg = parse_run_config(m);
  auto method = make_training_method(m, cfg, app.empty() ? std::vector<std::string>{} : method_family(app));
  return train(m, cfg, *method);
}

// One epoch of 4 batches of 100 (train_limit 400), 100 test images.
nlohmann::json quick_run(const std::string& out) {
  nlohmann::json j = small_run(out);
  j["data"]["train_limit"] = 400;
  j["data"]["test_limit"] = 100;
  j["train"]["epochs"] = 1;
  return j;
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string gzip_bytes(const std::string& plain) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&z, uLong(plain.size())) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(plain.data()));
  z.avail_in = uInt(plain.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = uInt(out.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string read_all(const std::string& path) {
  GzReader in(path, "test file");
  std::string out(1 << 16, '\0');
  size_t n = in.read(reinterpret_cast<uint8_t*>(out.data()), out.size());
  out.resize(n);
  return out;
}

}  // namespace

TEST_CASE("quote() escapes control characters and invalid UTF-8, and cuts long strings with their length",
          "[config][messages]") {
  CHECK(quote("plain") == "\"plain\"");
  CHECK(quote(std::string("a\0b", 3)) == "\"a\\u0000b\"");
  CHECK(quote("a\"b\\c\nd\x7f") == "\"a\\\"b\\\\c\\nd\\u007f\"");
  CHECK(quote("\xff\xc3\xa9") == "\"\\xff\xc3\xa9\"");  // a stray byte escaped, é kept
  const std::string long_value(100000, 'x');
  const std::string shown = quote(long_value);
  std::string want(1, '"');
  want.append(200, 'x').append("...\" (100000 characters)");
  CHECK(shown == want);
  want.assign(1, '"').append(200, 'y').append(1, '"');
  CHECK(quote(std::string(200, 'y')) == want);  // exactly the limit: whole
}

TEST_CASE("float settings are checked as the floats they become", "[config][float]") {
  test::TempDir tmp("float-settings");
  const std::string out = tmp.file("run");
  auto refused = [&](const std::string& section, const std::string& key, double value) {
    nlohmann::json j = quick_run(out);
    j[section][key] = value;
    return error_of([&] { run_app(j); });
  };
  // 0.9999999999 < 1 in double, but 1.0f as the float the optimizer uses.
  std::string e = refused("optimizer", "momentum", 0.9999999999);
  CHECK_THAT(e, Contains("test.json: /optimizer/momentum: expected a number in [0, 1) as a 32-bit float") &&
                    Contains("0.9999999999") && Contains("rounds to 1"));
  e = refused("train", "label_smoothing", 0.99999999999);
  CHECK_THAT(e, Contains("test.json: /train/label_smoothing: expected a number in [0, 1)") && Contains("rounds to 1"));
  e = refused("model", "dropout", 0.99999999999);
  CHECK_THAT(e, Contains("test.json: /model/dropout: expected a number in [0, 1)") && Contains("rounds to 1"));
  CHECK_THAT(refused("optimizer", "lr", 1e-50), Contains("/optimizer/lr") && Contains("rounds to 0"));
  CHECK_THAT(refused("optimizer", "weight_decay", 1e39), Contains("/optimizer/weight_decay"));
  CHECK(!fs::exists(out));  // refused before the run folder was made
  // Just below 1 as a float is accepted and used as that float.
  nlohmann::json j = quick_run(out);
  j["optimizer"]["momentum"] = 0.99999994;  // the largest float below 1
  CHECK(parse_run_config(as_manifest(j)).sgd.momentum == 0.99999994f);
  // Config::float_in itself: open and closed ends, the float range, a rounding to 0.
  nlohmann::json c = {{"a", 1e-46}, {"b", 3.5e38}, {"c", 0.5}};
  Config cfg(c, "c.json");
  CHECK_THAT(error_of([&] { cfg.float_in("a", Config::Interval{0.0, 1.0, true, false}); }),
             Contains("c.json: /a:") && Contains("rounds to 0"));
  CHECK(cfg.float_in("a", Config::Interval{0.0, 1.0}) == 0.0f);  // 0 is allowed there
  CHECK_THAT(error_of([&] { cfg.float_in("b", Config::Interval{0.0, 1e39}); }), Contains("32-bit float"));
  CHECK(cfg.float_in("c", Config::Interval{0.0, 1.0, false, true}) == 0.5f);
  CHECK(cfg.float_in("missing", 0.25f, Config::Interval{0.0, 1.0}) == 0.25f);
}

TEST_CASE("a model that does not fit the data is refused at start-up, naming the manifest and /model",
          "[config][model]") {
  test::TempDir tmp("model-data");
  const std::string out = tmp.file("run");
  nlohmann::json j = quick_run(out);
  j["model"]["in_channels"] = 3;  // Fashion-MNIST images have one channel
  std::string e = error_of([&] { run_app(j); });
  CHECK_THAT(e, Contains("test.json: /model: the model does not fit the data's images of shape [1, 28, 28]") &&
                    Contains("conv2d"));
  CHECK_THAT(e, !Contains("check failed") && !Contains(".cpp:"));
  j = quick_run(out);
  j["model"]["image_size"] = 8;  // a head sized for 8x8 images, fed 28x28 ones
  e = error_of([&] { run_app(j); });
  CHECK_THAT(e, Contains("test.json: /model:") && !Contains("check failed"));
  CHECK(!fs::exists(out));
}

TEST_CASE("schedules that cannot work over the run are refused at start-up", "[pruning][config]") {
  test::TempDir tmp("run-length");
  const std::string out = tmp.file("run");
  auto with = [&](const nlohmann::json& pruning) {
    nlohmann::json j = quick_run(out);
    j["model"] = {{"name", "mlp"}, {"hidden", {16}}};
    j["pruning"] = pruning;
    return j;
  };
  // One epoch of 4 batches: steps 0..3.
  nlohmann::json gmp = {{"method", "gmp"}, {"target", 0.9}, {"start_step", 0}, {"interval_steps", 1}, {"events", 3}};
  CHECK_NOTHROW(run_app(with(gmp), "trim-magnitude"));  // ends at step 3: the last step
  fs::remove_all(out);
  gmp["events"] = 4;  // would end at step 4, after the run
  CHECK_THAT(error_of([&] { run_app(with(gmp), "trim-magnitude"); }),
             Contains("test.json: /pruning/events: the schedule's last event") && Contains("step 4") &&
                 Contains("4 steps") && Contains("target 0.9"));
  gmp["start_step"] = 1000000;
  CHECK_THAT(error_of([&] { run_app(with(gmp), "trim-magnitude"); }),
             Contains("/pruning/start_step: the schedule starts at step 1000000") && Contains("never prune"));
  gmp = {{"method", "gmp"}, {"target", 0.9}, {"start_step", 0}, {"interval_steps", 1000000}, {"events", 1}};
  CHECK_THAT(error_of([&] { run_app(with(gmp), "trim-magnitude"); }), Contains("/pruning/events"));
  gmp = {{"method", "gmp"}, {"target", 0.9}, {"start_step", 0}, {"interval_steps", 1}, {"events", 1000000000000}};
  CHECK_THAT(error_of([&] { run_app(with(gmp), "trim-magnitude"); }), Contains("/pruning/events"));
  // LATS pruning from an epoch the run never reaches.
  nlohmann::json lats = {{"method", "lats"}, {"final_threshold", 0.01}, {"start_epoch", 1}};
  CHECK_THAT(error_of([&] { run_app(with(lats), "trim-lats"); }),
             Contains("test.json: /pruning/start_epoch: pruning from epoch 1") && Contains("the run has 1"));
  // GReg: a regularization round too short for its worst case is refused before pretraining.
  nlohmann::json greg = {{"method", "greg1"}, {"ratio", 0.5}, {"pretrain_epochs", 1}, {"reg_epochs", 1},
                         {"mode", "unstructured"}};
  CHECK_THAT(error_of([&] { run_app(with(greg), "trim-greg"); }),
             Contains("test.json: /pruning/reg_epochs: 1 epochs of 4 batches give 4 iterations") &&
                 Contains("set reg_epochs to at least"));
  CHECK(!fs::exists(out));  // nothing written, nothing trained
}

TEST_CASE("every pruning knob has a bound, named in its message", "[pruning][config]") {
  auto build = [](nlohmann::json p) {
    Config cfg(p, "run.json", "/pruning");
    auto m = make_pruning_method(cfg, method_registry().names());
    cfg.finish();
  };
  struct Case {
    nlohmann::json base;
    const char* key;
    double value;
  };
  const nlohmann::json lats = {{"method", "lats"}, {"final_threshold", 0.01}};
  const nlohmann::json pgh = {{"method", "lats"}, {"final_threshold", 0.01}, {"schedule", "pgh"}, {"beta", 2.0}};
  const nlohmann::json ltp = {{"method", "ltp"}, {"t0", 2.0}, {"lambda", 1.0}, {"lr_tau", 1e-3}, {"finetune_epochs", 1}};
  const nlohmann::json sap = {{"method", "sap"}, {"rounds", 1}};
  const nlohmann::json greg = {{"method", "greg2"}, {"ratio", 0.5}, {"pretrain_epochs", 1}, {"reg_epochs", 1}};
  const nlohmann::json omp = {{"method", "omp"}, {"target", 0.5}};
  const nlohmann::json rnd = {{"method", "random"}, {"target", 0.5}};
  const std::vector<Case> cases{
      {lats, "final_threshold", 1.8e19},  {lats, "final_threshold", 101},  {pgh, "beta", 1e7},
      {ltp, "lr_tau", 9.3e18},            {ltp, "lr_tau", 1001},           {ltp, "clip_tau", 1e7},
      {ltp, "t0", 1e7},                   {ltp, "lambda", 1e7},            {ltp, "finetune_epochs", 1000001},
      {sap, "gamma", 101},                {sap, "q", 11},                  {sap, "eta", 101},
      {sap, "rounds", 1001},              {greg, "reg_upper_limit", 1001}, {greg, "reg_granularity_prune", 1e-9},
      {greg, "reg_upper_limit_pick", 1e4}, {greg, "reg_granularity_recover", -2},
      {greg, "mag_ratio_limit", 2e9},     {greg, "update_interval", 1e7},  {greg, "lr_prune", 1e-50},
      {greg, "finetune_lr", 1e4},         {greg, "reg_epochs", 1000001},   {greg, "pretrain_epochs", 9.2e18},
      {omp, "finetune_epochs", 1000001},  {rnd, "finetune_epochs", 1000001},
  };
  for (const Case& c : cases) {
    nlohmann::json p = c.base;
    p[c.key] = c.value;
    INFO(p.dump());
    CHECK_THAT(error_of([&] { build(p); }), Contains(std::string("run.json: /pruning/") + c.key + ": expected"));
  }
  nlohmann::json p = sap;
  p["pqi"] = {{"p", 0.5}, {"q", 20}};
  CHECK_THAT(error_of([&] { build(p); }), Contains("/pruning/pqi/q: expected a number in (0, 10]"));
  for (const nlohmann::json& ok : {lats, pgh, ltp, sap, greg, omp, rnd}) CHECK_NOTHROW(build(ok));
}

TEST_CASE("schedule.milestones must increase", "[config]") {
  nlohmann::json j = small_run("unused");
  j["schedule"] = {{"kind", "multistep"}, {"milestones", {3, 1, 2}}};
  CHECK_THAT(error_of([&] { parse_run_config(as_manifest(j)); }),
             Contains("test.json: /schedule/milestones/1: expected values in increasing order, found 1 after 3"));
  j["schedule"]["milestones"] = {1, 1};
  CHECK_THAT(error_of([&] { parse_run_config(as_manifest(j)); }), Contains("/schedule/milestones/1"));
  j["schedule"]["milestones"] = {1, 2, 3};
  CHECK_NOTHROW(parse_run_config(as_manifest(j)));
}

TEST_CASE("user strings in messages are escaped and cut: a NUL, control characters, 100,000 characters",
          "[config][messages]") {
  nlohmann::json j = small_run("a");
  j["output"] = std::string("a\0b", 3);
  std::string e = error_of([&] { parse_run_config(as_manifest(j)); });
  CHECK_THAT(e, Contains("test.json: /output: expected no control characters") && Contains("\"a\\u0000b\""));
  j["output"] = std::string(100000, 'o');
  e = error_of([&] { parse_run_config(as_manifest(j)); });
  CHECK_THAT(e, Contains("/output: expected at most 4096 bytes") && Contains("...\" (100000 characters)"));
  CHECK(e.size() < 600);
  j = small_run("a");
  j["data"]["root"] = std::string(100000, 'r');
  e = error_of([&] { parse_run_config(as_manifest(j)); });
  CHECK_THAT(e, Contains("/data/root: expected at most 4096 bytes") && Contains("(100000 characters)"));
  CHECK(e.size() < 600);
  j = small_run("a");
  j["name"] = "tab\there";
  CHECK_THAT(error_of([&] { parse_run_config(as_manifest(j)); }), Contains("/name") && Contains("\"tab\\there\""));
  // A wrong choice and an unknown key with a NUL: shown escaped, the message whole.
  j = small_run("a");
  j["schedule"]["kind"] = std::string("cos\0ine", 7);
  CHECK_THAT(error_of([&] { parse_run_config(as_manifest(j)); }), Contains("found \"cos\\u0000ine\""));
  j = small_run("a");
  j["train"][std::string("epo\0chs", 7)] = 1;
  CHECK_THAT(error_of([&] { parse_run_config(as_manifest(j)); }),
             Contains("/train/\"epo\\u0000chs\": unknown key (known keys here:"));
  // An override echoes its text escaped and cut.
  CHECK_THAT(error_of([&] { parse_manifest("{}", "m.json", {std::string(300, 'k')}); }),
             Contains("--set \"" + std::string(80, 'k') + "...\" (300 characters): expected key=value"));
}

TEST_CASE("JSON syntax errors read in trim's words, with line and column", "[config][messages]") {
  auto e = [](const std::string& text) { return error_of([&] { parse_manifest(text, "m.json", {}); }); };
  std::string msg = e("{\n  \"a\": 1,\n  \"b\": tru\n}");
  CHECK_THAT(msg, Contains("m.json: invalid JSON at line 3, column") && Contains("invalid literal") &&
                      Contains("tru") && !Contains("json.exception") && !Contains("parse_error"));
  msg = e("{\"a\": 1,}");
  CHECK_THAT(msg, Contains("m.json: invalid JSON at line 1, column 9") && Contains("unexpected '}'") &&
                      Contains("in an object key") && !Contains("[json"));
  msg = e("   \n ");
  CHECK_THAT(msg, Contains("m.json: the text is empty"));
  msg = e("{\"a\": \"x\ny\"}");  // a raw newline inside a string
  CHECK_THAT(msg, Contains("m.json: invalid JSON at line 1, column") && Contains("control character") &&
                      !Contains("[json"));
  msg = error_of([&] { parse_manifest("{}", "m.json", {"optimizer.lr=[1,"}); });  // not JSON: a string
  CHECK(msg.empty());
  msg = error_of([&] { parse_manifest("{\"a\": {\"b\": 1, \"b\": 2}}", "m.json", {}); });
  CHECK_THAT(msg, Contains("m.json: /a/b: the key \"b\" appears twice"));
}

TEST_CASE("gzip errors name the file and say what is wrong; bytes after the gzip data are refused",
          "[data][gzip]") {
  test::TempDir tmp("gzip-errors");
  const std::string plain = "trim gzip reader test data, repeated. trim gzip reader test data, repeated.";
  const std::string gz = gzip_bytes(plain);
  SECTION("a whole file, one member and two") {
    write_bytes(tmp.file("ok.gz"), gz);
    CHECK(read_all(tmp.file("ok.gz")) == plain);
    write_bytes(tmp.file("two.gz"), gz + gzip_bytes("second"));  // concatenated members (RFC 1952)
    CHECK(read_all(tmp.file("two.gz")) == plain + "second");
    write_bytes(tmp.file("plain"), plain);  // not gzip: passed through
    CHECK(read_all(tmp.file("plain")) == plain);
  }
  SECTION("a bad CRC") {
    std::string bad = gz;
    bad[bad.size() - 6] ^= 0x55;  // inside the CRC-32 of the trailer
    write_bytes(tmp.file("crc.gz"), bad);
    std::string e = error_of([&] { read_all(tmp.file("crc.gz")); });
    CHECK_THAT(e, Contains("test file \"" + tmp.file("crc.gz") + "\"") && Contains("CRC-32") &&
                      Contains("corrupt") && !Contains("<fd:") && !Contains("incorrect data check"));
  }
  SECTION("a bad length") {
    std::string bad = gz;
    bad[bad.size() - 2] ^= 0x55;  // inside the length of the trailer
    write_bytes(tmp.file("len.gz"), bad);
    CHECK_THAT(error_of([&] { read_all(tmp.file("len.gz")); }), Contains("len.gz") && Contains("length"));
  }
  SECTION("damaged compressed data") {
    std::string bad = gz.substr(0, 10) + std::string(20, '\xff') + gz.substr(30);
    write_bytes(tmp.file("data.gz"), bad);
    CHECK_THAT(error_of([&] { read_all(tmp.file("data.gz")); }),
               Contains("data.gz") && Contains("invalid") && !Contains("<fd:"));
  }
  SECTION("trailing garbage") {
    write_bytes(tmp.file("tail.gz"), gz + "garbage");
    std::string e = error_of([&] { read_all(tmp.file("tail.gz")); });
    CHECK_THAT(e, Contains("tail.gz") && Contains("unexpected bytes after the end of the gzip data") &&
                      Contains("at byte " + std::to_string(gz.size())));
    write_bytes(tmp.file("one.gz"), gz + "x");  // a single stray byte
    CHECK_THAT(error_of([&] { read_all(tmp.file("one.gz")); }), Contains("after the end of the gzip data"));
  }
  SECTION("truncated") {
    write_bytes(tmp.file("cut.gz"), gz.substr(0, gz.size() - 4));
    CHECK_THAT(error_of([&] { read_all(tmp.file("cut.gz")); }), Contains("cut.gz") && Contains("ends early"));
  }
}

TEST_CASE("mutated pruning sections of every method give a trim::Error or a working method",
          "[pruning][config][fuzz]") {
  // The CTest-side companion of the libFuzzer target: every method's section, with values
  // replaced by hostile ones, key by key and a few at once. Anything but trim::Error escaping
  // is a bug (std::bad_alloc, nlohmann's exceptions, a crash).
  const std::vector<nlohmann::json> bases{
      {{"method", "omp"}, {"target", 0.9}, {"finetune_epochs", 1}, {"scope", "layer"}},
      {{"method", "gmp"}, {"target", 0.8}, {"start_step", 1}, {"interval_steps", 2}, {"events", 4}, {"initial", 0.1}},
      {{"method", "lottery"}, {"rounds", 2}, {"target", 0.3}, {"rewind_step", 2}},
      {{"method", "os_sap"}, {"rounds", 2}},
      {{"method", "random"}, {"target", 0.5}, {"finetune_epochs", 1}},
      {{"method", "sap"}, {"rounds", 1}, {"p", 0.5}, {"q", 1.0}, {"eta", 0.0}, {"gamma", 1.0}, {"beta", 0.9},
       {"pqi", {{"p", 0.5}, {"q", 1.0}}}},
      {{"method", "lats"}, {"final_threshold", 0.01}, {"schedule", "pgh"}, {"beta", 2.0}, {"start_epoch", 0}},
      {{"method", "ltp"}, {"t0", 2.0}, {"lambda", 1.0}, {"lr_tau", 1e-3}, {"clip_tau", 1.0}, {"finetune_epochs", 1},
       {"trail", {0.5, 0.9}}, {"target", 0.9}},
      {{"method", "greg1"}, {"ratio", 0.5}, {"pretrain_epochs", 1}, {"reg_epochs", 1}, {"update_interval", 10},
       {"layer_ratios", {{{"pattern", "*"}, {"ratio", 0.5}}}}},
      {{"method", "l1_filter"}, {"ratio", 0.5}, {"pretrain_epochs", 1}, {"finetune_epochs", 1}, {"finetune_lr", 0.01},
       {"prune_streams", true}, {"layer_ratios", {{{"pattern", "*"}, {"ratio", 0.5}}}}},
      {{"method", "greg2"}, {"ratio", 0.5}, {"pretrain_epochs", 2}, {"reg_epochs", 1},
       {"reg_upper_limit_pick", 0.01}, {"reg_granularity_recover", -1e-4}},
  };
  const std::vector<nlohmann::json> hostile{
      nullptr, true, -1, 0, 1, 2, -0.0, 0.5, 1e-320, 1e-45, 3.5e38, 1.7e308, -1.7e308, 9223372036854775807LL,
      18446744073709551615ULL, -9223372036854775807LL - 1, 1e19, 0.9999999999, "", "x", std::string("\0", 1),
      std::string(5000, 'a'), nlohmann::json::array(), nlohmann::json::object(), {1, 2}, {{"k", 1}}, "\xff"};
  std::mt19937 rng(18);
  int64_t tried = 0, refused = 0;
  for (const nlohmann::json& base : bases) {
    std::vector<std::string> keys;
    for (auto it = base.begin(); it != base.end(); ++it)
      if (it.key() != "method") keys.push_back(it.key());
    keys.push_back("unknown_key");
    for (int round = 0; round < 60; ++round) {
      nlohmann::json p = base;
      const int changes = round < 30 ? 1 : 3;
      for (int c = 0; c < changes; ++c)
        p[keys[rng() % keys.size()]] = hostile[rng() % hostile.size()];
      ++tried;
      try {
        Config cfg(p, "fuzz.json", "/pruning");
        auto m = make_pruning_method(cfg, method_registry().names());
        cfg.finish();
        REQUIRE(m != nullptr);
      } catch (const Error& e) {
        ++refused;
        CHECK_THAT(std::string(e.what()), Contains("fuzz.json: /pruning"));
      }
    }
  }
  CHECK(refused > tried / 2);  // most hostile values are refused (and none escaped as another exception)
}

TEST_CASE("the settings readers know the registry's methods, and read a section as the method does",
          "[pruning][config]") {
  CHECK(pruning_settings_names() == method_registry().names());
  for (const std::string& name : method_registry().names()) {
    nlohmann::json p = {{"method", name}, {"no_such_key", 1}};
    Config cfg(p, "run.json", "/pruning");
    // Both refuse the same section with the same first message (here: a missing required key or
    // the unknown one at finish()).
    std::string by_reader = error_of([&] {
      read_pruning_settings(cfg);
      cfg.finish();
    });
    Config cfg2(p, "run.json", "/pruning");
    std::string by_method = error_of([&] {
      auto m = make_pruning_method(cfg2, method_registry().names());
      cfg2.finish();
    });
    INFO(name);
    CHECK(!by_reader.empty());
    CHECK(by_reader == by_method);
  }
}
