#pragma once
// LATS threshold schedules (pruning/README.md#lats, "Schedules"): the threshold in force after n of the N
// pruning iterations is d = D * f(x), x = n / N, f(0) = 0, f(1) = 1.
//   slats     S-LATS, per iteration: f(x) = x + sin(pi x) / pi (slope ~ 1 + cos(pi x), a cosine LR)
//   lats      LATS, the exact per-epoch LR sum of a warm-up-free cosine over the E pruning epochs:
//             f = [sum_{j<e} (1 + cos(pi j / E)) + (b / B)(1 + cos(pi e / E))] / (E + 1)
//   pgh       PGH with base beta > 0 (implied lambda ~ beta^x); beta = 1 is S-LATS (its 0/0 limit)
//   constant  d = D from the first step (the method starts theta at sign(w)(|w| + D))
//   exact     d_n = D * sum_{i<n} eta_i / sum_{i<N} eta_i over the run's real LR table
// Pruning starts at epoch P (start_epoch): d = 0 before it, and the schedule spans the remaining
// (E_total - P) * B iterations.
#include <cstdint>
#include <string>
#include <vector>

#include "core/optim/schedule.h"

namespace trim {

// S-LATS: x + sin(pi x) / pi, x clamped to [0, 1].
double slats_f(double x);
// LATS after b of B batches of pruning epoch e (0-based) of E, by the explicit sum.
double lats_f(int64_t e, int64_t b, int64_t B, int64_t E);
// The same through the closed form of the sum: 1/2 (1 + 2e + sin(pi (e - 1/2) / E) / sin(pi / (2E))).
double lats_f_closed(int64_t e, int64_t b, int64_t B, int64_t E);
// PGH: [pi^2 (beta^x - 1) + (beta^x - 2) L^2 + beta^x L (L cos(pi x) + pi sin(pi x))] / [pi^2 (beta - 1) - 2 L^2],
// L = ln beta; beta > 0; beta = 1 gives slats_f.
double pgh_f(double x, double beta);

struct LatsSchedule {
  enum class Kind { slats, lats, pgh, constant, exact };
  Kind kind = Kind::slats;
  double final_threshold = 0.0;  // D
  double beta = 1.0;             // PGH only
  int64_t start_epoch = 0;       // P

  // The threshold after `done` iterations (0-based count within the run, so done = 0 is the first
  // forward pass) of a run of `epochs` epochs of `batches` batches each. `lr_prefix` is the exact
  // mode's table (exact_lr_prefix), unused otherwise.
  double threshold(int64_t done, int64_t epochs, int64_t batches, const std::vector<double>& lr_prefix = {}) const;
};

// "slats" | "lats" | "pgh" | "constant" | "exact"; false for an unknown name.
bool parse_lats_kind(const std::string& name, LatsSchedule::Kind& kind);
std::string lats_kind_name(LatsSchedule::Kind kind);

// The exact mode's table over the pruning iterations of the run: entry n = sum of the first n
// learning rates from epoch `start_epoch` on, each the float the step uses
// (schedule.lr_at(epoch, batch, batches)), summed in double; N + 1 entries.
std::vector<double> exact_lr_prefix(const LrSchedule& schedule, int64_t epochs, int64_t batches, int64_t start_epoch);

}  // namespace trim
