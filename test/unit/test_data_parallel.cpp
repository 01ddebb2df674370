// The data-parallel gradient reducer against a scripted two-rank communicator (the other rank's
// gradients are zero, so the average is exactly half): bucket layout, buckets started during
// backward (overlap) or after it, the step and clipping reading averaged gradients, and the
// replica digest.
#include <catch2/catch.hpp>

#include <cmath>

#include "apps/runner/data_parallel.h"
#include "core/comm/communicator.h"
#include "core/comm/gradient_reducer.h"
#include "core/ops/ops.h"
#include "core/optim/param_store.h"
#include "test/support/tiny_mlp.h"
#include "core/optim/sgd.h"
#include "layers/layers.h"
#include "pruning/training_method.h"

using namespace trim;

namespace {

// Rank 0 of 2 whose peer contributes zeros: an average halves the data, applied at wait().
class HalvingComm final : public comm::Communicator {
 public:
  HalvingComm() : Communicator(0, 2, 0.0) {}
  std::string backend() const override { return "test"; }
  struct Op {
    float* data;
    int64_t count;
  };
  std::vector<Op> started;
  int64_t waited = 0;
  std::unique_ptr<comm::Work> all_reduce_async(float* data, int64_t count, comm::ReduceOp op,
                                               const std::string&) override {
    started.push_back({data, count});
    struct W final : comm::Work {
      HalvingComm* c;
      float* d;
      int64_t n;
      bool avg;
      void wait() override {
        if (avg)
          for (int64_t i = 0; i < n; ++i) d[i] *= 0.5f;
        ++c->waited;
        n = 0;
      }
    };
    auto w = std::make_unique<W>();
    w->c = this, w->d = data, w->n = count, w->avg = op == comm::ReduceOp::avg;
    return w;
  }
  void broadcast(std::span<const Tensor>, int, const std::string&) override {}
  void broadcast_host(void*, size_t, int, const std::string&) override {}
  std::vector<uint64_t> all_gather(uint64_t v, const std::string&) override { return {v, v}; }
  void all_reduce_host(std::span<double>, comm::ReduceOp, const std::string&) override {}
  void barrier(const std::string&) override {}
};

using test::pattern;
using Net = test::TinyMlp;

comm::ReducerOptions small_buckets(bool overlap) {
  comm::ReducerOptions c;
  c.bucket_mb = 4.0 / 1024.0;        // 4 KiB
  c.first_bucket_mb = 1.0 / 1024.0;  // 1 KiB
  c.overlap = overlap;
  return c;
}

}  // namespace

TEST_CASE("gradient buckets: reverse parameter order, contiguous, the first one small", "[comm]") {
  Net net;
  ParamStore store(net.params());
  HalvingComm comm;
  comm::GradientReducer reducer(store, comm, small_buckets(true));
  const auto& b = reducer.buckets();
  // Slots: fc1.weight 2048, fc1.bias 64, fc2.weight 640, fc2.bias 10 elements. Reverse order with
  // a 1 KiB first bucket: {fc2.bias, fc2.weight} (2.6 KiB >= 1 KiB), then {fc1.bias, fc1.weight}.
  REQUIRE(b.size() == 2);
  CHECK(b[0].first_slot == 2);
  CHECK(b[0].end_slot == 4);
  CHECK(b[1].first_slot == 0);
  CHECK(b[1].end_slot == 2);
  CHECK(b[1].offset == 0);
  CHECK(b[1].offset + b[1].count == b[0].offset);  // contiguous, padding included
  CHECK(b[0].offset + b[0].count == store.slot(3).offset + store.slot(3).numel);
}

TEST_CASE("gradient reducer: buckets start during backward (overlap) or after it, and the step sees averages",
          "[comm]") {
  Net plain_net;
  ParamStore plain(plain_net.params());
  plain.zero_grad();
  plain_net.backward();
  plain.finish_backward();
  std::vector<float> half = plain.grads().to_vector<float>();
  for (float& g : half) g *= 0.5f;

  for (bool overlap : {true, false}) {
    Net net;
    auto store = std::make_shared<ParamStore>(net.params());
    HalvingComm comm;
    comm::GradientReducer reducer(*store, comm, small_buckets(overlap));
    SgdOptions o;
    o.lr = 0.1f;
    o.momentum = 0.0f;
    o.clip_grad_norm = 1e6f;  // records the norm it saw, clips nothing
    DenseSgd opt(store, o);
    for (int step = 0; step < 2; ++step) {
      comm.started.clear();
      comm.waited = 0;
      opt.zero_grad();
      net.backward();
      // Backward fired every parameter's ready hook: with overlap both buckets are already on
      // their way (the last parameters' first), without it none is.
      CHECK(comm.started.size() == (overlap ? 2u : 0u));
      CHECK(comm.waited == 0);
      std::vector<float> before = store->params().to_vector<float>();
      opt.step();  // finish_backward waits for the buckets first
      CHECK(comm.started.size() == 2);
      CHECK(comm.waited == 2);
      CHECK(comm.started[0].data == store->grads().data<float>() + reducer.buckets()[0].offset);
      CHECK(store->grads().to_vector<float>() == (step == 0 ? half : store->grads().to_vector<float>()));
      double norm = 0.0;
      for (float g : store->grads().to_vector<float>()) norm += double(g) * double(g);
      CHECK(opt.last_grad_norm() == Approx(std::sqrt(norm)).epsilon(1e-5));
      std::vector<float> after = store->params().to_vector<float>();
      std::vector<float> g = store->grads().to_vector<float>();
      for (size_t i = 0; i < after.size(); i += 97) CHECK(after[i] == Approx(before[i] - 0.1f * g[i]).margin(1e-6));
    }
    CHECK(reducer.take_exposed_seconds() >= 0.0);
  }
}

TEST_CASE("replica digest: identical state hashes alike, one changed element names its tensor", "[comm]") {
  Net a, b;
  ParamStore sa(a.params()), sb(b.params());
  auto model = std::make_shared<Sequential>();
  DenseTraining dense;
  ReplicaDigest da = replica_digest(sa, *model, dense), db = replica_digest(sb, *model, dense);
  CHECK(da.combined == db.combined);
  REQUIRE(da.names.size() == 4);
  CHECK(da.names[2] == "fc2.weight");
  sb.params().data<float>()[sb.slot(2).offset + 5] += 1e-6f;
  ReplicaDigest dc = replica_digest(sb, *model, dense);
  CHECK(dc.combined != da.combined);
  CHECK(dc.hashes[2] != da.hashes[2]);
  CHECK(dc.hashes[0] == da.hashes[0]);
}
