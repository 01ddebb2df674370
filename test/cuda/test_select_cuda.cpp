// Magnitude and filter selection: the CUDA path (CUB radix sort, device masks) against the CPU path.
#include <catch2/catch.hpp>

#include <cmath>

#include "core/random/philox.h"
#include "pruning/select.h"

using namespace trim;
using Catch::Matchers::Contains;

namespace {

const Device kGpu = Device::cuda(0);

struct Case {
  PrunableSet cpu, gpu;
  std::vector<Tensor> masks_cpu, masks_gpu;
};

// Weights rounded to a few magnitudes (many ties, signed zeros among them) and 30% pre-pruned.
Case make_case(uint64_t seed, const std::vector<Shape>& shapes) {
  Case c;
  for (size_t l = 0; l < shapes.size(); ++l) {
    int64_t n = shapes[l].numel();
    std::vector<float> w(static_cast<size_t>(n)), m(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      w[size_t(i)] = std::round(philox::normal(seed, l, i) * 8.0f) / 8.0f;
      m[size_t(i)] = philox::uniform(seed + 1000, l, i) < 0.3f ? 0.0f : 1.0f;
    }
    Tensor wc = Tensor::from_vector(shapes[l], w), mc = Tensor::from_vector(shapes[l], m);
    c.cpu.names.push_back(cat("t", l));
    c.gpu.names.push_back(cat("t", l));
    c.cpu.tensors.push_back(wc);
    c.gpu.tensors.push_back(wc.to(kGpu));
    c.masks_cpu.push_back(mc);
    c.masks_gpu.push_back(mc.to(kGpu));
  }
  return c;
}

void check_same(const std::vector<Tensor>& gpu, const std::vector<Tensor>& cpu) {
  REQUIRE(gpu.size() == cpu.size());
  for (size_t l = 0; l < gpu.size(); ++l) {
    CHECK(gpu[l].is_cuda());
    CHECK(gpu[l].shape() == cpu[l].shape());
    CHECK(gpu[l].to_vector<float>() == cpu[l].to_vector<float>());
  }
}

}  // namespace

TEST_CASE("global magnitude selection on CUDA equals the CPU, with ties and prior masks", "[cuda][pruning]") {
  Case c = make_case(1, {Shape{300001}, Shape{5}, Shape{70, 1000}, Shape{64, 3, 3, 3}});
  int64_t unpruned = c.cpu.numel();
  for (const Tensor& m : c.masks_cpu) unpruned -= count_zeros(m);
  for (int64_t k : {int64_t(0), int64_t(1), int64_t(12345), unpruned / 2, unpruned}) {
    check_same(select_global(c.gpu, c.masks_gpu, k), select_global(c.cpu, c.masks_cpu, k));
    check_same(select_global(c.gpu, {}, k), select_global(c.cpu, {}, k));
  }
  CHECK_THROWS_WITH(select_global(c.gpu, c.masks_gpu, unpruned + 1), Contains(cat("only ", unpruned)));
}

TEST_CASE("per-layer magnitude selection on CUDA equals the CPU", "[cuda][pruning]") {
  Case c = make_case(2, {Shape{128, 64, 3, 3}, Shape{7}, Shape{10, 512}});
  std::vector<int64_t> k = {count_for_sparsity(0.5, 128 * 64 * 9), 3, 0};
  check_same(select_per_layer(c.gpu, c.masks_gpu, k), select_per_layer(c.cpu, c.masks_cpu, k));
  check_same(select_per_layer(c.gpu, {}, {1, 7, 5120}), select_per_layer(c.cpu, {}, {1, 7, 5120}));
  // Nested rounds stay equal: feed each backend its own previous masks.
  std::vector<Tensor> mg = c.masks_gpu, mc = c.masks_cpu;
  for (int round = 0; round < 3; ++round) {
    std::vector<int64_t> kr;
    for (size_t l = 0; l < mc.size(); ++l) kr.push_back(lt_prune_count(mc[l].numel() - count_zeros(mc[l])));
    mg = select_per_layer(c.gpu, mg, kr);
    mc = select_per_layer(c.cpu, mc, kr);
    check_same(mg, mc);
  }
}

TEST_CASE("count_zeros on CUDA equals the CPU beyond one grid of blocks", "[cuda][pruning]") {
  const int64_t n = 5'000'003;
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = philox::uniform(5, 0, i) < 0.4f ? (i % 2 ? 0.0f : -0.0f) : 1.0f;
  Tensor t = Tensor::from_vector(Shape{n}, v);
  CHECK(count_zeros(t.to(kGpu)) == count_zeros(t));
  CHECK(count_zeros(Tensor::zeros(Shape{0}, DType::f32, kGpu)) == 0);
}

TEST_CASE("a multi-million-entry global selection on CUDA equals the CPU", "[cuda][pruning]") {
  Case c = make_case(3, {Shape{2'500'000}, Shape{1'700'001}});
  int64_t k = count_for_sparsity(0.9, c.cpu.numel()) - 10;
  check_same(select_global(c.gpu, c.masks_gpu, k / 2), select_global(c.cpu, c.masks_cpu, k / 2));
  check_same(select_global(c.gpu, {}, k), select_global(c.cpu, {}, k));
}

TEST_CASE("filter L1 scores are bit-identical on CUDA and the filter masks equal the CPU", "[cuda][pruning]") {
  Case c = make_case(4, {Shape{64, 32, 3, 3}, Shape{16, 3, 7, 7}, Shape{10, 2000}});
  // Rows 5 and 9 of the first tensor: the same values in another order (a tie of scores).
  std::vector<float> w0 = c.cpu.tensors[0].to_vector<float>();
  const size_t cols = 32 * 9;
  for (size_t j = 0; j < cols; ++j) w0[9 * cols + j] = w0[5 * cols + (cols - 1 - j)] = float(j % 7) * 0.125f;
  c.cpu.tensors[0] = Tensor::from_vector(Shape{64, 32, 3, 3}, w0);
  c.gpu.tensors[0] = c.cpu.tensors[0].to(kGpu);
  for (size_t l = 0; l < c.cpu.size(); ++l) CHECK(filter_l1(c.gpu.tensors[l]) == filter_l1(c.cpu.tensors[l]));
  std::vector<int64_t> np = {filter_prune_count(0.7, 64), filter_prune_count(0.5, 16), 9};
  FilterSelection g = select_filters(c.gpu, np), h = select_filters(c.cpu, np);
  CHECK(g.pruned == h.pruned);
  check_same(g.masks, h.masks);
}
