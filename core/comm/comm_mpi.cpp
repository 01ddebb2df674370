// The job's launch (MPI initialisation, local rank) and the MPI backend: nonblocking collectives
// completed by polling against a deadline, so a peer that died or hangs ends the job with a
// message instead of a silent wait.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "core/comm/communicator.h"
#include "core/error.h"
#include "core/log.h"
#ifdef TRIM_HAVE_MPI
#include <mpi.h>
#endif

namespace trim::comm {
namespace {

Launch g_launch;
bool g_launched = false;

// The launcher's world size from the environment (0 when not started by one).
int launcher_world() {
  for (const char* key : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"}) {
    const char* v = std::getenv(key);
    if (v && *v) return std::max(1, std::atoi(v));
  }
  return std::getenv("PMIX_RANK") ? 1 : 0;
}

}  // namespace

#ifdef TRIM_HAVE_MPI
bool built_with_mpi() { return true; }

namespace {

void mpi_check(int code, const char* call, const std::string& what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, text, &len);
  throw Error(cat("rank ", g_launch.rank, ": ", what, ": ", call, " failed: ", std::string(text, size_t(len))));
}
#define TRIM_MPI(call, what) mpi_check((call), #call, (what))

// Waits for `req`, polling, until `timeout` seconds have passed; then ends the job naming the
// rank and the operation. Polls with a growing sleep so a waiting rank does not take a core from
// the rank it waits for (ranks may share cores).
void wait_request(MPI_Request& req, double timeout, const std::string& what) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  int done = 0, polls = 0;
  for (;;) {
    TRIM_MPI(MPI_Test(&req, &done, MPI_STATUS_IGNORE), what);
    if (done) return;
    double waited = std::chrono::duration<double>(Clock::now() - start).count();
    if (timeout > 0 && waited > timeout) {
      log_error(cat("rank ", g_launch.rank, " of ", g_launch.world, ": ", what, " did not complete within ", timeout,
                    " s (distributed.timeout_seconds): another rank died, hangs or stopped with an error; ending "
                    "the job"));
      MPI_Abort(MPI_COMM_WORLD, 3);
      std::_Exit(3);
    }
    ++polls;
    if (polls > 64) std::this_thread::sleep_for(std::chrono::microseconds(polls > 1024 ? 1000 : 50));
  }
}

class MpiWork final : public Work {
 public:
  MpiWork(MPI_Request req, float* data, int64_t count, float scale, double timeout, std::string what)
      : req_(req), data_(data), count_(count), scale_(scale), timeout_(timeout), what_(std::move(what)) {}
  ~MpiWork() override {
    if (!done_) {
      try {
        wait();
      } catch (const std::exception& e) {
        log_error(e.what());
      }
    }
  }
  void wait() override {
    if (done_) return;
    done_ = true;
    wait_request(req_, timeout_, what_);
    if (scale_ != 1.0f)
      for (int64_t i = 0; i < count_; ++i) data_[i] *= scale_;
  }

 private:
  MPI_Request req_;
  float* data_;
  int64_t count_;
  float scale_;
  double timeout_;
  std::string what_;
  bool done_ = false;
};

class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(double timeout) : Communicator(g_launch.rank, g_launch.world, timeout) {
    TRIM_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "creating the communicator");
    TRIM_MPI(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "creating the communicator");
  }
  ~MpiCommunicator() override { MPI_Comm_free(&comm_); }
  std::string backend() const override { return "mpi"; }

  std::unique_ptr<Work> all_reduce_async(float* data, int64_t count, ReduceOp op, const std::string& what) override {
    TRIM_CHECK(count >= 0 && count <= INT32_MAX, what + ": all-reduce of more than 2^31 - 1 values in one call");
    MPI_Request req;
    TRIM_MPI(MPI_Iallreduce(MPI_IN_PLACE, data, int(count), MPI_FLOAT, MPI_SUM, comm_, &req), what);
    float scale = op == ReduceOp::avg ? 1.0f / float(world_) : 1.0f;
    return std::make_unique<MpiWork>(req, data, count, scale, timeout_, what);
  }

  void broadcast(std::span<const Tensor> tensors, int root, const std::string& what) override {
    for (const Tensor& t : tensors) {
      TRIM_CHECK(t.device().is_cpu(), what + ": the MPI backend broadcasts host tensors only");
      broadcast_host(t.raw_data(), t.nbytes(), root, what);
    }
  }
  void broadcast_host(void* data, size_t bytes, int root, const std::string& what) override {
    // Large buffers in pieces below the 32-bit count limit.
    constexpr size_t kPiece = size_t(1) << 30;
    for (size_t off = 0; off < bytes; off += kPiece) {
      size_t n = std::min(kPiece, bytes - off);
      MPI_Request req;
      TRIM_MPI(MPI_Ibcast(static_cast<char*>(data) + off, int(n), MPI_BYTE, root, comm_, &req), what);
      wait_request(req, timeout_, what);
    }
  }
  std::vector<uint64_t> all_gather(uint64_t value, const std::string& what) override {
    std::vector<uint64_t> out(static_cast<size_t>(world_));
    MPI_Request req;
    TRIM_MPI(MPI_Iallgather(&value, 1, MPI_UINT64_T, out.data(), 1, MPI_UINT64_T, comm_, &req), what);
    wait_request(req, timeout_, what);
    return out;
  }
  void all_reduce_host(std::span<double> values, ReduceOp op, const std::string& what) override {
    MPI_Request req;
    TRIM_MPI(MPI_Iallreduce(MPI_IN_PLACE, values.data(), int(values.size()), MPI_DOUBLE, MPI_SUM, comm_, &req), what);
    wait_request(req, timeout_, what);
    if (op == ReduceOp::avg)
      for (double& v : values) v /= double(world_);
  }
  void barrier(const std::string& what) override {
    MPI_Request req;
    TRIM_MPI(MPI_Ibarrier(comm_, &req), what);
    wait_request(req, timeout_, what);
  }
  void progress() override {
    int flag = 0;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm_, &flag, MPI_STATUS_IGNORE);
  }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
};

}  // namespace

const Launch& launch() {
  if (g_launched) return g_launch;
  g_launched = true;
  if (launcher_world() == 0) return g_launch;
  int provided = 0;
  int code = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  if (code != MPI_SUCCESS) throw Error("started by an MPI launcher, but MPI_Init_thread failed");
  g_launch.mpi = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &g_launch.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_launch.world);
  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_launch.rank, MPI_INFO_NULL, &local);
  MPI_Comm_rank(local, &g_launch.local_rank);
  MPI_Comm_size(local, &g_launch.local_world);
  MPI_Comm_free(&local);
  set_log_rank(g_launch.rank, g_launch.world);
  return g_launch;
}

void shutdown() {
  if (!g_launch.mpi) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

[[noreturn]] void abort_job(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  if (g_launch.mpi && g_launch.world > 1) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

std::unique_ptr<Communicator> make_mpi_communicator(double timeout_seconds) {
  if (!launch().mpi) throw Error("the MPI backend needs a job started by an MPI launcher (mpirun -np N ...)");
  return std::make_unique<MpiCommunicator>(timeout_seconds);
}

#else  // no MPI in this build

bool built_with_mpi() { return false; }

const Launch& launch() {
  if (g_launched) return g_launch;
  g_launched = true;
  int world = launcher_world();
  if (world > 1)
    throw Error(cat("started by an MPI launcher with ", world, " ranks, but this build of trim has no MPI "
                    "(install libopenmpi-dev and rebuild)"));
  return g_launch;
}
void shutdown() {}
[[noreturn]] void abort_job(int code) { std::exit(code); }
std::unique_ptr<Communicator> make_mpi_communicator(double) {
  throw Error("this build of trim has no MPI backend (install libopenmpi-dev and rebuild)");
}

#endif

}  // namespace trim::comm
