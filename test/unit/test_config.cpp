#include <catch2/catch.hpp>

#include <fstream>

#include "apps/runner/manifest.h"
#include "apps/runner/run_config.h"
#include "core/config.h"
#include "test/support/fixtures.h"

using namespace trim;

TEST_CASE("Config reads typed values and names the JSON path in every error", "[config]") {
  nlohmann::json j = {{"a", 1}, {"b", "x"}, {"c", {{"d", 2.5}, {"f", 0}}}, {"e", {1, 2}}};
  Config c(j, "m.json");
  CHECK(c.get<int>("a") == 1);
  CHECK(c.get<float>("missing", 3.0f) == 3.0f);
  CHECK_THROWS_WITH(c.get<int>("b"), Catch::Equals("m.json: /b: expected an integer, found a string (\"x\")"));
  CHECK_THROWS_WITH(c.get<int>("nope"), Catch::Equals("m.json: /nope: required key is missing"));
  Config d = c.child("c");
  CHECK_THROWS_WITH(d.get<int>("d"), Catch::Contains("m.json: /c/d: expected an integer, found a number (2.5)"));
  CHECK_THROWS_WITH(c.get<std::vector<int64_t>>("b"), Catch::Contains("/b: expected an array of integers"));
  CHECK(c.get<std::vector<int64_t>>("e") == std::vector<int64_t>{1, 2});
  CHECK_THROWS_WITH(c.choice("b", {"y", "z"}, "y"), Catch::Contains("/b: expected one of \"y\", \"z\", found \"x\""));
  CHECK_THROWS_WITH(c.finish(), Catch::Contains("m.json: /c/f: unknown key (known keys here: d)"));
}

TEST_CASE("manifests: invalid JSON gives line and column; --set overrides with typed values", "[config]") {
  test::TempDir dir("manifest");
  std::string path = dir.file("m.json");
  std::ofstream(path) << "{\n  \"a\": 1,\n  \"b\": [1, 2,\n}\n";
  CHECK_THROWS_WITH(load_manifest(path, {}), Catch::Contains("m.json: invalid JSON at line 4, column 1"));
  CHECK_THROWS_WITH(load_manifest(dir.file("none.json"), {}), Catch::Contains("none.json: cannot open"));
  std::ofstream(path) << R"({"x": {"y": 1}, "s": "t"})";
  Manifest m = load_manifest(path, {"x.y=0.5", "x.z.w=true", "device=cuda:1", "s=[1,2]"});
  CHECK(m.json["x"]["y"] == 0.5);
  CHECK(m.json["x"]["z"]["w"] == true);
  CHECK(m.json["device"] == "cuda:1");
  CHECK(m.json["s"] == nlohmann::json::array({1, 2}));
  CHECK_THROWS_WITH(load_manifest(path, {"novalue"}), Catch::Contains("expected key=value"));
  CHECK_THROWS_WITH(load_manifest(path, {"s.q=1"}), Catch::Contains("at /s, not an object"));
  CHECK(m.source.find("with --set overrides") != std::string::npos);
}

TEST_CASE("the run config refuses unknown keys, wrong types and bad values", "[config]") {
  nlohmann::json base = {{"name", "t"},
                         {"output", "/tmp/x"},
                         {"data", nlohmann::json::object()},
                         {"model", {{"name", "mlp"}}},
                         {"optimizer", {{"lr", 0.1}}},
                         {"train", {{"epochs", 1}}}};
  auto parse = [&](nlohmann::json j) { return parse_run_config(Manifest{j, "m.json", "m.json"}); };
  CHECK(parse(base).epochs == 1);
  auto with = [&](const std::string& ptr, nlohmann::json v) {
    nlohmann::json j = base;
    j[nlohmann::json::json_pointer(ptr)] = v;
    return j;
  };
  CHECK_THROWS_WITH(parse(with("/optimizer/lr", "0.1")),
                    Catch::Equals("m.json: /optimizer/lr: expected a number, found a string (\"0.1\")"));
  CHECK_THROWS_WITH(parse(with("/train/epoch", 3)), Catch::Contains("/train/epoch: unknown key"));
  CHECK_THROWS_WITH(parse(with("/optimizer/momentum", 1.5)), Catch::Contains("/optimizer/momentum: expected a number in [0, 1), found 1.5"));
  CHECK_THROWS_WITH(parse(with("/schedule/kind", "linear")), Catch::Contains("/schedule/kind: expected one of"));
  CHECK_THROWS_WITH(parse(with("/data/batch_size", 0)), Catch::Contains("/data/batch_size: expected an integer in [1, 1048576], found 0"));
  nlohmann::json no_train = base;
  no_train.erase("train");
  CHECK_THROWS_WITH(parse(no_train), Catch::Contains("m.json: /train: required object is missing"));
}
