// Hostile and unlucky input: every case here crashed, damaged a run folder or was silently
// accepted before the hardening work; each must now be one clear trim::Error (or be handled).
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <system_error>

#include "apps/runner/checkpoint.h"
#include "apps/runner/manifest.h"
#include "apps/runner/run_config.h"
#include "apps/runner/run_dir.h"
#include "apps/runner/trainer.h"
#include "core/config.h"
#include "core/io/atomic_file.h"
#include "core/io/safetensors.h"
#include "data/array_dataset.h"
#include "data/fashion_mnist.h"
#include "data/loader.h"
#include "models/models.h"
#include "test/support/fixtures.h"
#include "test/support/runs.h"

using namespace trim;
using test::as_manifest;
using test::small_run;

namespace {

// A quick run: 2 batches of 100 per epoch, 100 test images.
nlohmann::json tiny_run(const std::string& output, int64_t epochs = 2) {
  nlohmann::json j = small_run(output);
  j["data"]["train_limit"] = 200;
  j["data"]["test_limit"] = 100;
  j["data"]["eval_batch_size"] = 100;
  j["train"]["epochs"] = epochs;
  return j;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// Every file of a folder with its bytes: a refused run must leave this unchanged.
std::map<std::string, std::string> snapshot(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out[e.path().filename().string()] = read_file(e.path());
  return out;
}

std::string nested(int depth) { return std::string(size_t(depth), '[') + std::string(size_t(depth), ']'); }

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

const nlohmann::json kBase = {{"name", "t"},
                              {"output", "/tmp/x"},
                              {"data", nlohmann::json::object()},
                              {"model", {{"name", "mlp"}}},
                              {"optimizer", {{"lr", 0.1}}},
                              {"train", {{"epochs", 2}}}};

RunConfig parse_text(const std::string& text, const std::vector<std::string>& sets = {}) {
  return parse_run_config(parse_manifest(text, "m.json", sets));
}

}  // namespace

TEST_CASE("class 1: inputs that crashed are one clear error each", "[hardening]") {
  test::TempDir tmp("hard1");
  // A number outside the double range (nlohmann's out_of_range escaped).
  CHECK_THROWS_WITH(parse_text(R"({"optimizer": {"lr": 1e309}})"),
                    Catch::Contains("m.json: /optimizer/lr") && Catch::Contains("finite number"));
  // Deep nesting, in the file and in a --set (stack overflow while formatting the value).
  CHECK_THROWS_WITH(parse_text(R"({"name": "t", "x": )" + nested(100000) + "}"),
                    Catch::Contains("m.json: /x/0/0") && Catch::Contains("nest deeper than 32"));
  CHECK_THROWS_WITH(parse_text(kBase.dump(), {"model.x=" + nested(100000)}),
                    Catch::Contains("--set \"model.x=[[[") && Catch::Contains("nest deeper than 32"));
  CHECK_THROWS_WITH(parse_text(kBase.dump(), {"a.b.c.d.e.f.g.h.i=1"}), Catch::Contains("more than 8 segments"));
  // Invalid UTF-8 in a --set (uncaught type_error when the manifest was dumped).
  CHECK_THROWS_WITH(parse_text(kBase.dump(), {"name=\xff"}),
                    Catch::Equals("--set \"name=\\xff\": invalid UTF-8 at byte 5; expected key=value in UTF-8"));
  CHECK_THROWS_WITH(parse_text(kBase.dump(), {"na\xc0\xafme=x"}), Catch::Contains("invalid UTF-8 at byte 2"));
  CHECK_THROWS_WITH(parse_text("{\"name\": \"\xed\xa0\x80\"}"), Catch::Contains("m.json: invalid UTF-8 at line 1"));
  // More workers than threads can be started for (uncaught std::system_error).
  nlohmann::json j = kBase;
  j["data"]["workers"] = 1000000;
  CHECK_THROWS_WITH(parse_text(j.dump()),
                    Catch::Contains("m.json: /data/workers: expected an integer in [1, 256], found 1000000"));
  // The same in a safetensors header (found by the fuzz target).
  const std::string header = R"({"w":{"dtype":"F32","shape":[1e999],"data_offsets":[0,4]}})";
  std::string file(8, '\0');
  file[0] = char(header.size());
  write_text(tmp.file("big.safetensors"), file + header + "abcd");
  CHECK_THROWS_WITH(load_safetensors(tmp.file("big.safetensors")),
                    Catch::Contains("big.safetensors: the header") && Catch::Contains("entry \"w\"") &&
                        Catch::Contains("expected finite numbers"));

  // Any exception an app's main sees becomes one line and exit status 1.
  try {
    throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again), "thread");
  } catch (...) {
    CHECK(report_exception("trim-test") == 1);
  }

  // std::filesystem_error: data files that are symlink loops, a data.root beyond the OS limit,
  // a checkpoint that is a symlink loop.
  std::string data = tmp.file("loop-data");
  std::filesystem::create_directories(data);
  for (const char* f : {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"})
    std::filesystem::create_symlink(f, data + "/" + f);  // each link points at itself
  CHECK_THROWS_WITH(load_fashion_mnist(data, "train"),
                    Catch::Contains("train-images-idx3-ubyte.gz") && Catch::Contains("symlink loop"));
  const std::string too_long = "/tmp/" + std::string(5000, 'a');
  CHECK_THROWS_WITH(load_fashion_mnist(too_long, "train"), Catch::Contains("train split") && Catch::Contains("not found"));
  nlohmann::json run = tiny_run(tmp.file("loop-ck"));
  std::filesystem::create_directories(tmp.file("loop-ck"));
  std::filesystem::create_symlink("checkpoint.safetensors", tmp.file("loop-ck") + "/checkpoint.safetensors");
  TrainOptions resume;
  resume.resume = true;
  CHECK_THROWS_WITH(train_classifier(as_manifest(run), resume),
                    Catch::Contains("checkpoint.safetensors") && Catch::Contains("symlink loop"));
  run = tiny_run(too_long + "/run");  // longer than PATH_MAX: refused as a setting, shown cut
  CHECK_THROWS_WITH(train_classifier(as_manifest(run), resume),
                    Catch::Contains("/output: expected at most 4096 bytes") && Catch::Contains("(5009 characters)"));
}

TEST_CASE("class 2: a refused resume leaves the run folder byte for byte as it was", "[hardening]") {
  test::TempDir tmp("hard2");
  const std::string dir = tmp.file("run");
  nlohmann::json j = tiny_run(dir);
  TrainOptions kill;
  kill.interrupt = [](int64_t step) { return step == 3; };  // epoch 1, batch 1: the epoch-0 checkpoint exists
  REQUIRE(train_classifier(as_manifest(j), kill).empty());
  const std::string ck = dir + "/checkpoint.safetensors";
  const SafetensorsFile good = load_safetensors(ck);

  TrainOptions resume;
  resume.resume = true;
  // Each lie is written with a valid checksum: only the checks against the manifest can catch it.
  auto refused_with = [&](const std::string& key, const std::string& value, const std::string& part) {
    std::map<std::string, std::string> meta = good.metadata;
    meta[key] = value;
    save_safetensors(ck, good.tensors, meta);
    const auto before = snapshot(dir);
    INFO(key << " = " << value);
    CHECK_THROWS_WITH(train_classifier(as_manifest(j), resume), Catch::Contains(ck) && Catch::Contains(part));
    CHECK(snapshot(dir) == before);
    CHECK(!std::filesystem::exists(dir + "/summary.json"));
  };
  refused_with("trim.epoch", "1000", "'trim.epoch' is 1000; expected 0..1");  // epochs 0 and 1 of round 1
  refused_with("trim.epoch", "-1", "'trim.epoch' is -1");
  refused_with("trim.batch", "999", "'trim.batch' is 999; expected 0..1");
  refused_with("trim.step", "9223372036854775807", "'trim.step'");
  refused_with("trim.step", "99999999999999999999", "should be a 64-bit integer");
  refused_with("trim.seen", "100000", "'trim.seen' is 100000; expected 0..200");
  refused_with("trim.correct", "5", "'trim.correct' is 5; expected 0..0");
  refused_with("trim.loss_sum", "nan", "'trim.loss_sum' should be a finite number");
  refused_with("trim.seconds", "-1", "'trim.seconds' should be a finite number");
  refused_with("trim.format", "2", "format \"2\" is not supported");

  // A flipped bit in the tensor data, and a checkpoint whose checksum entry was lost.
  save_safetensors(ck, good.tensors, good.metadata);
  const std::string bytes = read_file(ck);
  auto refused_bytes = [&](const std::string& bad, const std::string& part) {
    write_file_atomic(ck, bad);
    const auto before = snapshot(dir);
    CHECK_THROWS_WITH(train_classifier(as_manifest(j), resume), Catch::Contains(ck) && Catch::Contains(part));
    CHECK(snapshot(dir) == before);
  };
  std::string flipped = bytes;
  flipped[bytes.size() - 100] = char(flipped[bytes.size() - 100] ^ 0x10);
  refused_bytes(flipped, "does not match its checksum");
  std::string unchecked = bytes;
  const size_t key = unchecked.find("trim.data_crc32");
  REQUIRE(key != std::string::npos);
  unchecked[key + 14] = 'X';  // "trim.data_crc3X": any other metadata key
  refused_bytes(unchecked, "does not match its checksum");  // the header checksum sees the renamed key

  // A checkpoint of another model: refused before anything is written too.
  save_safetensors(ck, good.tensors, good.metadata);
  nlohmann::json other = j;
  other["model"]["hidden"] = 16;
  auto before = snapshot(dir);
  CHECK_THROWS_WITH(train_classifier(as_manifest(other), resume), Catch::Contains("has shape"));
  CHECK(snapshot(dir) == before);

  // The true checkpoint still resumes and finishes the run.
  nlohmann::json summary = train_classifier(as_manifest(j), resume);
  CHECK(summary["epochs"] == 2);
  CHECK(summary["steps"] == 4);
}

TEST_CASE("class 3: inputs that were silently accepted are refused", "[hardening]") {
  test::TempDir tmp("hard3");
  // Duplicate keys, at any depth (the README promises strict JSON).
  CHECK_THROWS_WITH(parse_text(R"({"name": "a", "name": "b"})"),
                    Catch::Equals("m.json: /name: the key \"name\" appears twice in one object; expected each key "
                                  "once (strict JSON)"));
  CHECK_THROWS_WITH(parse_text(R"({"optimizer": {"lr": 0.1, "lr": 0.2}})"), Catch::Contains("m.json: /optimizer/lr"));
  CHECK_THROWS_WITH(parse_text(R"({"data": {"mean": [{"a": 1, "a": 2}]}})"), Catch::Contains("m.json: /data/mean/0/a"));
  // lr and weight_decay that overflow a float; a negative min_lr.
  auto with = [&](const std::string& ptr, nlohmann::json v) {
    nlohmann::json j = kBase;
    j[nlohmann::json::json_pointer(ptr)] = v;
    return parse_text(j.dump());
  };
  CHECK_THROWS_WITH(with("/optimizer/lr", 1e39), Catch::Contains("/optimizer/lr: expected a number in (0, 1000]"));
  CHECK_THROWS_WITH(with("/optimizer/weight_decay", 1e39), Catch::Contains("/optimizer/weight_decay: expected a number in [0, 1000]"));
  CHECK_THROWS_WITH(with("/schedule/min_lr", -0.1), Catch::Contains("/schedule/min_lr: expected a number in [0, 0.1"));
  CHECK_THROWS_WITH(with("/data/std", {1e-30}), Catch::Contains("/data/std/0: expected a number in [1e-06, 1000]"));
  CHECK_THROWS_WITH(with("/seed", -1), Catch::Contains("/seed: expected a non-negative integer"));
  CHECK_THROWS_WITH(with("/train/epochs", 18446744073709551615ull), Catch::Contains("/train/epochs: integer out of range"));
  CHECK(with("/schedule/min_lr", 0.05).schedule.min_lr == 0.05f);

  // num_classes below the labels of the data (NaN losses).
  nlohmann::json j = tiny_run(tmp.file("classes"));
  j["model"]["num_classes"] = 5;
  CHECK_THROWS_WITH(train_classifier(as_manifest(j)),
                    Catch::Contains("test.json: /model/num_classes: the model predicts 5 classes, but the data has 10"));
  j = tiny_run(tmp.file("size"));
  j["model"]["image_size"] = 32;  // the data is 28 x 28
  CHECK_THROWS_WITH(train_classifier(as_manifest(j)), Catch::Contains("test.json: /model: the model does not fit"));
  CHECK(!std::filesystem::exists(tmp.file("classes")));
  // A batch whose activations exceed the machine's memory, refused before the first allocation.
  j = tiny_run(tmp.file("batch"));
  j["data"]["train_limit"] = 0;
  j["data"]["batch_size"] = 60000;
  j["model"]["widths"] = {4096};
  CHECK_THROWS_WITH(train_classifier(as_manifest(j)),
                    Catch::Contains("test.json: /data/batch_size: a batch of 60000 needs about") &&
                        Catch::Contains("MiB of memory"));

  // An output folder that is not a run folder.
  j = tiny_run("/");
  CHECK_THROWS_WITH(train_classifier(as_manifest(j)), Catch::Contains("/: not a run folder: it holds"));
  std::filesystem::create_directories(tmp.file("mine"));
  write_text(tmp.file("mine") + "/thesis.tex", "precious");
  CHECK_THROWS_WITH(RunDir(tmp.file("mine")), Catch::Contains("not a run folder: it holds \"thesis.tex\""));
  write_text(tmp.file("afile"), "x");
  CHECK_THROWS_WITH(RunDir(tmp.file("afile")), Catch::Contains("expected a run folder (a directory)"));
  std::filesystem::create_directories(tmp.file("ok"));
  write_text(tmp.file("ok") + "/metrics.jsonl", "{\"epoch\": 0}\n");
  write_text(tmp.file("ok") + "/checkpoint.safetensors.tmp-123", "");
  CHECK(RunDir(tmp.file("ok")).metrics().size() == 1);

  // A FIFO in place of the manifest or the checkpoint (open() blocked forever).
  const std::string fifo = tmp.file("m.json");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_THROWS_WITH(load_manifest(fifo, {}), Catch::Contains(fifo) && Catch::Contains("expected a regular file, found a FIFO"));
  std::filesystem::create_directories(tmp.file("fifo-run"));
  const std::string ck = tmp.file("fifo-run") + "/checkpoint.safetensors";
  REQUIRE(::mkfifo(ck.c_str(), 0600) == 0);
  TrainOptions resume;
  resume.resume = true;
  CHECK_THROWS_WITH(train_classifier(as_manifest(tiny_run(tmp.file("fifo-run"))), resume),
                    Catch::Contains(ck) && Catch::Contains("found a FIFO"));
  CHECK_THROWS_WITH(load_manifest(tmp.path().string(), {}), Catch::Contains("found a directory"));
}

TEST_CASE("class 4: sizes that overflowed 64 bits are refused or computed safely", "[hardening]") {
  CHECK_THROWS_WITH(Shape({int64_t(1) << 40, int64_t(1) << 40}).numel(), Catch::Contains("more than 2^63 - 1 elements"));
  CHECK(Shape({int64_t(1) << 40, int64_t(1) << 40, 0}).numel() == 0);
  CHECK(Shape({int64_t(1) << 31, int64_t(1) << 31}).numel() == int64_t(1) << 62);

  // in * size * size in cnn_small, and parameter counts beyond memory.
  auto build = [](nlohmann::json spec) {
    Config c(spec, "m.json", "/model");
    return build_model(c);
  };
  CHECK_THROWS_WITH(build({{"name", "cnn_small"}, {"in_channels", 1e12}}),
                    Catch::Contains("m.json: /model/in_channels: expected an integer in [1, 65536], found 1000000000000"));
  CHECK_THROWS_WITH(build({{"name", "cnn_small"}, {"widths", {65536, 65536, 65536}}, {"image_size", 65536}}),
                    Catch::Contains("m.json: /model: the model would have") && Catch::Contains("MiB of memory"));
  CHECK_THROWS_WITH(build({{"name", "mlp"}, {"in_features", 1 << 24}, {"hidden", {1 << 24, 1 << 24}}}),
                    Catch::Contains("m.json: /model: the model would have"));

  // The loader's batch count for a huge batch size.
  std::vector<uint8_t> images(10 * 4, 1);
  auto ds = std::make_shared<ArrayDataset>(Shape{1, 2, 2}, 2, images, std::vector<int32_t>(10, 1), "ten images");
  LoaderOptions o;
  o.batch_size = INT64_MAX;
  o.workers = 1;
  DataLoader loader(ds, o);
  CHECK(loader.batches_per_epoch() == 1);
  loader.start_epoch(0);
  auto b = loader.next();
  REQUIRE(b);
  CHECK(b->labels.numel() == 10);
  CHECK(!loader.next());
  // ++step from a checkpoint near 2^63: see class 2 ("trim.step").
}

TEST_CASE("class 5: every model option is refused with its JSON path, never an internal check", "[hardening]") {
  const std::map<std::string, std::vector<std::string>> options = {
      {"mlp", {"in_features", "hidden", "num_classes"}},
      {"sap_cnn", {"in_channels", "widths", "num_classes"}},
      {"cnn_small", {"in_channels", "image_size", "widths", "hidden", "dropout", "num_classes"}}};
  const std::vector<nlohmann::json> bad = {0, -1, 1e12, 2.5, "x", nlohmann::json::array(), {0}, {-3}, {1e12}, 1e30};
  int cases = 0;
  for (const auto& [model, keys] : options) {
    for (const std::string& key : keys) {
      for (const nlohmann::json& v : bad) {
        nlohmann::json spec = {{"name", model}, {key, v}};
        Config c(spec, "m.json", "/model");
        std::string msg = message_of([&] { build_model(c); });
        INFO(model << " " << key << " = " << v.dump() << ": " << msg);
        bool fine = msg == "(no error)";  // e.g. dropout 0, or an empty hidden list
        if (!fine) {
          CHECK_THAT(msg, Catch::StartsWith("m.json: /model"));
          CHECK_THAT(msg, Catch::Contains("/model/" + key) || Catch::Contains("/model: the model would have"));
          CHECK_THAT(msg, !Catch::Contains(".cpp:"));
          ++cases;
        }
      }
    }
  }
  CHECK(cases > 80);

  // Loader and data messages name the file and the split.
  test::TempDir tmp("hard5");
  CHECK_THROWS_WITH(load_fashion_mnist(tmp.path().string(), "test"),
                    Catch::Contains("t10k-images-idx3-ubyte.gz") && Catch::Contains("(test split)"));
}

TEST_CASE("class 6: checkpoints carry a checksum; stale temporaries are removed", "[hardening]") {
  test::TempDir tmp("hard6");
  const std::string path = tmp.file("c.safetensors");
  std::vector<float> w(1000);
  for (size_t i = 0; i < w.size(); ++i) w[i] = float(i) * 0.5f;
  save_safetensors(path, {{"w", Tensor::from_vector<float>(Shape{1000}, w)}}, {{"k", "v"}});
  const std::string bytes = read_file(path);
  const SafetensorsFile f = load_safetensors(path);
  CHECK(f.has_checksum);
  CHECK(f.metadata == std::map<std::string, std::string>{{"k", "v"}});
  const size_t data_start = bytes.size() - 4000;

  std::mt19937 rng(7);
  int refused = 0;
  for (int trial = 0; trial < 500; ++trial) {
    std::string bad = bytes;
    size_t byte = data_start + rng() % 4000;
    bad[byte] = char(bad[byte] ^ (1 << (rng() % 8)));
    write_text(path, bad);
    std::string msg = message_of([&] { load_safetensors(path); });
    refused += msg.find("does not match its checksum") != std::string::npos;
  }
  CHECK(refused == 500);
  // The reserved key cannot be set by callers.
  CHECK_THROWS_WITH(save_safetensors(path, {}, {{kSafetensorsChecksumKey, "0"}}), Catch::Contains("reserved"));

  // Temporaries of dead writers go; a live process's stay.
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  REQUIRE(child > 0);
  ::waitpid(child, nullptr, 0);
  const std::string dir = tmp.file("run");
  std::filesystem::create_directories(dir);
  const std::string dead = dir + "/checkpoint.safetensors.tmp-" + std::to_string(child);
  const std::string live = dir + "/metrics.jsonl.tmp-" + std::to_string(::getppid());
  write_text(dead, "partial");
  write_text(live, "partial");
  CHECK(remove_stale_temporaries(dir) == std::vector<std::string>{"checkpoint.safetensors.tmp-" + std::to_string(child)});
  CHECK(!std::filesystem::exists(dead));
  CHECK(std::filesystem::exists(live));
}
