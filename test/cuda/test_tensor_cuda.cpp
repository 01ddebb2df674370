// Tensor basics on a GPU: copies across devices, views, fills, memory counters, out-of-memory.
#include <catch2/catch.hpp>

#include "core/memory.h"
#include "core/ops/ops.h"

using namespace trim;

TEST_CASE("CUDA tensors copy, view, fill and zero like CPU tensors", "[cuda][tensor]") {
  const Device gpu = Device::cuda(0);
  std::vector<float> v{1, 2, 3, 4, 5, 6};
  Tensor a = Tensor::from_vector(Shape{2, 3}, v, gpu);
  CHECK(a.is_cuda());
  CHECK(a.to_vector<float>() == v);
  CHECK(a.clone().to_vector<float>() == v);
  CHECK(a.narrow0(1, 1).to_vector<float>() == std::vector<float>{4, 5, 6});
  CHECK(a.view(Shape{3, 2}).to(Device::cpu()).to_vector<float>() == v);
  Tensor b = Tensor::empty(Shape{2, 3}, DType::f32, gpu);
  b.copy_(Tensor::from_vector(Shape{2, 3}, v));
  CHECK(b.to_vector<float>() == v);
  b.zero_();
  CHECK(b.to_vector<float>() == std::vector<float>(6, 0.0f));
  for (DType t : {DType::f32, DType::i32, DType::u8}) CHECK(Tensor::full(Shape{5}, 7, t, gpu).item() == 7.0f);
  Tensor empty = Tensor::empty(Shape{0, 3}, DType::f32, gpu);
  CHECK(empty.to_vector<float>().empty());
  Tensor pinned = Tensor::empty(Shape{4}, DType::f32, Device::cpu(), /*pinned=*/true);
  pinned.fill_(2.0f);
  CHECK(pinned.to(gpu).to_vector<float>() == std::vector<float>(4, 2.0f));

  int64_t before = memory_stats(gpu).current;
  {
    Tensor big = Tensor::empty(Shape{1 << 20}, DType::f32, gpu);
    CHECK(memory_stats(gpu).current == before + (4 << 20));
  }
  CHECK(memory_stats(gpu).current == before);
}

TEST_CASE("running out of GPU memory is a clear error, and the GPU stays usable", "[cuda][memory]") {
  CHECK_THROWS_WITH(Tensor::empty(Shape{int64_t(1) << 40}, DType::f32, Device::cuda(0)),
                    Catch::Contains("CUDA out of memory"));
  CHECK(Tensor::full(Shape{3}, 1.0f, DType::f32, Device::cuda(0)).to_vector<float>() == std::vector<float>(3, 1.0f));
}

TEST_CASE("deterministic convolutions repeat bit for bit", "[cuda][conv]") {
  const Device gpu = Device::cuda(0);
  Tensor x = Tensor::empty(Shape{16, 32, 28, 28}, DType::f32, gpu), w = Tensor::empty(Shape{64, 32, 3, 3}, DType::f32, gpu);
  normal_(x, 0.0f, 1.0f);
  normal_(w, 0.0f, 0.1f);
  x.set_requires_grad(true);
  w.set_requires_grad(true);
  auto run = [&] {
    x.set_grad(Tensor());
    w.set_grad(Tensor());
    Tensor y = conv2d(x, w, Tensor(), {1, 1, 1, 1, 1, 1, 1});
    sum(mul(y, y)).backward();
    return std::vector<std::vector<float>>{y.to_vector<float>(), x.grad().to_vector<float>(), w.grad().to_vector<float>()};
  };
  auto first = run();
  CHECK(run() == first);
}
