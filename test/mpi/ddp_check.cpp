// trim_ddp_check: data-parallel training checks, run by CTest under mpirun (see CMakeLists.txt and
// run_mpi.sh). One scenario per call; every rank runs it and exits 0 only when every check holds.
//   match   N ranks x batch b against one process x batch N*b, step for step (MLP, no BN/dropout)
//   bn      a CNN with batch norm under 2 ranks against one process: the same accuracy floor
//   prune   gradual magnitude pruning under 2 ranks: identical masks (replica digests) on every rank
//   resume  2 ranks interrupted mid-epoch and resumed end like an uninterrupted 2-rank run; resumed
//           by one process with the same global batch they end alike (float tolerance)
//   sigterm SIGTERM to one rank: all stop at one step with a checkpoint; resuming ends the same
//   kill / hang / raise   rank 1 dies by SIGKILL / stops answering / throws at step 5; the others
//           must end the job (run_mpi.sh checks the exit status and the time it took)
//   bandwidth   all-reduce bandwidth (algorithm and bus) for 1..64 MB, one JSON line per size
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "apps/runner/data_parallel.h"
#include "apps/runner/termination.h"
#include "apps/runner/trainer.h"
#include "core/config.h"
#include "core/comm/communicator.h"
#include "core/error.h"
#include "core/log.h"
#include "pruning/registry.h"

using namespace trim;
using nlohmann::json;

namespace {

int failures = 0;
comm::Communicator* g_comm = nullptr;

void check(bool ok, const std::string& what) {
  std::fprintf(stderr, "[rank %d] %s: %s\n", g_comm ? g_comm->rank() : 0, ok ? "ok" : "FAILED", what.c_str());
  if (!ok) ++failures;
}

Manifest manifest(const json& j) { return Manifest{j, "ddp_check.json", "ddp_check.json"}; }

json mlp_run(const std::string& output, int64_t batch, int64_t train_limit) {
  return {{"name", "ddp_check"},
          {"device", "cpu"},
          {"output", output},
          {"seed", 5},
          {"threads", 1},
          {"data", {{"batch_size", batch}, {"eval_batch_size", 250}, {"train_limit", train_limit},
                    {"test_limit", 1000}, {"workers", 1}}},
          {"model", {{"name", "mlp"}, {"hidden", {64}}}},
          {"optimizer", {{"lr", 0.05}, {"momentum", 0.9}, {"nesterov", true}, {"weight_decay", 5e-4},
                         {"clip_grad_norm", 1.0}}},
          {"schedule", {{"kind", "cosine"}, {"per_iteration", true}}},
          {"train", {{"epochs", 2}, {"log_interval_seconds", 1000}}},
          {"distributed", {{"timeout_seconds", 60}, {"bucket_mb", 0.05}, {"first_bucket_mb", 0.01}}}};
}

uint64_t digest_of(const json& summary) { return std::stoull(summary.at("replica_digest").get<std::string>(), nullptr, 16); }

// Every rank holds the same replica digest.
void check_same_digest(comm::Communicator& comm, const json& summary, const std::string& what) {
  std::vector<uint64_t> all = comm.all_gather(digest_of(summary), "gathering digests");
  bool same = true;
  for (uint64_t h : all) same = same && h == all[0];
  check(same, what + ": bit-identical weights, masks and state on every rank (digest " +
                  summary.at("replica_digest").get<std::string>() + ")");
}

void fresh(comm::Communicator& comm, const std::string& dir) {
  if (comm.rank() == 0) std::filesystem::remove_all(dir);
  comm.barrier("clearing " + dir);
}

// N ranks x batch b vs one process x N*b: the same examples per step in the same order.
void scenario_match(comm::Communicator& comm, const std::string& base) {
  const int64_t w = comm.world();
  const int64_t b = w == 2 ? 64 : 32;
  const int64_t limit = w * b * 8;  // 8 steps per epoch, no padding
  fresh(comm, base);
  std::vector<double> losses;
  TrainOptions o;
  o.on_step = [&](int64_t, double loss) { losses.push_back(loss); };
  DenseTraining dense_ddp;
  json ddp = train(manifest(mlp_run(base + "/ddp", b, limit)), dense_ddp, o);
  comm.all_reduce_host(losses, comm::ReduceOp::avg, "averaging losses");  // equal batches: the global mean
  check(ddp.at("world_size") == w && ddp.at("global_batch_size") == w * b, "summary has world_size and global_batch_size");
  check_same_digest(comm, ddp, "after training");
  if (comm.rank() == 0) {
    check(std::filesystem::exists(base + "/ddp/summary.json") && std::filesystem::exists(base + "/ddp/checkpoint.safetensors"),
          "rank 0 wrote the run folder");
    auto single = comm::make_single_communicator();
    std::vector<double> ref;
    TrainOptions ro;
    ro.comm = single.get();
    ro.on_step = [&](int64_t, double loss) { ref.push_back(loss); };
    DenseTraining dense;
    json one = train(manifest(mlp_run(base + "/single", w * b, limit)), dense, ro);
    check(ref.size() == losses.size() && ref.size() == 16, fmt::format("{} steps on both sides", ref.size()));
    double worst = 0.0;
    for (size_t i = 0; i < std::min(ref.size(), losses.size()); ++i)
      worst = std::max(worst, std::abs(ref[i] - losses[i]) / std::max(1.0, std::abs(ref[i])));
    std::fprintf(stderr, "losses: step 1 %.6f vs %.6f, step %zu %.6f vs %.6f; worst relative difference %.3g\n",
                 losses.front(), ref.front(), ref.size(), losses.back(), ref.back(), worst);
    check(worst < 2e-4, fmt::format("{} ranks x {} matches 1 x {} step for step (worst relative loss difference {:.3g})",
                                    w, b, w * b, worst));
    double da = ddp.at("test_accuracy").get<double>(), oa = one.at("test_accuracy").get<double>();
    check(std::abs(da - oa) <= 0.005, fmt::format("test accuracy {:.4f} ({} ranks) vs {:.4f} (one process)", da, w, oa));
  }
  comm.barrier("end of match");
}

void scenario_bn(comm::Communicator& comm, const std::string& base) {
  fresh(comm, base);
  auto run = [&](const std::string& out, int64_t batch) {
    json j = mlp_run(out, batch, 2000);
    j["model"] = {{"name", "cnn_small"}, {"widths", {4, 8}}, {"hidden", 16}};
    j["data"]["test_limit"] = 500;
    return j;
  };
  DenseTraining dense;
  json ddp = train(manifest(run(base + "/ddp", 50)), dense);
  check_same_digest(comm, ddp, "BN run");
  if (comm.rank() == 0) {
    auto single = comm::make_single_communicator();
    TrainOptions ro;
    ro.comm = single.get();
    DenseTraining d1;
    json one = train(manifest(run(base + "/single", 100)), d1, ro);
    double da = ddp.at("test_accuracy").get<double>(), oa = one.at("test_accuracy").get<double>();
    check(da >= 0.6 && oa >= 0.6, fmt::format("accuracy floor 0.6: {:.4f} (2 ranks) and {:.4f} (one process)", da, oa));
    check(std::abs(da - oa) <= 0.05, fmt::format("within 5 points of each other: {:.4f} vs {:.4f}", da, oa));
  }
  comm.barrier("end of bn");
}

void scenario_prune(comm::Communicator& comm, const std::string& base) {
  fresh(comm, base);
  json j = mlp_run(base + "/gmp", 64, 1024);
  j["pruning"] = {{"method", "gmp"}, {"target", 0.8}, {"start_step", 2}, {"interval_steps", 2}, {"events", 5},
                  {"scope", "layer"}};
  Config pc(j["pruning"], "ddp_check.json", "/pruning");
  std::unique_ptr<TrainingMethod> method = make_pruning_method(pc, {"gmp"});
  pc.finish();
  json s = train(manifest(j), *method);
  check_same_digest(comm, s, "gradual magnitude pruning");
  if (s.contains("sparsity"))
    check(std::abs(s["sparsity"].get<double>() - 0.8) < 0.02, fmt::format("sparsity {:.4f} reached", s["sparsity"].get<double>()));
  if (comm.rank() == 0) std::fprintf(stderr, "summary: %s\n", s.dump().substr(0, 600).c_str());
  comm.barrier("end of prune");
}

void scenario_resume(comm::Communicator& comm, const std::string& base) {
  fresh(comm, base);
  auto run = [&](const std::string& out) {
    json j = mlp_run(out, 64, 1024);
    j["train"]["checkpoint_every_steps"] = 5;
    return j;
  };
  DenseTraining a, b1, b2;
  json full = train(manifest(run(base + "/full")), a);
  TrainOptions kill;
  kill.interrupt = [](int64_t step) { return step == 11; };  // mid-epoch 2, after the checkpoint at step 10
  json none = train(manifest(run(base + "/cut")), b1, kill);
  check(none.empty(), "the interrupted run returns no summary");
  TrainOptions resume;
  resume.resume = true;
  json resumed = train(manifest(run(base + "/cut")), b2, resume);
  check(resumed.at("steps") == full.at("steps"), "resumed run takes the same number of steps");
  check(digest_of(resumed) == digest_of(full), "resumed 2-rank run ends bit-identical to the uninterrupted one (digest " +
                                                   resumed.at("replica_digest").get<std::string>() + ")");
  check(resumed.at("test_accuracy") == full.at("test_accuracy") && resumed.at("train_loss") == full.at("train_loss"),
        fmt::format("same metrics: test accuracy {} vs {}, train loss {} vs {}", resumed.at("test_accuracy").dump(),
                    full.at("test_accuracy").dump(), resumed.at("train_loss").dump(), full.at("train_loss").dump()));

  // Another world size that divides the data the same way (1 process x 128 = 2 x 64) resumes the
  // 2-rank checkpoint; one that does not (1 x 64) is refused.
  DenseTraining c1;
  json none2 = train(manifest(run(base + "/cut2")), c1, kill);
  check(none2.empty(), "a second 2-rank run interrupted at step 11");
  if (comm.rank() == 0) {
    auto single = comm::make_single_communicator();
    TrainOptions one;
    one.resume = true;
    one.comm = single.get();
    DenseTraining c2, c3;
    json j = run(base + "/cut2");
    j["data"]["batch_size"] = 32;
    bool refused = false;
    try {
      train(manifest(j), c2, one);
    } catch (const Error& e) {
      refused = std::string(e.what()).find("divides the data differently") != std::string::npos;
      std::fprintf(stderr, "refused as expected: %s\n", e.what());
    }
    check(refused, "resuming 2 x 64 as 1 x 32 is refused (another global batch)");
    j["data"]["batch_size"] = 128;
    json r1 = train(manifest(j), c3, one);
    check(r1.at("world_size") == 1 && r1.at("steps") == full.at("steps"), "resumed by one process x 128");
    double da = r1.at("test_accuracy").get<double>(), fa = full.at("test_accuracy").get<double>();
    double dl = r1.at("train_loss").get<double>(), fl = full.at("train_loss").get<double>();
    check(std::abs(da - fa) <= 0.005 && std::abs(dl - fl) <= 1e-3 * std::max(1.0, fl),
          fmt::format("a 2-rank run resumed by 1 process ends like the 2-rank run: accuracy {:.4f} vs {:.4f}, train "
                      "loss {:.6f} vs {:.6f}", da, fa, dl, fl));
  }
  comm.barrier("end of resume");
}

// SIGTERM to rank 1 alone mid-epoch: every rank stops at the same step, rank 0 writes a
// checkpoint of that step, and resuming ends like the uninterrupted run.
void scenario_sigterm(comm::Communicator& comm, const std::string& base) {
  fresh(comm, base);
  install_termination_handler();
  auto run = [&](const std::string& out) { return mlp_run(out, 64, 1024); };  // no step checkpoints
  DenseTraining a, b1, b2;
  json full = train(manifest(run(base + "/full")), a);
  TrainOptions term;
  int rank = comm.rank();
  term.interrupt = [rank](int64_t step) {
    if (rank == 1 && step == 11) std::raise(SIGTERM);
    return false;
  };
  json none = train(manifest(run(base + "/term")), b1, term);
  check(none.empty() && termination_requested() == (rank == 1), "SIGTERM stops the run on every rank");
  clear_termination_request();
  comm.barrier("after SIGTERM");
  TrainOptions resume;
  resume.resume = true;
  json resumed = train(manifest(run(base + "/term")), b2, resume);
  check(digest_of(resumed) == digest_of(full) && resumed.at("test_accuracy") == full.at("test_accuracy"),
        "resumed from the SIGTERM checkpoint (step 11, mid-epoch 2), the run ends bit-identical to the uninterrupted one");
  comm.barrier("end of sigterm");
}

// Rank 1 fails at step 5 in the way named; the job must end (run_mpi.sh times it).
void scenario_failure(comm::Communicator& comm, const std::string& base, const std::string& how) {
  fresh(comm, base);
  json j = mlp_run(base + "/fail", 32, 2048);
  j["distributed"]["timeout_seconds"] = 10;
  TrainOptions o;
  int rank = comm.rank();
  o.interrupt = [&](int64_t step) {
    if (rank == 1 && step == 5) {
      std::fprintf(stderr, "[rank 1] %s at step 5 (on purpose)\n", how.c_str());
      if (how == "kill") std::raise(SIGKILL);
      if (how == "hang") std::this_thread::sleep_for(std::chrono::hours(1));
      if (how == "raise") throw Error("rank 1 raises at step 5 (on purpose)");
    }
    return false;
  };
  DenseTraining dense;
  train(manifest(j), dense, o);
  check(false, "the job should have ended before training finished");
}

// All-reduce bandwidth of this communicator: algorithm bandwidth S / t and NCCL's bus bandwidth
// algbw * 2 (n - 1) / n, the number a ring moves per link (what scaling estimates start from).
void scenario_bandwidth(comm::Communicator& comm) {
  for (int64_t mb : {1, 4, 16, 64}) {
    std::vector<float> buf(static_cast<size_t>(mb) * 262144, 1.0f);
    comm.all_reduce_async(buf.data(), int64_t(buf.size()), comm::ReduceOp::sum, "warm-up")->wait();
    comm.barrier("bandwidth");
    const int reps = 5;
    auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < reps; ++r) comm.all_reduce_async(buf.data(), int64_t(buf.size()), comm::ReduceOp::sum, "bw")->wait();
    double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
    double algbw = double(buf.size() * 4) / t / 1e9, n = comm.world();
    if (comm.rank() == 0)
      std::printf("{\"bytes\": %zu, \"seconds\": %.6f, \"algbw_GBps\": %.3f, \"busbw_GBps\": %.3f, \"ranks\": %d}\n",
                  buf.size() * 4, t, algbw, algbw * 2.0 * (n - 1) / n, comm.world());
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: trim_ddp_check match|bn|prune|resume|sigterm|kill|hang|raise|bandwidth OUTPUT_DIR (under mpirun)\n");
    return 2;
  }
  const std::string scenario = argv[1], base = argv[2];
  int status = 0;
  try {
    const comm::Launch& job = comm::launch();
    if (job.world < 2) throw Error("trim_ddp_check needs at least 2 ranks (mpirun -np 2 ...)");
    auto comm = comm::make_communicator(Device::cpu(), 120.0);
    g_comm = comm.get();
    if (scenario == "match") scenario_match(*comm, base);
    else if (scenario == "bn") scenario_bn(*comm, base);
    else if (scenario == "prune") scenario_prune(*comm, base);
    else if (scenario == "resume") scenario_resume(*comm, base);
    else if (scenario == "sigterm") scenario_sigterm(*comm, base);
    else if (scenario == "bandwidth") scenario_bandwidth(*comm);
    else if (scenario == "kill" || scenario == "hang" || scenario == "raise") scenario_failure(*comm, base, scenario);
    else throw Error("unknown scenario '" + scenario + "'");
    double f = failures;
    comm->all_reduce_host({&f, 1}, comm::ReduceOp::sum, "counting failures");
    status = f > 0 ? 1 : 0;
    g_comm = nullptr;
  } catch (...) {
    status = report_exception("trim_ddp_check");
    if (comm::launch().world > 1) comm::abort_job(status);
    return status;
  }
  comm::shutdown();
  return status;
}
