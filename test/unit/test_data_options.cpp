// The manifest's data section for every dataset (strict, bounded, per-dataset defaults), and a
// training run on an image folder with a bad file: skipped_files in metrics.jsonl.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>

#include "apps/runner/run_config.h"
#include "apps/runner/trainer.h"
#include "core/error.h"
#include "data/jpeg.h"
#include "test/support/fixtures.h"
#include "test/support/runs.h"

using namespace trim;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

RunConfig parse(const nlohmann::json& data) {
  nlohmann::json m = {{"name", "t"},
                      {"output", "runs/t"},
                      {"data", data},
                      {"model", {{"name", "mlp"}}},
                      {"optimizer", {{"lr", 0.1}}},
                      {"train", {{"epochs", 1}}}};
  return parse_run_config(test::as_manifest(m));
}

}  // namespace

TEST_CASE("data options: per-dataset keys, defaults and bounds", "[config][data]") {
  RunConfig c = parse({{"dataset", "cifar10"}, {"root", "/x"}, {"padding_mode", "reflect"}, {"crop_padding", 2}});
  CHECK(c.data.mean.size() == 3);
  CHECK(c.data.stddev[2] == Approx(0.2616f));
  CHECK(c.data.options.padding_mode == PadMode::reflect);
  CHECK(c.data.options.crop_padding == 2);
  CHECK(c.data.options.augment);
  CHECK(parse({{"dataset", "cifar100"}, {"root", "/x"}, {"augment", false}}).data.options.augment == false);

  c = parse({{"dataset", "image_folder"},
             {"root", "/x"},
             {"mean", {0.5, 0.5, 0.5}},
             {"std", {0.2, 0.2, 0.2}},
             {"image_size", 160},
             {"scale", {0.35, 1.0}},
             {"skip_bad_files", true}});
  CHECK(c.data.options.image_size == 160);
  CHECK(c.data.options.resize == 182);  // 160 * 256 / 224
  CHECK(c.data.options.scale_lo == Approx(0.35));
  CHECK(c.data.options.ratio_lo == 0.75);  // exactly 3/4 by default
  CHECK(c.data.options.skip_bad_files);

  c = parse({{"dataset", "synthetic"}, {"shape", {3, 64, 64}}, {"classes", 100}, {"size", 5000}});
  CHECK(c.data.options.shape == std::vector<int64_t>{3, 64, 64});
  CHECK(c.data.mean.size() == 3);
  CHECK(c.data.root.empty());

  CHECK_THROWS_WITH(parse({{"dataset", "imagenet"}}), Contains("/data/dataset") && Contains("image_folder"));
  CHECK_THROWS_WITH(parse({{"dataset", "cifar10"}}), Contains("/data/root") && Contains("missing"));
  CHECK_THROWS_WITH(parse({{"dataset", "cifar10"}, {"root", "/x"}, {"image_size", 32}}),
                    Contains("/data/image_size: unknown key"));
  CHECK_THROWS_WITH(parse({{"dataset", "cifar10"}, {"root", "/x"}, {"padding_mode", "edge"}}),
                    Contains("/data/padding_mode"));
  CHECK_THROWS_WITH(parse({{"dataset", "image_folder"}, {"root", "/x"}}),
                    Contains("/data/mean: required for dataset \"image_folder\""));
  nlohmann::json folder = {{"dataset", "image_folder"}, {"root", "/x"}, {"mean", {0.5}}, {"std", {0.2}}};
  auto with = [&](const char* key, nlohmann::json v) {
    nlohmann::json d = folder;
    d[key] = v;
    return d;
  };
  CHECK_THROWS_WITH(parse(with("resize", 100)), Contains("/data/resize") && Contains("below image_size 224"));
  CHECK_THROWS_WITH(parse(with("channels", 2)), Contains("/data/channels"));
  CHECK_THROWS_WITH(parse(with("scale", {0.9, 0.1})), Contains("/data/scale"));
  CHECK_THROWS_WITH(parse(with("ratio", {1.0})), Contains("/data/ratio"));
  CHECK_THROWS_WITH(parse(with("skip_bad_files", "yes")), Contains("/data/skip_bad_files"));
  CHECK_THROWS_WITH(parse({{"dataset", "synthetic"}, {"shape", {64, 64}}}),
                    Contains("/data/shape: expected [C, H, W]"));
  CHECK_THROWS_WITH(parse({{"dataset", "synthetic"}, {"root", "/x"}}), Contains("/data/root: unknown key"));
  CHECK_THROWS_WITH(parse({{"dataset", "fashion_mnist"}, {"flip", true}}), Contains("/data/flip: unknown key"));
}

TEST_CASE("image_folder run: a bad file is skipped and counted in metrics.jsonl", "[imagefolder][train]") {
  test::TempDir tmp("imgrun");
  const fs::path root = tmp.path() / "data";
  for (const char* split : {"train", "val"})
    for (int k = 0; k < 3; ++k) {
      const fs::path dir = root / split / ("class" + std::to_string(k));
      fs::create_directories(dir);
      for (int i = 0; i < 8; ++i) {
        std::vector<uint8_t> img(28 * 28);
        for (int p = 0; p < 28 * 28; ++p) img[size_t(p)] = uint8_t(k * 80 + 40 * std::sin(0.3 * p + i));
        std::vector<uint8_t> jpg = encode_jpeg(img.data(), 28, 28, 1, 95);
        if (std::string(split) == "train" && k == 1 && i == 3) jpg.assign(500, 0x42);  // garbage
        std::ofstream((dir / (std::to_string(i) + ".jpg")).string(), std::ios::binary)
            .write(reinterpret_cast<const char*>(jpg.data()), std::streamsize(jpg.size()));
      }
    }
  nlohmann::json m = test::small_run((tmp.path() / "run").string());
  m["data"] = {{"dataset", "image_folder"}, {"root", root.string()}, {"image_size", 28}, {"channels", 1},
               {"batch_size", 8},           {"eval_batch_size", 8},  {"mean", {0.3}},    {"std", {0.3}},
               {"augment", true},           {"skip_bad_files", true}};
  m["model"]["num_classes"] = 3;
  nlohmann::json summary = train_classifier(test::as_manifest(m));
  auto lines = test::metrics_without_timing((tmp.path() / "run").string());
  REQUIRE(lines.size() == 2);
  for (const auto& l : lines) CHECK(l["skipped_files"] == 1);
  CHECK(summary["test_accuracy"].get<double>() >= 0.0);

  m["output"] = (tmp.path() / "strict").string();
  m["data"]["skip_bad_files"] = false;
  CHECK_THROWS_WITH(train_classifier(test::as_manifest(m)), Contains("class1") && Contains("3.jpg"));
}

TEST_CASE("the published and recipe ImageNet / CIFAR manifests parse", "[config][data][manifests]") {
  int n = 0;
  for (const char* dir : {TRIM_SOURCE_DIR "/apps/manifests/published", TRIM_SOURCE_DIR "/apps/manifests"}) {
    for (const auto& e : fs::directory_iterator(dir)) {
      std::string name = e.path().filename().string();
      if (e.path().extension() != ".json" || name.rfind("fmnist_", 0) == 0) continue;
      INFO(e.path().string());
      RunConfig c = parse_run_config(load_manifest(e.path().string(), {}));
      CHECK((c.data.dataset == "image_folder" || c.data.dataset == "cifar10" || c.data.dataset == "cifar100"));
      CHECK(c.data.mean.size() == 3);
      ++n;
    }
  }
  CHECK(n == 15 + 7);  // published pruning settings (l1_filter: 2) + the papers' dense recipes
}
