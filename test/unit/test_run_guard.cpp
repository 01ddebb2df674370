// The guards around a run folder and its checkpoint (issue 18): one process per folder, resumes
// that notice other training data, finished runs extended, divergence seen in every saved tensor,
// SIGINT/SIGTERM stops that resume bit for bit, and metadata covered by a checksum.
#include <catch2/catch.hpp>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "apps/runner/checkpoint.h"
#include "apps/runner/run_dir.h"
#include "apps/runner/termination.h"
#include "apps/runner/trainer.h"
#include "core/io/regular_file.h"
#include "core/io/safetensors.h"
#include "core/ops/loss.h"
#include "data/fashion_mnist.h"
#include "test/support/fixtures.h"
#include "test/support/runs.h"

using namespace trim;
using test::as_manifest;
using test::small_run;

namespace fs = std::filesystem;

namespace {

std::string slurp(const std::string& path) { return read_regular_file(path, "test file"); }

void spit(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// Replaces the one occurrence of `from` in the file with `to` (of the same length, so the header
// keeps its length and only the checksums can tell).
void edit_in_place(const std::string& path, const std::string& from, const std::string& to) {
  REQUIRE(from.size() == to.size());
  std::string bytes = slurp(path);
  size_t at = bytes.find(from);
  REQUIRE(at != std::string::npos);
  REQUIRE(bytes.find(from, at + 1) == std::string::npos);
  bytes.replace(at, from.size(), to);
  spit(path, bytes);
}

// Both runs' model.safetensors hold bit-identical tensors of the same names.
bool same_models(const std::string& run_a, const std::string& run_b) {
  return test::same_tensors(run_a + "/model.safetensors", run_b + "/model.safetensors");
}

// A method that keeps the default extends_exactly() = false, as every pruning method does (their
// schedules span the run's epochs).
class Planned final : public TrainingMethod {
 public:
  std::string name() const override { return "planned"; }
};

TrainOptions resuming() {
  TrainOptions o;
  o.resume = true;
  return o;
}

}  // namespace

TEST_CASE("a run folder is held by one process: a second is refused at once, naming the holder", "[train][lock]") {
  test::TempDir tmp("lock");
  const std::string dir = tmp.file("run");
  {
    RunDir first(dir);
    CHECK(fs::exists(dir + "/.lock"));
    CHECK_THROWS_WITH(RunDir(dir), Catch::Contains(dir) && Catch::Contains("another trim process (pid " +
                                                                           std::to_string(::getpid()) + ")"));
    // A rank that does not write takes no lock.
    CHECK_NOTHROW(RunDir(dir, false));
  }
  CHECK_NOTHROW(RunDir(dir));  // released with its holder
  // A training run on a held folder is refused before it writes anything.
  RunDir holder(dir);
  nlohmann::json j = small_run(dir);
  CHECK_THROWS_WITH(train_classifier(as_manifest(j)), Catch::Contains("another trim process"));
  // (A --resume of a held folder with a checkpoint: test/scripts/run_guard.sh. Without one the
  // resume is refused first, and never creates the folder.)
  CHECK_THROWS_WITH(train_classifier(as_manifest(j), resuming()), Catch::Contains("no checkpoint to resume from"));
  CHECK(fs::directory_iterator(dir) != fs::directory_iterator());
  for (const auto& e : fs::directory_iterator(dir)) CHECK(e.path().filename() == ".lock");
}

TEST_CASE("a resume on other training data is refused, naming what changed", "[train][resume][data]") {
  test::TempDir tmp("data-identity");
  // A data folder of links to Fashion-MNIST, so that its files can be replaced.
  const std::string data = tmp.file("data");
  fs::create_directories(data);
  auto link = [&](const std::string& name, const std::string& target) {
    fs::remove(data + "/" + name);
    fs::create_symlink(std::string(kFashionMnistDir) + "/" + target, data + "/" + name);
  };
  for (const char* kind : {"images-idx3", "labels-idx1"}) {
    link(cat("train-", kind, "-ubyte.gz"), cat("train-", kind, "-ubyte.gz"));
    link(cat("t10k-", kind, "-ubyte.gz"), cat("t10k-", kind, "-ubyte.gz"));
  }
  const std::string out = tmp.file("run");
  nlohmann::json j = small_run(out);
  j["data"]["root"] = data;
  TrainOptions kill;
  kill.interrupt = [](int64_t step) { return step == 27; };  // epoch 2, batch 7 of 20
  CHECK(train_classifier(as_manifest(j), kill).empty());
  const std::string manifest_before = slurp(out + "/manifest.json");

  nlohmann::json shrunk = j, grown = j, moved = j;
  shrunk["data"]["train_limit"] = 512;
  grown["data"]["train_limit"] = 3000;
  CHECK_THROWS_WITH(train_classifier(as_manifest(shrunk), resuming()),
                    Catch::Contains("training data changed") && Catch::Contains("training examples 2000 -> 512") &&
                        Catch::Contains("--resume-data-changed") && !Catch::Contains("trim.batch"));
  CHECK_THROWS_WITH(train_classifier(as_manifest(grown), resuming()),
                    Catch::Contains("training examples 2000 -> 3000"));
  moved["data"]["root"] = kFashionMnistDir;
  CHECK_THROWS_WITH(train_classifier(as_manifest(moved), resuming()),
                    Catch::Contains("data.root \"" + data + "\" -> \"" + kFashionMnistDir + "\"") &&
                        !Catch::Contains("fingerprint"));
  // The same root and count, other images: the test split under the training split's names.
  link("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz");
  link("train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz");
  CHECK_THROWS_WITH(train_classifier(as_manifest(j), resuming()),
                    Catch::Contains("fingerprint ") && !Catch::Contains("training examples") &&
                        !Catch::Contains("data.root \""));
  CHECK(slurp(out + "/manifest.json") == manifest_before);  // nothing rewritten by the refusals
  // The user's explicit word: resumed on the new data.
  TrainOptions anyway = resuming();
  anyway.resume_data_changed = true;
  CHECK_FALSE(train_classifier(as_manifest(j), anyway).empty());
}

TEST_CASE("a finished run resumed with more epochs trains on as if it had planned them", "[train][resume][extend]") {
  test::TempDir tmp("extend");
  auto run = [](const std::string& out, int64_t epochs, const std::string& schedule) {
    nlohmann::json j = small_run(out);
    j["schedule"] = {{"kind", schedule}, {"step_size", 1}, {"gamma", 0.5}};
    j["train"]["epochs"] = epochs;
    return as_manifest(j);
  };
  const std::string a = tmp.file("a"), b = tmp.file("b");
  nlohmann::json full = train_classifier(run(a, 2, "step"));
  train_classifier(run(b, 1, "step"));
  const std::string summary_1 = slurp(b + "/summary.json"), manifest_1 = slurp(b + "/manifest.json");
  CHECK_THROWS_WITH(train_classifier(run(b, 2, "cosine"), resuming()),
                    Catch::Contains("schedule.kind \"cosine\"") && Catch::Contains("instead of the checkpoint's 1"));
  CHECK(slurp(b + "/summary.json") == summary_1);
  CHECK(slurp(b + "/manifest.json") == manifest_1);
  nlohmann::json extended = train_classifier(run(b, 2, "step"), resuming());
  CHECK(extended["epochs"] == 2);
  CHECK(extended["steps"] == 40);
  CHECK(test::metrics_without_timing(a) == test::metrics_without_timing(b));
  CHECK(extended["train_loss"] == full["train_loss"]);
  CHECK(test::same_checkpoint_weights(a, b));
  CHECK(same_models(a, b));
  const std::string summary_2 = slurp(b + "/summary.json");
  CHECK_THROWS_WITH(train_classifier(run(b, 1, "step"), resuming()),
                    Catch::Contains("planned 2 epochs, this run 1") && Catch::Contains("cannot be shortened"));
  CHECK(slurp(b + "/summary.json") == summary_2);

  // A method whose schedule depends on the run's epochs is not extended.
  const std::string c = tmp.file("c");
  Planned planned;
  train(run(c, 1, "step"), planned);
  const std::string summary_c = slurp(c + "/summary.json");
  Planned again;
  CHECK_THROWS_WITH(train(run(c, 2, "step"), again, resuming()),
                    Catch::Contains("method 'planned' plans its schedule over the run's epochs"));
  CHECK(slurp(c + "/summary.json") == summary_c);
}

TEST_CASE("cross-entropy stays exact for logits up to the float range", "[ops][loss]") {
  auto loss = [](std::vector<float> z, int32_t label, float eps = 0.0f) {
    return cross_entropy(Tensor::from_vector(Shape{1, int64_t(z.size())}, z),
                         Tensor::from_vector(Shape{1}, std::vector<int32_t>{label}), eps)
        .item();
  };
  // A head bias of 3e38 on every class: the logits are equal, the loss is ln 10 (it was 0).
  CHECK(loss(std::vector<float>(10, 3e38f), 3) == Approx(std::log(10.0f)).epsilon(1e-6));
  CHECK(loss(std::vector<float>(10, 3e38f), 3, 0.1f) == Approx(std::log(10.0f)).epsilon(1e-6));
  // Far apart: the wrong class wins by 3e38, the loss is 3e38; the right class wins, the loss is 0.
  CHECK(loss({3e38f, 0.0f}, 1) == Approx(3e38f).epsilon(1e-6));
  CHECK(loss({3e38f, -3e38f}, 0) == 0.0f);  // m - z of the other class overflows, its q is 0
  // With smoothing the other class's share of 6e38 is beyond the float range: infinite, not NaN.
  CHECK(std::isinf(loss({3e38f, -3e38f}, 0, 0.1f)));
}

TEST_CASE("every saved tensor is checked: a divergence keeps the last good checkpoint", "[train][divergence]") {
  // The check itself: NaN, infinity, a negative variance, each named.
  Tensor ok = Tensor::from_vector(Shape{2}, std::vector<float>{1.0f, 0.0f});
  Tensor inf = Tensor::from_vector(Shape{3}, std::vector<float>{1.0f, INFINITY, 2.0f});
  Tensor neg = Tensor::from_vector(Shape{2}, std::vector<float>{1.0f, -1.0f});
  CHECK_NOTHROW(check_checkpoint_tensors("w", {{"model.0.weight", ok}, {"model.1.running_var", ok}}));
  CHECK_THROWS_WITH(check_checkpoint_tensors("w", {{"model.5.running_var", inf}}),
                    Catch::Contains("'model.5.running_var' holds 1 of 3 entries") && Catch::Contains("index 1"));
  CHECK_THROWS_WITH(check_checkpoint_tensors("w", {{"model.5.running_var", neg}}),
                    Catch::Contains("'model.5.running_var'") && Catch::Contains(">= 0"));
  CHECK_NOTHROW(check_checkpoint_tensors("w", {{"model.5.weight", neg}}));  // only variances are >= 0

  test::TempDir tmp("diverge");
  // lr = 100 (fmnist_cnn's failure): the BatchNorm variances overflow; the run stops with an error
  // and whatever checkpoint is on disk is finite throughout.
  for (int64_t every : {0, 3}) {
    const std::string out = tmp.file(cat("lr100-", every));
    nlohmann::json j = small_run(out);
    j["optimizer"]["lr"] = 100;
    j["train"]["checkpoint_every_steps"] = every;
    CHECK_THROWS_WITH(train_classifier(as_manifest(j)), Catch::Contains("training diverged") &&
                                                            Catch::Contains("kept as it was"));
    if (fs::exists(out + "/checkpoint.safetensors")) CHECK_NOTHROW(read_checkpoint(out + "/checkpoint.safetensors"));
  }
  // A finite but absurd loss: the head's bias set to 1e30 for one class after the first step.
  const std::string out = tmp.file("absurd");
  nlohmann::json j = small_run(out);
  j["train"]["checkpoint_every_steps"] = 4;
  TrainOptions poison;
  poison.step_callbacks.push_back([](Loop& loop, const StepEvent&) {
    if (loop.at().step == 5) {
      std::vector<NamedParameter> ps = loop.run().model->named_parameters();
      Tensor bias = ps.back().tensor;
      std::vector<float> v(size_t(bias.numel()), 0.0f);
      v[7] = 1e30f;
      bias.copy_(Tensor::from_vector(bias.shape(), v));
    }
    return StepAction::go_on;
  });
  CHECK_THROWS_WITH(train_classifier(as_manifest(j), poison),
                    Catch::Contains("above the bound") && Catch::Contains("kept as it was"));
  Checkpoint ck = read_checkpoint(out + "/checkpoint.safetensors");
  CHECK(ck.progress.step == 4);  // the last good one

  // A checkpoint whose variance was set to -1 (with valid checksums) is refused at resume.
  const std::string good = tmp.file("good");
  nlohmann::json g = small_run(good);
  g["train"]["epochs"] = 1;
  train_classifier(as_manifest(g));
  SafetensorsFile f = load_safetensors(good + "/checkpoint.safetensors");
  std::vector<NamedTensor> tensors = f.tensors;
  bool found = false;
  for (NamedTensor& t : tensors)
    if (!found && t.name.find("running_var") != std::string::npos) {
      t.tensor = Tensor::full(t.tensor.shape(), -1.0f);
      found = true;
    }
  REQUIRE(found);
  save_safetensors(good + "/checkpoint.safetensors", tensors, f.metadata);
  CHECK_THROWS_WITH(train_classifier(as_manifest(g), resuming()),
                    Catch::Contains("running_var'") && Catch::Contains("cannot resume"));
}

TEST_CASE("SIGINT and SIGTERM mid-epoch, then --resume, end bit-identical to an uninterrupted run",
          "[train][resume][signals]") {
  test::TempDir tmp("signals");
  install_termination_handler();
  const std::string a = tmp.file("a");
  nlohmann::json full = train_classifier(as_manifest(small_run(a)));
  for (int sig : {SIGINT, SIGTERM}) {
    const std::string b = tmp.file(cat("b", sig));
    TrainOptions hit;
    hit.step_callbacks.push_back([sig](Loop& loop, const StepEvent&) {
      if (loop.at().step == 27) std::raise(sig);  // epoch 2, batch 7 of 20: no checkpoint boundary
      return StepAction::go_on;
    });
    CHECK(train_classifier(as_manifest(small_run(b)), hit).empty());
    CHECK(termination_signal() == sig);
    clear_termination_request();
    Checkpoint ck = read_checkpoint(b + "/checkpoint.safetensors");
    CHECK(ck.progress.step == 27);
    CHECK(ck.progress.batch == 7);
    CHECK(ck.progress.pending.seen == std::vector<int64_t>{700});
    nlohmann::json resumed = train_classifier(as_manifest(small_run(b)), resuming());
    INFO("signal " << sig);
    CHECK(test::metrics_without_timing(a) == test::metrics_without_timing(b));
    CHECK(resumed["train_loss"] == full["train_loss"]);
    CHECK(test::same_checkpoint_weights(a, b));
    CHECK(same_models(a, b));
  }
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
}

TEST_CASE("a checkpoint's metadata and tensor names are covered by a checksum", "[train][checkpoint]") {
  test::TempDir tmp("meta-checksum");
  const std::string out = tmp.file("run");
  nlohmann::json j = small_run(out);
  TrainOptions kill;
  kill.interrupt = [](int64_t step) { return step == 24; };  // after the checkpoint at epoch 2, batch 3
  j["train"]["checkpoint_every_steps"] = 23;
  CHECK(train_classifier(as_manifest(j), kill).empty());
  const std::string path = out + "/checkpoint.safetensors";
  const std::string original = slurp(path);
  REQUIRE_NOTHROW(read_checkpoint(path));
  // (Catch's combined matchers hold references to their parts: spelled out at each use.)
#define REFUSED Catch::Contains("does not match its checksum") && Catch::Contains("trim.header_crc32")
  // In-range lies about the progress.
  for (auto [from, to] : std::vector<std::pair<std::string, std::string>>{{"\"trim.epoch\":\"1\"", "\"trim.epoch\":\"0\""},
                                                                          {"\"trim.batch\":\"3\"", "\"trim.batch\":\"2\""},
                                                                          {"\"trim.seen\":\"0\"", "\"trim.seen\":\"9\""}}) {
    spit(path, original);
    edit_in_place(path, from, to);
    INFO(from << " -> " << to);
    CHECK_THROWS_WITH(read_checkpoint(path), REFUSED);
    CHECK_THROWS_WITH(train_classifier(as_manifest(j), resuming()), REFUSED);
  }
  // Two tensors of the same shape swapped: their data_offsets exchanged in the header (the data
  // and its checksum stay as they were).
  spit(path, original);
  SafetensorsFile f = load_safetensors(path);
  std::string x, y;
  for (size_t i = 0; i < f.tensors.size() && x.empty(); ++i)
    for (size_t k = i + 1; k < f.tensors.size(); ++k)
      if (f.tensors[i].tensor.shape() == f.tensors[k].tensor.shape() && f.tensors[i].name.rfind("model.", 0) == 0 &&
          f.tensors[i].tensor.to_vector<float>() != f.tensors[k].tensor.to_vector<float>()) {
        x = f.tensors[i].name, y = f.tensors[k].name;
        break;
      }
  REQUIRE(!x.empty());
  uint64_t n = 0;
  std::memcpy(&n, original.data(), 8);
  nlohmann::ordered_json header = nlohmann::ordered_json::parse(original.substr(8, size_t(n)));
  std::swap(header[x]["data_offsets"], header[y]["data_offsets"]);
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string bytes(8, '\0');
  const uint64_t len = text.size();
  std::memcpy(bytes.data(), &len, 8);
  spit(path, bytes + text + original.substr(8 + size_t(n)));
  INFO(x << " <-> " << y);
  CHECK_THROWS_WITH(read_checkpoint(path), REFUSED);
  spit(path, original);
  CHECK_NOTHROW(read_checkpoint(path));
#undef REFUSED
}
