#pragma once
// Communicator: the collectives data-parallel training needs, behind one small interface with
// three backends: a single process (every collective is the identity), MPI (CPU ranks) and NCCL
// (GPU ranks, its unique id broadcast over MPI). Every blocking wait has a deadline: a collective
// that does not complete within the communicator's timeout (a peer died, hangs or raised) ends the
// whole job with a message naming this rank and the operation, never a silent hang.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/tensor.h"

namespace trim::comm {

enum class ReduceOp { sum, avg };

// Where this process stands in the job, known before a device is chosen.
struct Launch {
  int rank = 0, world = 1;
  int local_rank = 0, local_world = 1;  // among the ranks on this node (MPI shared-memory split)
  bool mpi = false;                     // MPI was initialised by launch()
};

// Initialises MPI when the process was started by an MPI launcher (mpirun, srun with PMI/PMIx:
// OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK in the environment) and returns the job's shape; a
// plain start is rank 0 of 1 and never touches MPI. Idempotent; call from the main thread.
const Launch& launch();
// Whether this build has the MPI backend (and the NCCL backend).
bool built_with_mpi();
bool built_with_nccl();
// Finalizes MPI if launch() initialised it; call once, at a normal exit, after every communicator
// is destroyed.
void shutdown();
// Ends the whole job after a fatal error on this rank (MPI_Abort when MPI is up, so no peer waits
// forever), else exits with `code`. Never returns.
[[noreturn]] void abort_job(int code);

// An operation started by a communicator. wait() completes it: on the CPU the data is final when
// it returns; on CUDA later work on the calling thread's stream is ordered after it (the host does
// not block). Destroying an unfinished Work waits for it.
class Work {
 public:
  virtual ~Work() = default;
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual std::string backend() const = 0;  // "single", "mpi", "nccl"
  int rank() const { return rank_; }
  int world() const { return world_; }
  double timeout_seconds() const { return timeout_; }

  // Starts an in-place all-reduce of `count` f32 values at `data` (memory of this communicator's
  // device: host for single/MPI, the GPU for NCCL). Every rank must start the same operations in
  // the same order. `what` names the operation in errors ("gradient bucket 3").
  virtual std::unique_ptr<Work> all_reduce_async(float* data, int64_t count, ReduceOp op, const std::string& what) = 0;
  // Blocking forms.
  void all_reduce(const Tensor& t, ReduceOp op, const std::string& what);
  // Overwrites every tensor (any dtype, contiguous, on this communicator's device) with root's.
  virtual void broadcast(std::span<const Tensor> tensors, int root, const std::string& what) = 0;
  // Out-of-place forms: `dst` receives the all-reduce of `src` (f32), or root's `src` (any dtype);
  // both of one shape and dtype on this communicator's device. With one rank they copy src to dst,
  // which lets a test see a stream-ordering error that the in-place forms cannot show. The
  // defaults copy on the caller's stream, then run the in-place forms; NCCL reads src directly.
  // The caller may drop src and dst once this returns: the Work keeps what the collective still
  // uses until it is destroyed (NCCL: both must be allocated on the caller's stream).
  virtual std::unique_ptr<Work> all_reduce_into_async(const Tensor& src, const Tensor& dst, ReduceOp op,
                                                      const std::string& what);
  virtual void broadcast_into(const Tensor& src, const Tensor& dst, int root, const std::string& what);

  // Host values, blocking, on every backend.
  virtual void broadcast_host(void* data, size_t bytes, int root, const std::string& what) = 0;
  virtual std::vector<uint64_t> all_gather(uint64_t value, const std::string& what) = 0;
  virtual void all_reduce_host(std::span<double> values, ReduceOp op, const std::string& what) = 0;
  virtual void barrier(const std::string& what) = 0;
  // Advances started operations without blocking (MPI's nonblocking collectives progress only
  // inside MPI calls); cheap, called from the gradient-ready hooks.
  virtual void progress() {}

 protected:
  Communicator(int rank, int world, double timeout) : rank_(rank), world_(world), timeout_(timeout) {}
  // Throws unless src and dst are defined tensors of one shape and dtype on one device.
  static void check_into(const Tensor& src, const Tensor& dst, const std::string& what);
  int rank_, world_;
  double timeout_;
};

// One process: every collective leaves the data as it is (an average over one rank).
std::unique_ptr<Communicator> make_single_communicator();
// The MPI backend over all ranks of launch() (needs launch().mpi): host memory only.
std::unique_ptr<Communicator> make_mpi_communicator(double timeout_seconds);
// The NCCL backend on `device` (the calling thread's current CUDA device): the unique id comes from
// rank 0 over `host` (which also serves the host collectives); a world of 1 needs no MPI.
std::unique_ptr<Communicator> make_nccl_communicator(Device device, std::unique_ptr<Communicator> host,
                                                     double timeout_seconds);
// The communicator for a run on `device` under launch(): single for a world of 1, MPI for CPU
// ranks, NCCL for CUDA ranks. Throws trim::Error when the build lacks the backend needed.
std::unique_ptr<Communicator> make_communicator(Device device, double timeout_seconds);

}  // namespace trim::comm
