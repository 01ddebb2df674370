// The NCCL backend on one GPU (a world of one rank, no MPI needed): collectives leave the data as
// an average over one rank must, and the data-parallel overlap path (buckets started from the
// gradient-ready hooks on the communication stream, waited for by the compute stream before the
// step) gives exactly the gradients of a plain backward.
#include <catch2/catch.hpp>

#include "core/comm/communicator.h"
#include "core/comm/gradient_reducer.h"
#include "core/ops/ops.h"
#include "core/optim/param_store.h"
#include "test/support/tiny_mlp.h"
#include "core/random/generator.h"

using namespace trim;

namespace {

const Device kGpu = Device::cuda(0);

using test::pattern;
using Net = test::TinyMlp;

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
  Net plain_net(kGpu), ddp_net(kGpu);
  ParamStore plain(plain_net.params()), ddp(ddp_net.params());
  plain.zero_grad();
  plain_net.backward();
  plain.finish_backward();

  auto comm = comm::make_nccl_communicator(kGpu, nullptr, 30.0);
  for (bool overlap : {true, false}) {
    comm::ReducerOptions cfg;
    cfg.bucket_mb = 4.0 / 1024.0;  // 4 KiB: several buckets
    cfg.first_bucket_mb = 1.0 / 1024.0;
    cfg.overlap = overlap;
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
