// GMP's logged target: the one the masks hold (its last pruning event), not the smooth cubic at the
// epoch's end (pruning/README.md#gmp).
#include <catch2/catch.hpp>

#include "pruning/magnitude.h"
#include "test/support/fixtures.h"
#include "test/support/runs.h"

using namespace trim;

TEST_CASE("gmp: the target in force is the cubic at the last pruning event", "[pruning][gmp]") {
  // s_i = 0, s_f = 0.9, t0 = 0, dt = 100, n = 10 (the paper's oracle values at the events).
  auto in_force = [](int64_t t) { return gmp_target_in_force(0.0, 0.9, 0, 100, 10, t); };
  CHECK(in_force(0) == Approx(0.0));
  CHECK(in_force(99) == Approx(0.0));        // event 0 pruned to s_0 = 0
  CHECK(in_force(150) == Approx(0.2439).margin(1e-4));  // event 100, not the curve's 0.3474
  CHECK(gmp_sparsity(0.0, 0.9, 0, 100, 10, 150) == Approx(0.9 - 0.9 * 0.85 * 0.85 * 0.85));
  CHECK(in_force(999) == Approx(0.8991).margin(1e-4));
  CHECK(in_force(1000) == Approx(0.9));
  CHECK(in_force(5000) == Approx(0.9));      // frozen after t0 + n dt
  // Before the first event the masks hold nothing, whatever s_i is.
  CHECK(gmp_target_in_force(0.2, 0.9, 240, 48, 20, 239) == Approx(0.0));
  CHECK(gmp_target_in_force(0.2, 0.9, 240, 48, 20, 240) == Approx(0.2));
}

TEST_CASE("gmp: fmnist_mlp_gmp_90 after its second epoch holds 36.7 %, while the curve reads 43.8 %",
          "[pruning][gmp]") {
  // 240 batches per epoch: the second epoch ends after update 479; events at 240 + 48 j, j <= 25.
  const int64_t last_update = 2 * 240 - 1;
  CHECK(gmp_target_in_force(0.0, 0.9, 240, 48, 25, last_update) == Approx(0.3666).margin(1e-4));  // event 432
  CHECK(gmp_sparsity(0.0, 0.9, 240, 48, 25, last_update) == Approx(0.4378).margin(1e-4));
}

TEST_CASE("gmp: metrics.jsonl logs the target the masks hold, and the masks hold it", "[pruning][gmp][train]") {
  // 6 updates per epoch; events at 1, 4, 7, 10. Epoch 0 ends after update 5: the masks hold event
  // 4's 0.8 (1 - (2/3)^3) = 0.5630, while the curve at 5 reads 0.8 (1 - (5/9)^3) = 0.6628.
  test::TempDir tmp("gmp-target");
  nlohmann::json p = {{"method", "gmp"}, {"target", 0.8}, {"start_step", 1}, {"interval_steps", 3}, {"events", 3}};
  test::run_method(test::mlp_run(tmp.file("run"), p));
  std::vector<nlohmann::json> lines = test::metrics_without_timing(tmp.file("run"));
  REQUIRE(lines.size() == 2);
  CHECK(lines[0]["target_sparsity"].get<double>() == Approx(0.8 * (1.0 - 8.0 / 27.0)));
  CHECK(lines[0]["target_sparsity_curve"].get<double>() == Approx(0.8 * (1.0 - 125.0 / 729.0)));
  CHECK(lines[0]["sparsity"].get<double>() == Approx(lines[0]["target_sparsity"].get<double>()).margin(1e-3));
  CHECK(lines[1]["target_sparsity"].get<double>() == Approx(0.8));
}
