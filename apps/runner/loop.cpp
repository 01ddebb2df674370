#include "apps/runner/loop.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "apps/runner/data_parallel.h"
#include "core/autograd/grad_mode.h"
#include "core/log.h"
#include "core/memory.h"
#include "core/ops/ops.h"
#include "core/ops/precision.h"
#include "core/random/generator.h"
#include "layers/profile.h"
#include "spiking/synaptic_ops.h"

namespace trim {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// " of round 2" under several rounds, else "".
std::string of_round(const TrainingMethod& method, int64_t round) {
  return method.rounds() > 1 ? fmt::format(" of round {}", round + 1) : "";
}

}  // namespace

Loop::Loop(Run& run, TrainingMethod& method)
    : r_(run), method_(method), metrics_(run.device), progress_(run.cfg.log_interval_seconds) {
  // bf16: the step keeps a bf16 copy of every parameter for the products (core/ops/precision.h).
  if (run.cfg.precision == Precision::bf16) run.store->enable_bf16_copies();
}

void Loop::add_step_callback(StepCallback callback) { callbacks_.push_back(std::move(callback)); }

void Loop::resume(const Checkpoint& ck) {
  p_ = ck.progress;
  new_optimizer();  // the optimizer the checkpoint's round was using, to receive its state
  apply_checkpoint(ck, *r_.model, *opt_, method_, default_generator());
  // Each rank continues its own unfolded sums, as if never interrupted; under another number of
  // ranks (the same data order, other float sums anyway) they join the totals.
  const PendingSums& pending = p_.pending;
  if (!pending.empty() && int64_t(pending.seen.size()) == r_.comm->world()) {
    metrics_.restore(pending, r_.comm->rank());
  } else {
    for (size_t k = 0; k < pending.seen.size(); ++k) {
      p_.metrics.loss_sum += pending.loss[k];
      p_.metrics.correct += pending.correct[k];
      p_.metrics.seen += pending.seen[k];
    }
  }
  p_.pending = {};
}

int64_t Loop::epochs() const { return method_.round_epochs(p_.round, r_.cfg.epochs); }

MetricTotals Loop::running_totals() const { return metrics_.peek(p_.metrics); }

Eval Loop::evaluate() {
  PrecisionScope precision(r_.cfg.precision);  // the model is evaluated as it trains
  return r_.task->evaluate(*r_.model, *r_.test_loader, r_.test_size, *r_.comm);
}

// The manifest's schedule over this round's epochs (every round restarts it).
LrSchedule Loop::schedule() const {
  LrSchedule s = r_.cfg.schedule;
  s.epochs = epochs();
  if (s.warmup_epochs >= s.epochs)
    throw Error(fmt::format("{}: /schedule/warmup_epochs: {} warm-up epochs do not fit round {} of {} epochs",
                            r_.manifest.source, s.warmup_epochs, p_.round + 1, s.epochs));
  return s;
}

StepInfo Loop::info(int64_t batch, float lr, const LrSchedule* sched) const {
  return {p_.round, p_.epoch, epochs(), batch, r_.batches, p_.step, lr, sched, {}};
}

void Loop::save(const TrainProgress& at) {
  if (!r_.writer()) return;  // rank 0 alone writes; every rank holds the same state
  CheckpointMeta meta;
  meta.progress = at;
  meta.rng_seed = default_generator().seed();
  meta.rng_offset = default_generator().offset();
  meta.manifest = r_.manifest_text;
  meta.shape = {r_.comm->world(), r_.global_batch()};
  meta.data = r_.data_identity;
  for (int64_t k = 0; k < method_.rounds(); ++k) meta.round_epochs.push_back(method_.round_epochs(k, r_.cfg.epochs));
  try {
    save_checkpoint(r_.dir->checkpoint_path(), *r_.model, *opt_, method_, meta);
  } catch (const NonFiniteTensor& e) {
    // A buffer or a state that overflowed while the loss was still finite (a BatchNorm variance):
    // the run has diverged, and the last checkpoint stays the last good one.
    throw Error(fmt::format("{}: training diverged at epoch {}{}, step {}: {}; the run stops here and {} is kept as "
                            "it was (lower optimizer.lr, or clip gradients with optimizer.clip_grad_norm)",
                            r_.manifest.source, p_.epoch + 1, of_round(method_, p_.round), p_.step, e.what(),
                            r_.dir->checkpoint_path()));
  }
}

// The bound on an epoch's mean training loss beyond which the run has diverged: 1e6 times ln C,
// the cross-entropy of the uniform prediction over C classes (what a freshly initialised
// classifier scores, and more than any model that learnt anything scores). Reaching it takes a
// logit gap of about 1e6 ln C between a wrong class and the true one, from which no run recovers;
// a fixed bound needs no reference kept across resumes.
double Loop::loss_bound() const { return 1e6 * std::log(double(std::max(r_.classes, 2))); }

// Stops a diverging run before anything is saved, so the last checkpoint stays the last good one:
// a non-finite gradient, or a mean training loss so far (`totals`) that is not finite or above
// loss_bound().
void Loop::check_finite(const MetricTotals& totals) {
  int64_t bad = opt_->first_nonfinite_step();
  const double mean = totals.seen > 0 ? totals.loss_sum / double(totals.seen) : 0.0;
  if (bad < 0 && std::isfinite(totals.loss_sum) && mean <= loss_bound()) return;
  std::string where = bad >= 0 ? fmt::format("a non-finite gradient at epoch {}, step {} (batch {} of the epoch)",
                                             p_.epoch + 1, bad + 1, bad - clock_.first_step + 1)
                      : !std::isfinite(totals.loss_sum)
                          ? fmt::format("a non-finite training loss in epoch {} (steps {} to {})", p_.epoch + 1,
                                        clock_.first_step + 1, p_.step)
                          : fmt::format("a mean training loss of {:.4g} in epoch {} (steps {} to {}), above the bound "
                                        "of {:.4g} (1e6 x ln {}, the loss of a uniform guess over the classes)",
                                        mean, p_.epoch + 1, clock_.first_step + 1, p_.step, loss_bound(),
                                        std::max(r_.classes, 2));
  throw Error(fmt::format("{}: training diverged: {}{}; the run stops here and {} is kept as it was (lower "
                          "optimizer.lr, or clip gradients with optimizer.clip_grad_norm)",
                          r_.manifest.source, where, of_round(method_, p_.round), r_.dir->checkpoint_path()));
}

// The device sums into the job's totals (progress counts every rank's examples, so a checkpoint
// holds the job's sums); only at an epoch's end.
void Loop::fold() {
  metrics_.fold(p_.metrics, *r_.comm);
  check_finite(p_.metrics);
}

// A checkpoint where training stands, with every rank's unfolded sums (folding here would add the
// epoch's losses in another order than an uninterrupted run does).
void Loop::save_mid_epoch() {
  TrainProgress at = p_;
  at.pending = metrics_.pending(*r_.comm);
  MetricTotals all = p_.metrics;
  for (size_t k = 0; k < at.pending.seen.size(); ++k)
    all.loss_sum += at.pending.loss[k], all.correct += at.pending.correct[k], all.seen += at.pending.seen[k];
  check_finite(all);
  at.seconds = clock_.seconds_before + since(clock_.t0);
  p_.seconds = at.seconds;
  save(at);
}

void Loop::new_optimizer() {
  // A graph that fell back for good (refused, or its capture failed) would do so again with the
  // next round's optimizer: the rest of the run is eager, and its one log line is not repeated.
  if (graph_ && !graph_->fallback().empty()) graph_off_ = true;
  graph_.reset();  // it holds the old optimizer
  opt_ = method_.make_optimizer(r_.store, r_.cfg.sgd);
  if (r_.cfg.cuda_graph && !graph_off_) graph_ = std::make_unique<GraphStep>(r_, method_, *opt_);
}

bool Loop::step(const Batch& batch, float lr, const LrSchedule& sched) {
  StepInfo at = info(batch.index, lr, &sched);
  opt_->set_lr(method_.lr(at, lr));
  opt_->set_step_number(p_.step);
  if (r_.distributed()) broadcast_buffers(*r_.comm, *r_.model);  // running statistics: rank 0's (as DDP)
  TaskStep out;
  if (graph_ && graph_->takes(batch)) {
    // A graph-safe method's before_step touches only scalars, so it may run before the forward.
    method_.before_step(at, *opt_);
    out = graph_->run(batch);
  } else {
    {
      PrecisionScope precision(r_.cfg.precision);  // forward and backward under the run's policy
      out = r_.task->forward(*r_.model, batch);
      Tensor extra = method_.extra_loss(at);
      opt_->zero_grad();
      (extra.defined() ? add(out.loss, extra) : out.loss).backward();
    }
    // Several ranks: wait here for the averaged gradients (the step would otherwise), so the
    // method's hooks see them too.
    if (r_.distributed()) r_.store->finish_backward();
    method_.before_step(at, *opt_);
    opt_->step();
  }
  method_.after_step(at, *opt_);
  {
    NoGradGuard no_grad;
    r_.task->accumulate(out, batch, metrics_);
  }
  ++p_.batch, ++p_.step;
  clock_.images += batch.labels.numel();
  clock_.skipped += batch.skipped;
  return after_step({out, lr, clock_.images, since(clock_.t0)});
}

// The callbacks' verdicts, in order; false when the epoch stops here.
bool Loop::after_step(const StepEvent& event) {
  const bool mid_epoch = p_.batch < r_.batches;
  for (StepCallback& callback : callbacks_) {
    switch (callback(*this, event)) {
      case StepAction::go_on: break;
      case StepAction::save:
        if (mid_epoch) save_mid_epoch();
        break;
      case StepAction::stop:
        stopped_ = true;
        if (mid_epoch) {  // at an epoch's end, end_epoch writes the checkpoint
          save_mid_epoch();
          return false;
        }
        break;
      case StepAction::abandon: return false;
    }
  }
  return true;
}

bool Loop::epoch(nlohmann::json& line) {
  if (p_.epoch == 0 && p_.batch == 0) {  // a round starts: the method's turn, then a fresh optimizer
    method_.begin_round(info(0, r_.cfg.sgd.lr), *r_.model, *r_.store);
    new_optimizer();
  }
  r_.model->train();
  r_.train_loader->start_epoch(p_.epoch, p_.batch);
  clock_ = {Clock::now(), p_.seconds, p_.step - p_.batch, 0, 0};
  const LrSchedule sched = schedule();
  // The epoch's last scheduled lr so far: what the line reports if this session trains no batch
  // (a resume where the method's round is already over).
  float lr = p_.batch > 0 ? sched.lr_at(p_.epoch, p_.batch - 1, r_.batches) : opt_->lr();
  // A method may end its round after any step (round_over); asked again after a resume.
  while (p_.batch == 0 || !method_.round_over(info(p_.batch, lr))) {
    auto b = r_.train_loader->next();
    if (!b) break;
    lr = sched.lr_at(p_.epoch, b->index, r_.batches);
    if (!step(*b, lr, sched)) return false;
  }
  finish_epoch(line, lr);
  return true;
}

// The epoch's training keys: the job's metrics and the slowest rank's times.
void Loop::finish_epoch(nlohmann::json& line, float lr) {
  fold();
  synchronize(r_.device);
  double timing[2] = {since(clock_.t0), r_.reducer ? r_.reducer->take_exposed_seconds() : 0.0};
  max_over_ranks(*r_.comm, timing, "gathering epoch times");
  const double train_seconds = timing[0];
  progress_.done();
  p_.seconds = clock_.seconds_before + train_seconds;
  if (method_.rounds() > 1) line["round"] = p_.round;
  line["epoch"] = p_.epoch;
  line["lr"] = lr;
  r_.task->report(p_.metrics, line);
  line["images_per_second"] = double(clock_.images * r_.comm->world()) / train_seconds;  // every rank's images
  line["seconds"] = train_seconds;
  if (r_.cfg.data.options.skip_bad_files) {  // the job's count: every rank's skips
    double n[1] = {double(clock_.skipped)};
    if (r_.distributed()) r_.comm->all_reduce_host(n, comm::ReduceOp::sum, "reducing the skipped-file count");
    line["skipped_files"] = int64_t(n[0]);
  }
  if (r_.reducer && clock_.images > 0) {
    int64_t steps = (clock_.images + r_.cfg.data.batch_size - 1) / r_.cfg.data.batch_size;
    line["step_seconds"] = train_seconds / double(steps);
    line["exposed_comm_seconds_per_step"] = timing[1] / double(steps);  // not hidden behind backward (max over ranks)
  }
}

void Loop::end_epoch(nlohmann::json& line) {
  const bool last_of_round = p_.epoch + 1 == epochs() || method_.round_over(info(p_.batch, opt_->lr()));
  if (r_.distributed()) broadcast_buffers(*r_.comm, *r_.model);  // one model on every rank
  if ((p_.epoch + 1) % r_.cfg.eval_every == 0 || last_of_round) {
    spiking::EvalRecording spiking_eval(*r_.model);  // spiking models: rates, SOPs, energy of this pass
    last_eval_ = evaluate();
    line["test_loss"] = last_eval_.loss;
    line["test_accuracy"] = last_eval_.accuracy;
    spiking_eval.write(line, *r_.comm);
  }
  StepInfo at = info(r_.batches, opt_->lr());
  at.evaluate = [this] { return evaluate().accuracy; };
  method_.end_epoch(at, *r_.model, *r_.store, line);
  r_.model->take_metrics(line);  // e.g. the firing rates of this epoch's training passes
  line["remaining_macs"] = total_remaining_macs(profile_layers(*r_.model, r_.example_shape, r_.device));
  line["elapsed_seconds"] = p_.seconds;
  line["peak_memory_bytes"] = memory_stats(r_.device).peak;
  r_.dir->append_metrics(line);
  std::string round = method_.rounds() > 1 ? fmt::format("round {}/{}, ", p_.round + 1, method_.rounds()) : "";
  log_info(fmt::format("{}epoch {}/{}: train {}{}, {:.1f} s, {:.0f} img/s", round, p_.epoch + 1, epochs(),
                       r_.task->describe(p_.metrics, " "),
                       line.contains("test_accuracy") ? fmt::format(", test acc {:.4f}", last_eval_.accuracy) : "",
                       line["seconds"].get<double>(), line["images_per_second"].get<double>()));
  if (last_of_round) method_.end_round(info(r_.batches, opt_->lr()), *r_.model, *r_.store);
  // Masks, thresholds and weights are identical on every rank by construction: checked, cheaply.
  check_replicas(*r_.comm, *r_.store, *r_.model, method_, fmt::format("end of epoch {}{}", p_.epoch + 1,
                                                                        of_round(method_, p_.round)));
  TrainProgress next;  // where the next epoch (or round) starts
  next.round = last_of_round ? p_.round + 1 : p_.round;
  next.epoch = last_of_round ? 0 : p_.epoch + 1;
  next.step = p_.step;
  next.seconds = p_.seconds;
  save(next);
  p_ = next;
}

bool Loop::fit() {
  while (p_.round < method_.rounds()) {
    nlohmann::json line;
    if (!epoch(line)) return false;
    end_epoch(line);
    if (stopped_) return false;
  }
  return true;
}

}  // namespace trim
