// The registries of models, data sets and pruning methods: one shape, one error format, --list.
#include <catch2/catch.hpp>

#include "apps/runner/list.h"
#include "core/registry.h"
#include "data/datasets.h"
#include "models/models.h"
#include "pruning/registry.h"

using namespace trim;
using Catch::Contains;

TEST_CASE("a registry refuses a name listed twice and names the known ones for an unknown one", "[registry]") {
  CHECK_THROWS_WITH((Registry<int>("widget", {{"a", 1}, {"b", 2}, {"a", 3}})), Contains("widget: a name is listed twice"));
  Registry<int> r("widget", {{"b", 2}, {"a", 1}});
  CHECK(r.names() == std::vector<std::string>{"a", "b"});
  CHECK(r.at("b") == 2);
  CHECK_THROWS_WITH(r.at("c"), Contains("unknown widget \"c\"; known: \"a\", \"b\""));
}

TEST_CASE("every app's method family comes from the method registry", "[registry]") {
  CHECK(method_family("trim-magnitude") == std::vector<std::string>{"gmp", "l1_filter", "lottery", "omp", "os_sap", "random"});
  CHECK(method_family("trim-greg") == std::vector<std::string>{"greg1", "greg2"});
  CHECK(method_family("trim-train").empty());
  size_t in_families = 0;
  for (const char* app : {"trim-magnitude", "trim-sap", "trim-lats", "trim-ltp", "trim-greg"})
    in_families += method_family(app).size();
  CHECK(in_families == method_registry().names().size());  // every method is run by one of the apps
}

TEST_CASE("the apps' --list prints every registry entry with its metadata", "[registry]") {
  const std::string models = registry_listing("models");
  CHECK_THAT(models, Contains("resnet50") && Contains("3x224x224") && Contains("spiking_cnn"));
  for (const std::string& name : model_registry().names()) CHECK_THAT(models, Contains(name));
  const std::string methods = registry_listing("methods");
  CHECK_THAT(methods, Contains("trim-lats"));
  for (const std::string& name : method_registry().names()) CHECK_THAT(methods, Contains(name));
  for (const std::string& name : dataset_registry().names()) CHECK_THAT(registry_listing("datasets"), Contains(name));
  CHECK_THROWS_WITH(registry_listing("optimizers"), Contains("expected models, datasets or methods"));
}
