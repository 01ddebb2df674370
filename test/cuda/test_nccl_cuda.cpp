// The NCCL backend on one GPU (a world of one rank, no MPI needed): collectives leave the data as
// an average over one rank must, and the data-parallel overlap path (buckets started from the
// gradient-ready hooks on the communication stream, waited for by the compute stream before the
// step) gives exactly the gradients of a plain backward.
//
// Stream ordering: with one rank an in-place collective leaves its buffer as it was, so a missing
// stream wait cannot show there. The "late write" cases use the out-of-place forms (one rank: a
// copy src -> dst on NCCL's stream) on a src that the compute stream rewrites only after a delay
// kernel; a communication stream that did not wait for the compute stream copies the stale src.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "core/comm/communicator.h"
#include "core/comm/gradient_reducer.h"
#include "core/ops/ops.h"
#include "core/optim/param_store.h"
#include "test/cuda/delay_kernel.h"
#include "test/support/tiny_mlp.h"
#include "core/random/generator.h"

using namespace trim;

namespace {

const Device kGpu = Device::cuda(0);
// Long against the host's time to queue the collective (microseconds), short for the suite.
constexpr int kDelayMs = 150;

using test::pattern;
using Net = test::TinyMlp;

// Loads every kernel the ordering cases time (NCCL's all-reduce for each op, its broadcast, the
// delay kernel) before they run: with lazy module loading a kernel's first launch may synchronise
// the context, which would order NCCL after the late write even without a stream wait.
void warm_up(comm::Communicator& comm) {
  const Tensor src = Tensor::full(Shape{64}, 1.0f, DType::f32, kGpu), dst = Tensor::empty(Shape{64}, DType::f32, kGpu);
  for (comm::ReduceOp op : {comm::ReduceOp::sum, comm::ReduceOp::avg})
    comm.all_reduce_into_async(src, dst, op, "warm-up all-reduce")->wait();
  comm.broadcast_into(src, dst, 0, "warm-up broadcast");
  test::queue_gpu_delay(1);
  synchronize(kGpu);
}

// Empty when got == want element for element; else how many differ and the first that does (a
// failed check on the vectors themselves would print millions of elements).
template <class T>
std::string differences(const std::vector<T>& got, const std::vector<T>& want) {
  if (got.size() != want.size()) return cat("sizes differ: got ", got.size(), ", want ", want.size());
  size_t count = 0, first = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (!(got[i] == want[i]) && count++ == 0) first = i;
  if (count == 0) return {};
  return cat(count, " of ", got.size(), " elements differ, the first at ", first, ": got ", got[first], ", want ",
             want[first]);
}

// Stands between a GradientReducer and the NCCL communicator. Each bucket handed over is made
// late: its gradients read NaN from that moment and the compute stream writes them back only after
// a delay kernel; the bucket is then all-reduced out of place into `witness`. The witness holds the
// gradients only if NCCL's stream waited for that write, and reads them only if the compute stream
// waited for NCCL (GradientReducer::done before finish_backward returns).
class LateBucketComm final : public comm::Communicator {
 public:
  LateBucketComm(comm::Communicator& nccl, const Tensor& grads)
      : Communicator(nccl.rank(), nccl.world(), nccl.timeout_seconds()),
        witness(Tensor::full(grads.shape(), std::nanf(""), DType::f32, grads.device())),
        nccl_(nccl),
        grads_(grads) {}

  std::string backend() const override { return "nccl with late buckets"; }

  std::unique_ptr<comm::Work> all_reduce_async(float* data, int64_t count, comm::ReduceOp op,
                                               const std::string& what) override {
    const int64_t offset = data - grads_.data<float>();
    TRIM_CHECK(offset >= 0 && count > 0 && offset + count <= grads_.numel(),
               cat(what, ": bucket [", offset, ", +", count, ") outside the gradient arena"));
    Tensor bucket = grads_.narrow0(offset, count);
    Tensor saved = bucket.clone();
    bucket.fill_(std::nanf(""));
    synchronize(kGpu);                    // NaN from now on...
    test::queue_gpu_delay(kDelayMs);      // ...until this delay has passed on the compute stream
    bucket.copy_(saved);
    ++buckets_started;
    return nccl_.all_reduce_into_async(bucket, witness.narrow0(offset, count), op, what);
  }
  void broadcast(std::span<const Tensor> tensors, int root, const std::string& what) override {
    nccl_.broadcast(tensors, root, what);
  }
  void broadcast_host(void* data, size_t bytes, int root, const std::string& what) override {
    nccl_.broadcast_host(data, bytes, root, what);
  }
  std::vector<uint64_t> all_gather(uint64_t value, const std::string& what) override {
    return nccl_.all_gather(value, what);
  }
  void all_reduce_host(std::span<double> values, comm::ReduceOp op, const std::string& what) override {
    nccl_.all_reduce_host(values, op, what);
  }
  void barrier(const std::string& what) override { nccl_.barrier(what); }

  Tensor witness;
  int buckets_started = 0;

 private:
  comm::Communicator& nccl_;
  Tensor grads_;
};

// Two copies of the same perceptron: `plain` holds the gradients of one plain backward, `ddp` is
// the store the data-parallel cases reduce (one rank: they must end equal).
struct ReferenceAndDdp {
  Net plain_net{kGpu}, ddp_net{kGpu};
  ParamStore plain{plain_net.params()}, ddp{ddp_net.params()};
  ReferenceAndDdp() {
    plain.zero_grad();
    plain_net.backward();
    plain.finish_backward();
  }
};

// 4 KiB buckets after a 1 KiB first one: several buckets for the small perceptron.
comm::ReducerOptions small_buckets(bool overlap) {
  comm::ReducerOptions cfg;
  cfg.bucket_mb = 4.0 / 1024.0;
  cfg.first_bucket_mb = 1.0 / 1024.0;
  cfg.overlap = overlap;
  return cfg;
}

}  // namespace

TEST_CASE("NCCL on one rank: all-reduce (sum, avg) and broadcast leave the data as it is", "[nccl][comm]") {
  REQUIRE(comm::built_with_nccl());
  auto comm = comm::make_nccl_communicator(kGpu, nullptr, 30.0);
  CHECK(comm->backend() == "nccl");
  CHECK(comm->world() == 1);
  std::vector<float> v = pattern(1000, 0.5f);
  Tensor t = Tensor::from_vector(Shape{1000}, v, kGpu);
  comm->all_reduce(t, comm::ReduceOp::sum, "sum");
  CHECK(t.to_vector<float>() == v);
  comm->all_reduce(t, comm::ReduceOp::avg, "avg");
  CHECK(t.to_vector<float>() == v);
  Tensor u = Tensor::from_vector(Shape{7}, std::vector<int32_t>{1, 2, 3, 4, 5, 6, 7}, kGpu);
  std::vector<Tensor> both{t, u};
  comm->broadcast(both, 0, "broadcast");
  CHECK(u.to_vector<int32_t>() == std::vector<int32_t>{1, 2, 3, 4, 5, 6, 7});
  CHECK(comm->all_gather(42, "gather") == std::vector<uint64_t>{42});
}

TEST_CASE("NCCL overlap path: bucketed all-reduce during backward gives the plain gradients", "[nccl][comm]") {
  REQUIRE(comm::built_with_nccl());
  ReferenceAndDdp nets;
  Net& ddp_net = nets.ddp_net;
  ParamStore &plain = nets.plain, &ddp = nets.ddp;

  auto comm = comm::make_nccl_communicator(kGpu, nullptr, 30.0);
  for (bool overlap : {true, false}) {
    const comm::ReducerOptions cfg = small_buckets(overlap);
    comm::GradientReducer reducer(ddp, *comm, cfg);
    CHECK(reducer.buckets().size() >= 2);
    CHECK(reducer.buckets().front().end_slot == ddp.size());  // reverse order: the last parameters first
    for (int rep = 0; rep < 2; ++rep) {
      ddp.zero_grad();
      ddp_net.backward();
      ddp.finish_backward();
      CHECK(ddp.grads().to_vector<float>() == plain.grads().to_vector<float>());
    }
    CHECK(reducer.take_exposed_seconds() >= 0.0);
  }
}

TEST_CASE("NCCL out of place on one rank: all-reduce and broadcast wait for a late write of the compute stream",
          "[nccl][comm][ordering]") {
  REQUIRE(comm::built_with_nccl());
  auto comm = comm::make_nccl_communicator(kGpu, nullptr, 30.0);
  REQUIRE(comm->world() == 1);
  warm_up(*comm);
  const int64_t n = int64_t(1) << 22;  // 16 MiB: an early or late read shows in many elements
  const std::vector<float> want = pattern(n, 0.25f);
  const Tensor fresh = Tensor::from_vector(Shape{n}, want, kGpu);
  Tensor src = Tensor::empty(Shape{n}, DType::f32, kGpu), dst = Tensor::empty(Shape{n}, DType::f32, kGpu);
  for (comm::ReduceOp op : {comm::ReduceOp::sum, comm::ReduceOp::avg}) {
    src.fill_(-1.0f);
    dst.fill_(-2.0f);
    synchronize(kGpu);
    test::queue_gpu_delay(kDelayMs);
    src.copy_(fresh);  // lands kDelayMs from now
    comm->all_reduce_into_async(src, dst, op, "out-of-place all-reduce")->wait();
    // Read on the compute stream, which wait() ordered after the all-reduce.
    std::vector<float> got = dst.to_vector<float>();
    CHECK(got.front() == want.front());  // -1: NCCL did not wait; -2: the read did not wait
    CHECK(got.back() == want.back());
    CHECK(differences(got, want) == "");
  }

  const int64_t m = int64_t(1) << 20;
  std::vector<int32_t> ints(static_cast<size_t>(m));
  for (int64_t i = 0; i < m; ++i) ints[size_t(i)] = int32_t(i * 7 - 3);
  const Tensor fresh_ints = Tensor::from_vector(Shape{m}, ints, kGpu);
  Tensor bsrc = Tensor::zeros(Shape{m}, DType::i32, kGpu), bdst = Tensor::zeros(Shape{m}, DType::i32, kGpu);
  synchronize(kGpu);
  test::queue_gpu_delay(kDelayMs);
  bsrc.copy_(fresh_ints);
  comm->broadcast_into(bsrc, bdst, 0, "out-of-place broadcast");
  CHECK(differences(bdst.to_vector<int32_t>(), ints) == "");

  // A mismatched pair is refused before anything is queued.
  CHECK_THROWS_WITH(comm->all_reduce_into_async(src, Tensor::empty(Shape{n - 1}, DType::f32, kGpu),
                                                comm::ReduceOp::sum, "mismatch"),
                    Catch::Contains("one shape, dtype and device"));
}

TEST_CASE("NCCL gradient buckets written late by the compute stream are reduced after the write",
          "[nccl][comm][ordering]") {
  REQUIRE(comm::built_with_nccl());
  ReferenceAndDdp nets;
  Net& ddp_net = nets.ddp_net;
  ParamStore &plain = nets.plain, &ddp = nets.ddp;
  const std::vector<float> plain_grads = plain.grads().to_vector<float>();

  auto nccl = comm::make_nccl_communicator(kGpu, nullptr, 30.0);
  warm_up(*nccl);
  for (bool overlap : {true, false}) {
    LateBucketComm comm(*nccl, ddp.grads());
    const comm::ReducerOptions cfg = small_buckets(overlap);
    comm::GradientReducer reducer(ddp, comm, cfg);
    REQUIRE(reducer.buckets().size() >= 2);
    for (int rep = 0; rep < 2; ++rep) {
      comm.witness.fill_(std::nanf(""));
      ddp.zero_grad();
      ddp_net.backward();
      ddp.finish_backward();  // returns once the compute stream is ordered after every bucket
      const std::vector<float> witness = comm.witness.to_vector<float>();
      for (const comm::GradientReducer::Bucket& b : reducer.buckets()) {
        INFO("overlap " << overlap << ", pass " << rep << ", bucket at " << b.offset << " of " << b.count);
        const auto first = plain_grads.begin() + b.offset;
        CHECK(differences(std::vector<float>(witness.begin() + b.offset, witness.begin() + b.offset + b.count),
                          std::vector<float>(first, first + b.count)) == "");
      }
      CHECK(differences(ddp.grads().to_vector<float>(), plain_grads) == "");
    }
    CHECK(comm.buckets_started == 2 * int(reducer.buckets().size()));
  }
}
