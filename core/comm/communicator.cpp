#include "core/comm/communicator.h"

#include <cstring>

#include "core/error.h"

namespace trim::comm {

void Communicator::all_reduce(const Tensor& t, ReduceOp op, const std::string& what) {
  TRIM_CHECK(t.defined() && t.dtype() == DType::f32, what + ": all-reduce needs a defined f32 tensor");
  all_reduce_async(t.data<float>(), t.numel(), op, what)->wait();
}

void Communicator::check_into(const Tensor& src, const Tensor& dst, const std::string& what) {
  TRIM_CHECK(src.defined() && dst.defined(), what + ": out-of-place collective on an undefined tensor");
  TRIM_CHECK(src.shape() == dst.shape() && src.dtype() == dst.dtype() && src.device() == dst.device(),
             what + ": out-of-place collective needs src and dst of one shape, dtype and device, got " +
                 src.shape().str() + " on " + src.device().str() + " and " + dst.shape().str() + " on " +
                 dst.device().str());
}

namespace {

// An in-place Work that keeps its buffer alive: `inner` is declared last, so it is destroyed (and
// so waited for) before `buffer` lets go of the memory the collective writes.
class HoldingWork final : public Work {
 public:
  HoldingWork(Tensor buffer, std::unique_ptr<Work> inner) : buffer_(std::move(buffer)), inner_(std::move(inner)) {}
  void wait() override { inner_->wait(); }

 private:
  Tensor buffer_;
  std::unique_ptr<Work> inner_;
};

}  // namespace

std::unique_ptr<Work> Communicator::all_reduce_into_async(const Tensor& src, const Tensor& dst, ReduceOp op,
                                                          const std::string& what) {
  check_into(src, dst, what);
  TRIM_CHECK(dst.dtype() == DType::f32, what + ": all-reduce needs f32 tensors");
  Tensor out = dst;
  // src is only read by this copy, queued on the caller's stream, which also frees it.
  out.copy_(src);
  return std::make_unique<HoldingWork>(out, all_reduce_async(out.data<float>(), out.numel(), op, what));
}

void Communicator::broadcast_into(const Tensor& src, const Tensor& dst, int root, const std::string& what) {
  check_into(src, dst, what);
  Tensor out = dst;
  if (rank_ == root) out.copy_(src);
  const Tensor one[] = {out};
  broadcast(one, root, what);
}

namespace {

class DoneWork final : public Work {
 public:
  void wait() override {}
};

class SingleCommunicator final : public Communicator {
 public:
  SingleCommunicator() : Communicator(0, 1, 0.0) {}
  std::string backend() const override { return "single"; }
  std::unique_ptr<Work> all_reduce_async(float*, int64_t, ReduceOp, const std::string&) override {
    return std::make_unique<DoneWork>();
  }
  void broadcast(std::span<const Tensor>, int root, const std::string& what) override { check_root(root, what); }
  void broadcast_host(void*, size_t, int root, const std::string& what) override { check_root(root, what); }
  std::vector<uint64_t> all_gather(uint64_t value, const std::string&) override { return {value}; }
  void all_reduce_host(std::span<double>, ReduceOp, const std::string&) override {}
  void barrier(const std::string&) override {}

 private:
  static void check_root(int root, const std::string& what) {
    TRIM_CHECK(root == 0, what + ": broadcast from rank " + std::to_string(root) + " in a world of 1");
  }
};

}  // namespace

#ifndef TRIM_HAVE_NCCL
bool built_with_nccl() { return false; }
std::unique_ptr<Communicator> make_nccl_communicator(Device, std::unique_ptr<Communicator>, double) {
  throw Error("this build of trim has no NCCL backend (build with CUDA and NCCL; see cmake/FindNCCL.cmake)");
}
#endif

std::unique_ptr<Communicator> make_single_communicator() { return std::make_unique<SingleCommunicator>(); }

std::unique_ptr<Communicator> make_communicator(Device device, double timeout_seconds) {
  const Launch& l = launch();
  if (l.world == 1) return make_single_communicator();
  if (device.is_cpu()) return make_mpi_communicator(timeout_seconds);
  if (!built_with_nccl())
    throw Error(cat("rank ", l.rank, " of ", l.world, ": CUDA ranks need the NCCL backend, and this build has none "
                    "(install NCCL and rebuild; see cmake/FindNCCL.cmake), or run the ranks on the CPU (device=cpu)"));
  return make_nccl_communicator(device, make_mpi_communicator(timeout_seconds), timeout_seconds);
}

}  // namespace trim::comm
