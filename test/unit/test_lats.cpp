// LATS (pruning/README.md#lats): the threshold schedules (oracles 3, 4, 5, 8 and the exact mode), constant
// mode's init (oracle 7), bad settings, and the method end to end on a Fashion-MNIST subset:
// forward = S_d(theta) after every step, the deployed model = S_D(theta), resume mid-pruning.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <map>

#include "apps/runner/trainer.h"
#include "core/io/safetensors.h"
#include "core/ops/ops.h"
#include "core/random/generator.h"
#include "models/models.h"
#include "pruning/lats.h"
#include "pruning/lats_rule.h"
#include "pruning/registry.h"
#include "test/support/fixtures.h"
#include "test/support/runs.h"

using namespace trim;

namespace {

// The method from a "pruning" object, as the apps build it (source "test.json", path "/pruning").
std::unique_ptr<Lats> make_lats(const nlohmann::json& j) {
  static std::vector<nlohmann::json> keep;  // Config keeps a reference to its node
  keep.push_back(j);
  Config c(keep.back(), "test.json", "/pruning");
  std::unique_ptr<TrainingMethod> m = make_pruning_method(c, {"lats"});
  c.finish();
  return std::unique_ptr<Lats>(static_cast<Lats*>(m.release()));
}

nlohmann::json mlp_spec() { return {{"name", "mlp"}, {"in_features", 784}, {"hidden", {64, 32}}, {"num_classes", 10}}; }

// A model with its store, set up as the trainer does it.
struct Attached {
  std::shared_ptr<Module> model;
  std::shared_ptr<ParamStore> store;
};
Attached attach(Lats& m) {
  nlohmann::json spec = mlp_spec();
  Config c(spec, "test.json", "/model");
  Attached a;
  default_generator().set_state(5, 0);
  a.model = build_model(c);
  std::vector<OptimParam> params = optim_params(*a.model);
  m.add_parameters(*a.model, params);
  a.store = std::make_shared<ParamStore>(params);
  m.attach(*a.model, *a.store);
  return a;
}

StepInfo step_at(int64_t epoch, int64_t batch, int64_t epochs, int64_t batches, const LrSchedule* s = nullptr) {
  StepInfo at;
  at.epoch = epoch, at.batch = batch, at.epochs = epochs, at.batches_per_epoch = batches;
  at.step = epoch * batches + batch;
  at.schedule = s;
  if (s) at.lr = s->lr_at(epoch, batch, batches);
  return at;
}

nlohmann::json lats_run(const std::string& out, const nlohmann::json& pruning) {
  nlohmann::json j = test::small_run(out);
  j["data"]["train_limit"] = 600;
  j["data"]["test_limit"] = 200;
  j["model"] = mlp_spec();
  j["optimizer"] = {{"lr", 0.1}, {"momentum", 0.9}, {"nesterov", false}, {"weight_decay", 5e-4}};
  j["train"]["epochs"] = 3;
  j["pruning"] = pruning;
  return j;
}

// Checks after every step that each prunable parameter is S_d(theta) bit for bit, d the
// schedule's value after that step, and that parameters outside the set have no master.
class CheckedLats final : public Lats {
 public:
  using Lats::Lats;
  void attach(Module& model, ParamStore& store) override {
    Lats::attach(model, store);
    store_seen_ = &store;
    CHECK(threshold() == (schedule().kind == LatsSchedule::Kind::constant ? float(schedule().final_threshold) : 0.0f));
  }
  void after_step(const StepInfo& at, SgdBase& opt) override {
    Lats::after_step(at, opt);
    float d = float(schedule().threshold(at.epoch * at.batches_per_epoch + at.batch + 1, at.epochs,
                                         at.batches_per_epoch,
                                         schedule().kind == LatsSchedule::Kind::exact
                                             ? exact_lr_prefix(*at.schedule, at.epochs, at.batches_per_epoch,
                                                               schedule().start_epoch)
                                             : std::vector<double>{}));
    REQUIRE(threshold() == d);
    for (const ParamSlot& s : store_seen_->slots()) {
      if (!s.master.defined()) {
        CHECK(s.param.tensor.ndim() == 1);  // only weights are latent (the mlp's biases are not)
        continue;
      }
      std::vector<float> theta = s.master.to_vector<float>(), w = s.param.tensor.to_vector<float>();
      for (size_t i = 0; i < w.size(); ++i)
        if (w[i] != soft_threshold(theta[i], d)) {
          FAIL_CHECK(s.param.name << "[" << i << "]: w " << w[i] << " theta " << theta[i] << " d " << d);
          return;
        }
    }
    ++checked_;
  }
  int checked_ = 0;

 private:
  ParamStore* store_seen_ = nullptr;
};

std::map<std::string, std::vector<float>> tensors_of(const std::string& path, const std::string& prefix) {
  std::map<std::string, std::vector<float>> out;
  for (const NamedTensor& t : load_safetensors(path).tensors)
    if (t.name.rfind(prefix, 0) == 0 && t.tensor.dtype() == DType::f32)
      out[t.name.substr(prefix.size())] = t.tensor.to_vector<float>();
  return out;
}

}  // namespace

TEST_CASE("S-LATS: pruning/README.md#lats oracle 3", "[lats][schedule]") {
  LatsSchedule s;
  s.final_threshold = 2.0;
  CHECK(s.threshold(1, 1, 4) == Approx(0.9501582).epsilon(1e-7));
  CHECK(s.threshold(2, 1, 4) == Approx(1.6366198).epsilon(1e-7));
  CHECK(s.threshold(4, 1, 4) == 2.0);
  CHECK(s.threshold(0, 1, 4) == 0.0);
  CHECK(2.0 * slats_f(0.25) == Approx(0.9501582).epsilon(1e-7));
}

TEST_CASE("LATS per epoch: pruning/README.md#lats oracle 4, closed form = explicit sum", "[lats][schedule]") {
  LatsSchedule s;
  s.kind = LatsSchedule::Kind::lats;
  s.final_threshold = 1.0;
  const int64_t B = 10;
  std::vector<double> boundary{0.0, 0.4, 0.7414214, 0.9414214, 1.0};
  for (int64_t e = 0; e <= 4; ++e) CHECK(s.threshold(e * B, 4, B) == Approx(boundary[size_t(e)]).margin(1e-7));
  CHECK(s.threshold(B + B / 2, 4, B) == Approx(0.5707107).margin(1e-7));
  for (int64_t E : {1, 2, 3, 4, 7, 100})
    for (int64_t e = 0; e <= E; ++e)
      for (int64_t b : {0, 3, 9}) {
        INFO("E " << E << " e " << e << " b " << b);
        CHECK(lats_f_closed(e, b, B, E) == Approx(lats_f(e, b, B, E)).margin(1e-12));
      }
  // Within an epoch d is linear in the batches: the per-epoch LR sum spread evenly.
  double d1 = s.threshold(2 * B + 1, 4, B), d2 = s.threshold(2 * B + 2, 4, B), d3 = s.threshold(2 * B + 3, 4, B);
  CHECK(d2 - d1 == Approx(d3 - d2).epsilon(1e-12));
}

TEST_CASE("PGH: pruning/README.md#lats oracle 5", "[lats][schedule]") {
  CHECK(pgh_f(0.5, 0.1) == Approx(0.921835).margin(1e-6));
  CHECK(pgh_f(0.5, 10.0) == Approx(0.644038).margin(1e-6));
  for (double beta : {0.01, 0.1, 0.5, 2.0, 10.0}) {
    INFO("beta " << beta);
    CHECK(pgh_f(0.0, beta) == Approx(0.0).margin(1e-12));
    CHECK(pgh_f(1.0, beta) == Approx(1.0).epsilon(1e-12));
    // The slope over beta^x (1 + cos pi x) is one constant: lambda ~ beta^x.
    const double h = 1e-5;
    double first = 0.0;
    for (double x = 0.1; x < 0.95; x += 0.1) {
      double slope = (pgh_f(x + h, beta) - pgh_f(x - h, beta)) / (2 * h);
      double ratio = slope / (std::pow(beta, x) * (1.0 + std::cos(M_PI * x)));
      if (first == 0.0) first = ratio;
      CHECK(ratio == Approx(first).epsilon(1e-6));
    }
  }
  CHECK(pgh_f(0.3, 1.0) == slats_f(0.3));                               // beta = 1 is S-LATS
  CHECK(pgh_f(0.3, 1.0 + 1e-6) == Approx(slats_f(0.3)).epsilon(1e-5));  // and its limit
}

TEST_CASE("the exact mode follows the real LR table; the start epoch delays every schedule", "[lats][schedule]") {
  LrSchedule lr;
  lr.kind = LrSchedule::Kind::cosine;
  lr.base_lr = 0.256f;
  lr.epochs = 6;
  lr.warmup_epochs = 2;  // the increments follow the warm-up, which the closed forms ignore
  const int64_t B = 5, E = 6;
  LatsSchedule s;
  s.kind = LatsSchedule::Kind::exact;
  s.final_threshold = 0.5;
  for (int64_t P : {0, 1, 3}) {
    INFO("start epoch " << P);
    s.start_epoch = P;
    std::vector<double> prefix = exact_lr_prefix(lr, E, B, P);
    REQUIRE(prefix.size() == size_t((E - P) * B + 1));
    double total = 0.0;
    for (int64_t e = P; e < E; ++e)
      for (int64_t b = 0; b < B; ++b) total += double(lr.lr_at(e, b, B));
    double d = 0.0;
    for (int64_t k = 0; k < E * B; ++k) {  // d_{k+1} = d_k + D eta_k / sum eta from epoch P on
      int64_t e = k / B, b = k % B;
      if (e >= P) d += 0.5 * double(lr.lr_at(e, b, B)) / total;
      CHECK(s.threshold(k + 1, E, B, prefix) == Approx(d).margin(1e-12));
      if (e < P) CHECK(s.threshold(k + 1, E, B, prefix) == 0.0);
    }
    CHECK(s.threshold(E * B, E, B, prefix) == 0.5);
  }
  // A constant LR makes the exact mode linear in the iterations.
  LrSchedule flat;
  flat.base_lr = 0.1f;
  flat.epochs = 4;
  s.start_epoch = 0;
  std::vector<double> prefix = exact_lr_prefix(flat, 4, 3, 0);
  for (int64_t n = 0; n <= 12; ++n) CHECK(s.threshold(n, 4, 3, prefix) == Approx(0.5 * double(n) / 12.0).margin(1e-12));
  // Every closed form is 0 before the start epoch and spans the rest.
  LatsSchedule late;
  late.final_threshold = 1.0;
  late.start_epoch = 2;
  CHECK(late.threshold(2 * B, 4, B) == 0.0);
  CHECK(late.threshold(3 * B, 4, B) == Approx(slats_f(0.5)).epsilon(1e-12));
  CHECK(late.threshold(4 * B, 4, B) == 1.0);
}

TEST_CASE("the method sets the threshold of the next forward: d = D f(k / N) after k steps (oracle 8)",
          "[lats][method]") {
  auto m = make_lats({{"method", "lats"}, {"final_threshold", 0.03}});
  Attached a = attach(*m);
  std::unique_ptr<SgdBase> opt = m->make_optimizer(a.store, {0.1f, 0.9f, false, 0.0f});
  CHECK(m->threshold() == 0.0f);  // the first forward uses d = 0
  auto* lats = dynamic_cast<Sgd<LatsRule>*>(opt.get());
  REQUIRE(lats);
  const int64_t E = 3, B = 4, N = E * B;
  for (int64_t k = 0; k < N; ++k) {
    m->before_step(step_at(k / B, k % B, E, B), *opt);
    CHECK(m->threshold() == float(0.03 * slats_f(double(k + 1) / double(N))));
    CHECK(lats->rule_scalars().threshold == m->threshold());
  }
  CHECK(m->threshold() == 0.03f);
  // Only the prunable weights are latent: biases keep a plain (dense) step.
  for (const ParamSlot& s : a.store->slots()) CHECK(s.master.defined() == (s.param.tensor.ndim() == 2));
}

TEST_CASE("constant mode starts theta at sign(w)(|w| + D): S_D(theta_0) = w_0 (oracle 7)", "[lats][method]") {
  const float D = 0.05f;
  default_generator().set_state(5, 0);
  std::vector<float> w0;
  {
    auto dense = make_lats({{"method", "lats"}, {"final_threshold", D}});
    Attached a = attach(*dense);
    w0 = a.model->named_parameters().front().tensor.to_vector<float>();
  }
  auto m = make_lats({{"method", "lats"}, {"final_threshold", D}, {"schedule", "constant"}});
  CHECK(m->threshold() == D);
  Attached a = attach(*m);
  const ParamSlot& s = a.store->slot(0);
  std::vector<float> theta = s.master.to_vector<float>(), w = s.param.tensor.to_vector<float>();
  REQUIRE(w0.size() == w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    REQUIRE(w0[i] != 0.0f);
    CHECK(std::fabs(theta[i]) == std::fabs(w0[i]) + D);
    CHECK(std::signbit(theta[i]) == std::signbit(w0[i]));
    CHECK(w[i] == soft_threshold(theta[i], D));          // forward = S_D(theta) exactly
    CHECK(std::fabs(w[i] - w0[i]) <= 4e-9f);             // = w_0 up to the rounding of |w_0| + D
  }
}

TEST_CASE("LATS settings: one clear error naming the JSON path", "[lats][config]") {
  using Catch::Contains;
  nlohmann::json ok = {{"method", "lats"}, {"final_threshold", 0.1}};
  auto with = [&](const char* key, nlohmann::json v) {
    nlohmann::json j = ok;
    j[key] = v;
    return j;
  };
  CHECK_THROWS_WITH(make_lats(with("schedule", "pgh")), Contains("test.json: /pruning/beta"));
  for (double beta : {0.0, -0.5}) {
    nlohmann::json j = with("schedule", "pgh");
    j["beta"] = beta;
    CHECK_THROWS_WITH(make_lats(j), Contains("test.json: /pruning/beta: expected a number in [1e-06, 1000000], found"));
  }
  nlohmann::json pgh1 = with("schedule", "pgh");
  pgh1["beta"] = 1.0;
  CHECK(make_lats(pgh1)->schedule().kind == LatsSchedule::Kind::slats);
  pgh1["beta"] = 0.1;
  CHECK(make_lats(pgh1)->schedule().kind == LatsSchedule::Kind::pgh);
  CHECK_THROWS_WITH(make_lats(with("beta", 0.5)), Contains("/pruning/beta: unknown key"));  // not PGH
  CHECK_THROWS_WITH(make_lats({{"method", "lats"}}), Contains("test.json: /pruning/final_threshold"));
  CHECK_THROWS_WITH(make_lats(with("final_threshold", 0.0)), Contains("/pruning/final_threshold: expected a number in [1e-30, 100], found 0"));
  CHECK_THROWS_WITH(make_lats(with("final_threshold", -1.0)), Contains("/pruning/final_threshold"));
  CHECK_THROWS_WITH(make_lats(with("schedule", "cosine")), Contains("/pruning/schedule"));
  CHECK_THROWS_WITH(make_lats(with("start_epoch", -1)), Contains("/pruning/start_epoch: expected an integer in [0, 1000000], found -1"));
  nlohmann::json c = with("schedule", "constant");
  c["start_epoch"] = 1;
  CHECK_THROWS_WITH(make_lats(c), Contains("/pruning/start_epoch: the constant schedule"));

  // A start epoch the run does not reach is refused before training.
  test::TempDir tmp("lats-bad");
  nlohmann::json run = lats_run(tmp.file("late"), with("start_epoch", 3));
  auto m = make_lats(run["pruning"]);
  CHECK_THROWS_WITH(train(test::as_manifest(run), *m),
                    Contains("test.json: /pruning/start_epoch: pruning from epoch 3") && Contains("the run has 3"));
  // The exact mode outside the trainer has no LR table.
  auto exact = make_lats(with("schedule", "exact"));
  Attached a = attach(*exact);
  auto opt = exact->make_optimizer(a.store, {});
  CHECK_THROWS_WITH(exact->before_step(step_at(0, 0, 2, 2), *opt), Contains("/pruning/schedule: the exact mode needs"));
}

TEST_CASE("LATS end to end: forward = S_d(theta) every step, deployed = S_D(theta), sparsity > 0",
          "[lats][method][train]") {
  test::TempDir tmp("lats-e2e");
  for (const char* kind : {"slats", "exact"}) {
    INFO("schedule " << kind);
    std::string out = tmp.file(kind);
    nlohmann::json j = lats_run(out, {{"method", "lats"}, {"final_threshold", 0.03}, {"schedule", kind}});
    j["schedule"] = {{"kind", "cosine"}, {"warmup_epochs", 1}, {"per_iteration", true}};
    Config pc(j["pruning"], "test.json", "/pruning");
    CheckedLats checked(pc);
    pc.finish();
    nlohmann::json summary = train(test::as_manifest(j), checked);
    CHECK(checked.checked_ == 18);  // 3 epochs x 6 steps
    CHECK(summary["method"] == "lats");
    double sparsity = summary["sparsity"].get<double>();
    CHECK(sparsity > 0.3);
    CHECK(sparsity < 1.0);
    CHECK(summary["test_accuracy"].get<double>() > 0.4);

    auto metrics = test::metrics_without_timing(out);
    REQUIRE(metrics.size() == 3);
    CHECK(metrics[2]["threshold"].get<double>() == double(0.03f));
    CHECK(metrics[0]["threshold"].get<double>() < metrics[1]["threshold"].get<double>());
    CHECK(metrics[0]["sparsity"].get<double>() < metrics[2]["sparsity"].get<double>());
    CHECK(metrics[2]["sparsity"].get<double>() == Approx(sparsity).margin(1e-12));
    CHECK(metrics[0]["newly_pruned"].get<int64_t>() > 0);
    CHECK(metrics[2].contains("regrown"));
    CHECK(metrics[2].contains("pqi"));

    // The deployed model holds S_D(theta), theta from the last checkpoint (written after the
    // last step); biases trained although they start at 0.
    auto deployed = tensors_of(out + "/model.safetensors", "");
    auto masters = tensors_of(out + "/checkpoint.safetensors", "optim.master.");
    REQUIRE(masters.size() == 3);
    int64_t zeros = 0, n = 0;
    for (const auto& [name, theta] : masters) {
      const std::vector<float>& w = deployed.at(name);
      REQUIRE(w.size() == theta.size());
      for (size_t i = 0; i < w.size(); ++i) {
        REQUIRE(w[i] == soft_threshold(theta[i], 0.03f));
        zeros += w[i] == 0.0f, ++n;
      }
    }
    CHECK(double(zeros) / double(n) == Approx(sparsity).margin(1e-12));
    int biases = 0;
    for (const auto& [name, t] : deployed) {
      if (name.find("bias") == std::string::npos) continue;
      ++biases;
      bool moved = false;
      for (float b : t) moved = moved || b != 0.0f;
      CHECK(moved);
    }
    CHECK(biases == 3);
  }
}

TEST_CASE("LATS resumed mid-pruning ends bit for bit as an uninterrupted run", "[lats][method][train][resume]") {
  test::TempDir tmp("lats-resume");
  struct Case {
    nlohmann::json pruning;
    int64_t kill_at;
  };
  std::vector<Case> cases{
      {{{"method", "lats"}, {"final_threshold", 0.03}}, 9},                                        // mid-epoch 1
      {{{"method", "lats"}, {"final_threshold", 0.03}, {"schedule", "exact"}, {"start_epoch", 1}}, 5},  // before P
      {{{"method", "lats"}, {"final_threshold", 0.03}, {"schedule", "lats"}}, 12},                 // epoch 2's last step
  };
  for (size_t c = 0; c < cases.size(); ++c) {
    INFO("case " << c);
    std::string a = tmp.file(cat("a", c)), b = tmp.file(cat("b", c));
    nlohmann::json ja = lats_run(a, cases[c].pruning), jb = lats_run(b, cases[c].pruning);
    ja["train"]["checkpoint_every_steps"] = 2;
    jb["train"]["checkpoint_every_steps"] = 2;
    nlohmann::json full = train(test::as_manifest(ja), *make_lats(ja["pruning"]));
    TrainOptions kill;
    int64_t at = cases[c].kill_at;
    kill.interrupt = [at](int64_t step) { return step == at; };
    CHECK(train(test::as_manifest(jb), *make_lats(jb["pruning"]), kill).empty());
    TrainOptions resume;
    resume.resume = true;
    nlohmann::json resumed = train(test::as_manifest(jb), *make_lats(jb["pruning"]), resume);
    CHECK(test::metrics_without_timing(a) == test::metrics_without_timing(b));
    CHECK(resumed["test_accuracy"] == full["test_accuracy"]);
    CHECK(resumed["sparsity"] == full["sparsity"]);
    CHECK(full["sparsity"].get<double>() > 0.0);
    CHECK(test::same_checkpoint_weights(a, b));
    CHECK(tensors_of(a + "/model.safetensors", "") == tensors_of(b + "/model.safetensors", ""));
  }
}

TEST_CASE("LatsRule: a plain (non-latent) slot trains from exact zeros and is not thresholded", "[lats][engine]") {
  LatsRule::Params plain{0}, latent{};
  LatsRule::Scalars k{0.1f};
  CHECK(LatsRule::grad(plain, k, 0, 0.0f, 0.5f) == 0.5f);   // BN beta / a bias at 0 still learns
  CHECK(LatsRule::grad(latent, k, 0, 0.0f, 0.5f) == 0.0f);  // a latent exact zero never moves
  CHECK(LatsRule::store(plain, k, 0, 0.05f) == 0.05f);
  CHECK(LatsRule::store(latent, k, 0, 0.05f) == 0.0f);
  Tensor b = Tensor::zeros(Shape{3});
  b.set_requires_grad(true);
  Sgd<LatsRule> opt({{"b", b, false}}, {0.1f, 0.9f, false, 0.0f});
  opt.set_rule_params(0, plain);
  opt.zero_grad();
  sum(b).backward();
  opt.step();
  CHECK(b.to_vector<float>() == std::vector<float>{-0.1f, -0.1f, -0.1f});
}
