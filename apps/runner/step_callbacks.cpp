#include "apps/runner/step_callbacks.h"

#include <fmt/format.h>

#include "apps/runner/termination.h"

namespace trim {

StepCallback stop_on_termination() {
  return [](Loop& loop, const StepEvent&) {
    double stop = termination_requested() ? 1.0 : 0.0;
    Run& r = loop.run();
    if (r.distributed()) r.comm->all_reduce_host({&stop, 1}, comm::ReduceOp::sum, "agreeing whether to stop (SIGTERM, SIGINT)");
    return stop > 0.0 ? StepAction::stop : StepAction::go_on;
  };
}

StepCallback show_progress() {
  return [](Loop& loop, const StepEvent& step) {
    const Run& r = loop.run();
    if (!r.writer() || !loop.progress_line().due()) return StepAction::go_on;
    const TrainProgress& at = loop.at();
    const int64_t rounds = loop.method().rounds();
    std::string round = rounds > 1 ? fmt::format("round {}/{}  ", at.round + 1, rounds) : "";
    loop.progress_line().show(fmt::format("{}epoch {}/{}  batch {}/{}  {}  lr {:.4g}  {:.0f} img/s", round,
                                          at.epoch + 1, loop.epochs(), at.batch, r.batches,
                                          r.task->describe(loop.running_totals(), "  "), step.lr,
                                          double(step.images) / step.seconds));
    return StepAction::go_on;
  };
}

StepCallback checkpoint_every(int64_t every_steps) {
  return [every_steps](Loop& loop, const StepEvent&) {
    bool due = every_steps > 0 && loop.at().step % every_steps == 0;
    return due ? StepAction::save : StepAction::go_on;
  };
}

}  // namespace trim
