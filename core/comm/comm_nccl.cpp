// The NCCL backend: collectives on a communication stream of their own, ordered after the work
// queued so far on the caller's stream and waited for by that stream (the host never blocks), so
// gradient all-reduces overlap the rest of backward. A watchdog thread polls every operation in
// flight and the communicator's asynchronous error state; an operation past the timeout or an
// NCCL error aborts the communicator and ends this process with a message naming the rank (the
// launcher then ends the others).
#include <cuda_runtime.h>
#include <nccl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <list>
#include <mutex>
#include <thread>

#include "core/cuda/check.h"
#include "core/cuda/context.h"
#include "core/comm/communicator.h"
#include "core/error.h"
#include "core/log.h"

#if NCCL_VERSION_CODE < NCCL_VERSION(2, 10, 0)
#error "trim needs NCCL 2.10 or newer (ncclAvg)"
#endif

namespace trim::comm {

bool built_with_nccl() { return true; }

namespace {

using Clock = std::chrono::steady_clock;

#define TRIM_NCCL_CHECK(expr, what)                                                                         \
  do {                                                                                                      \
    ncclResult_t trim_nccl_ = (expr);                                                                       \
    if (trim_nccl_ != ncclSuccess)                                                                          \
      ::trim::fail_at(__FILE__, __LINE__, ::trim::cat(what, ": ", #expr, ": ", ncclGetErrorString(trim_nccl_))); \
  } while (0)

// A CUDA event, destroyed when its last holder (the Work, the watchdog) lets go.
struct Event {
  cudaEvent_t e = nullptr;
  Event() { TRIM_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming)); }
  ~Event() {
    if (cudaEventDestroy(e) != cudaSuccess) (void)cudaGetLastError();  // cannot report from here
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
};

// Holds the tensors an out-of-place collective reads and writes: the destructor's stream wait runs
// before the members go, so their memory, freed stream-ordered on the stream it was allocated on
// (checked to be the caller's), is released only after the collective.
class NcclWork final : public Work {
 public:
  explicit NcclWork(std::shared_ptr<Event> done, Tensor src = {}, Tensor dst = {})
      : src_(std::move(src)), dst_(std::move(dst)), done_(std::move(done)) {}
  void wait() override {
    if (!done_) return;
    TRIM_CUDA_CHECK(cudaStreamWaitEvent(cuda::stream(), done_->e, 0));
    done_.reset();
  }
  ~NcclWork() override {
    if (done_ && cudaStreamWaitEvent(cuda::stream(), done_->e, 0) != cudaSuccess) (void)cudaGetLastError();
  }

 private:
  Tensor src_, dst_;
  std::shared_ptr<Event> done_;
};

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(Device device, std::unique_ptr<Communicator> host, double timeout)
      : Communicator(host->rank(), host->world(), timeout), host_(std::move(host)), device_(device.index) {
    TRIM_CHECK(device.is_cuda(), "the NCCL backend needs a CUDA device, got " + device.str());
    TRIM_CUDA_CHECK(cudaSetDevice(device_));
    ncclUniqueId id;
    if (rank_ == 0) TRIM_NCCL_CHECK(ncclGetUniqueId(&id), "NCCL unique id");
    host_->broadcast_host(&id, sizeof id, 0, "broadcasting the NCCL unique id");
    TRIM_NCCL_CHECK(ncclCommInitRank(&comm_, world_, id, rank_), cat("rank ", rank_, ": creating the NCCL communicator"));
    int least = 0, greatest = 0;
    TRIM_CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
    TRIM_CUDA_CHECK(cudaStreamCreateWithPriority(&stream_, cudaStreamNonBlocking, greatest));
    watchdog_ = std::thread([this] { watch(); });
  }

  ~NcclCommunicator() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (watchdog_.joinable()) watchdog_.join();
    // Nothing to report to from a destructor; a failure is cleared so no later launch check
    // reports it as its own.
    bool failed = cudaStreamSynchronize(stream_) != cudaSuccess;
    ncclCommDestroy(comm_);
    failed |= cudaStreamDestroy(stream_) != cudaSuccess;
    if (failed) (void)cudaGetLastError();
  }

  std::string backend() const override { return "nccl"; }

  std::unique_ptr<Work> all_reduce_async(float* data, int64_t count, ReduceOp op, const std::string& what) override {
    TRIM_CHECK(count >= 0, what + ": negative count");
    after_callers_work();
    TRIM_NCCL_CHECK(ncclAllReduce(data, data, size_t(count), ncclFloat, op == ReduceOp::avg ? ncclAvg : ncclSum, comm_,
                                  stream_),
                    cat("rank ", rank_, ": ", what));
    return std::make_unique<NcclWork>(finished(what));
  }

  // Out of place, NCCL reads src on the communication stream: these are the forms whose one-rank
  // result shows whether that stream waited for the caller's work (test/cuda/test_nccl_cuda.cpp).
  std::unique_ptr<Work> all_reduce_into_async(const Tensor& src, const Tensor& dst, ReduceOp op,
                                              const std::string& what) override {
    check_into(src, dst, what);
    check_on_device(dst, what);
    TRIM_CHECK(dst.dtype() == DType::f32, what + ": all-reduce needs f32 tensors");
    // The Work orders the caller's stream after the collective; memory is freed on the stream it
    // was allocated on, so that must be the caller's for the free to follow the collective.
    for (const Tensor* t : {&src, &dst})
      TRIM_CHECK(t->impl()->storage->stream == static_cast<void*>(cuda::stream()),
                 what + ": an out-of-place all-reduce needs tensors allocated on the caller's stream");
    after_callers_work();
    TRIM_NCCL_CHECK(ncclAllReduce(src.raw_data(), dst.raw_data(), size_t(dst.numel()), ncclFloat,
                                  op == ReduceOp::avg ? ncclAvg : ncclSum, comm_, stream_),
                    cat("rank ", rank_, ": ", what));
    return std::make_unique<NcclWork>(finished(what), src, dst);
  }

  void broadcast_into(const Tensor& src, const Tensor& dst, int root, const std::string& what) override {
    check_into(src, dst, what);
    check_on_device(dst, what);
    after_callers_work();
    TRIM_NCCL_CHECK(ncclBroadcast(src.raw_data(), dst.raw_data(), dst.nbytes(), ncclChar, root, comm_, stream_),
                    cat("rank ", rank_, ": ", what));
    NcclWork(finished(what)).wait();
  }

  void broadcast(std::span<const Tensor> tensors, int root, const std::string& what) override {
    for (const Tensor& t : tensors) check_on_device(t, what);
    after_callers_work();
    TRIM_NCCL_CHECK(ncclGroupStart(), what);
    for (const Tensor& t : tensors)
      TRIM_NCCL_CHECK(ncclBroadcast(t.raw_data(), t.raw_data(), t.nbytes(), ncclChar, root, comm_, stream_),
                      cat("rank ", rank_, ": ", what));
    TRIM_NCCL_CHECK(ncclGroupEnd(), what);
    NcclWork(finished(what)).wait();
  }

  void broadcast_host(void* data, size_t bytes, int root, const std::string& what) override {
    host_->broadcast_host(data, bytes, root, what);
  }
  std::vector<uint64_t> all_gather(uint64_t value, const std::string& what) override {
    return host_->all_gather(value, what);
  }
  void all_reduce_host(std::span<double> values, ReduceOp op, const std::string& what) override {
    host_->all_reduce_host(values, op, what);
  }
  void barrier(const std::string& what) override { host_->barrier(what); }

 private:
  struct Pending {
    std::shared_ptr<Event> done;
    Clock::time_point start;
    std::string what;
  };

  void check_on_device(const Tensor& t, const std::string& what) const {
    TRIM_CHECK(t.device().is_cuda() && t.device().index == device_,
               what + ": the NCCL backend works on tensors on cuda:" + std::to_string(device_) + ", got " +
                   t.device().str());
  }

  // The communication stream waits for what the caller queued so far (the gradients it reduces).
  void after_callers_work() {
    Event ready;
    TRIM_CUDA_CHECK(cudaEventRecord(ready.e, cuda::stream()));
    TRIM_CUDA_CHECK(cudaStreamWaitEvent(stream_, ready.e, 0));
  }

  // An event after the operation just queued, handed to the watchdog.
  // The event after the collective just queued, watched by the watchdog. If it cannot be made, the
  // host waits for the collective before the error leaves: no Work will order the caller's frees
  // of the buffers after it.
  std::shared_ptr<Event> finished(const std::string& what) {
    try {
      auto done = std::make_shared<Event>();
      TRIM_CUDA_CHECK(cudaEventRecord(done->e, stream_));
      std::lock_guard<std::mutex> lock(mu_);
      pending_.push_back({done, Clock::now(), what});
      return done;
    } catch (...) {
      if (cudaStreamSynchronize(stream_) != cudaSuccess) (void)cudaGetLastError();
      throw;
    }
  }

  [[noreturn]] void fatal(const std::string& why) {
    log_error(cat("rank ", rank_, " of ", world_, " (cuda:", device_, "): ", why,
                  "; aborting the NCCL communicator and ending the job"));
    ncclCommAbort(comm_);
    std::_Exit(3);
  }

  void watch() {
    cudaSetDevice(device_);
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      cv_.wait_for(lock, std::chrono::milliseconds(20));
      for (auto it = pending_.begin(); it != pending_.end();) {
        cudaError_t s = cudaEventQuery(it->done->e);
        if (s == cudaSuccess) {
          it = pending_.erase(it);
          continue;
        }
        if (s != cudaErrorNotReady) fatal(cat(it->what, " failed on the device: ", cudaGetErrorString(s)));
        double waited = std::chrono::duration<double>(Clock::now() - it->start).count();
        if (timeout_ > 0 && waited > timeout_)
          fatal(cat(it->what, " did not complete within ", timeout_,
                    " s (distributed.timeout_seconds): another rank died, hangs or stopped with an error"));
        ++it;
      }
      ncclResult_t async = ncclSuccess;
      if (ncclCommGetAsyncError(comm_, &async) == ncclSuccess && async != ncclSuccess && async != ncclInProgress)
        fatal(cat("NCCL reported an asynchronous error: ", ncclGetErrorString(async)));
    }
  }

  std::unique_ptr<Communicator> host_;
  int device_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  std::mutex mu_;
  std::condition_variable cv_;
  std::list<Pending> pending_;
  bool stop_ = false;
  std::thread watchdog_;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(Device device, std::unique_ptr<Communicator> host,
                                                     double timeout_seconds) {
  if (!host) host = make_single_communicator();
  return std::make_unique<NcclCommunicator>(device, std::move(host), timeout_seconds);
}

}  // namespace trim::comm
