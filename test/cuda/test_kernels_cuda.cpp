// CUDA kernels outside the differentiable op table, the loader's GPU delivery and the memory pool.
#include <catch2/catch.hpp>

#include <cuda_runtime.h>

#include "core/memory.h"
#include "core/ops/ops.h"
#include "data/array_dataset.h"
#include "data/loader.h"
#include "layers/layers.h"
#include "test/support/gradcheck.h"

using namespace trim;

TEST_CASE("count_correct, affine_u8 and fill agree with the CPU", "[cuda]") {
  Tensor logits = Tensor::from_vector<float>(Shape{4, 3}, {1, 1, 0, 0, 2, 2, 3, 1, 3, -1, -2, -3});
  Tensor labels = Tensor::from_vector<int32_t>(Shape{4}, {0, 2, 0, 0});
  Tensor c = Tensor::zeros(Shape{}, DType::i32, Device::cuda(0));
  count_correct(logits.to(Device::cuda(0)), labels.to(Device::cuda(0)), c);
  count_correct(logits.to(Device::cuda(0)), labels.to(Device::cuda(0)), c);
  CHECK(c.item() == 6.0f);
  std::vector<uint8_t> px(2 * 3 * 5 * 7);
  for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t(i * 37);
  Tensor img = Tensor::from_vector(Shape{2, 3, 5, 7}, px);
  ChannelAffine a;
  a.channels = 3;
  for (int k = 0; k < 3; ++k) a.scale[k] = 0.01f * float(k + 1), a.shift[k] = -0.5f * float(k);
  CHECK(affine_u8(img.to(Device::cuda(0)), a).to_vector<float>() == affine_u8(img, a).to_vector<float>());
  Tensor f = Tensor::full(Shape{1000}, 3.0f, DType::i32, Device::cuda(0));
  CHECK(f.to_vector<int32_t>() == std::vector<int32_t>(1000, 3));
}

TEST_CASE("the loader delivers the same batches to the GPU as to the CPU", "[cuda][data]") {
  std::vector<uint8_t> images(1000 * 12);
  std::vector<int32_t> labels(1000);
  for (size_t i = 0; i < labels.size(); ++i) {
    labels[i] = int32_t(i % 7);
    for (int k = 0; k < 12; ++k) images[i * 12 + size_t(k)] = uint8_t((i * 13 + size_t(k)) % 251);
  }
  auto data = std::make_shared<ArrayDataset>(Shape{3, 2, 2}, 7, images, labels, "test");
  LoaderOptions o;
  o.batch_size = 64;
  o.workers = 3;
  o.seed = 5;
  DataLoader cpu(data, o);
  o.device = Device::cuda(0);
  DataLoader gpu(data, o);
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    cpu.start_epoch(epoch);
    gpu.start_epoch(epoch);
    int64_t batches = 0;
    while (auto b = cpu.next()) {
      auto g = gpu.next();
      REQUIRE(g);
      CHECK(g->images.is_cuda());
      CHECK(g->images.to_vector<uint8_t>() == b->images.to_vector<uint8_t>());
      CHECK(g->labels.to_vector<int32_t>() == b->labels.to_vector<int32_t>());
      ++batches;
    }
    CHECK_FALSE(gpu.next());
    CHECK(batches == cpu.batches_per_epoch());
  }
}

TEST_CASE("a steady-state training step makes no new driver allocations", "[cuda][memory]") {
  Conv2d conv(Conv2dOptions{.in = 3, .out = 16, .kernel = 3, .padding = 1});
  BatchNorm2d bn(16);
  Linear fc(16, 10);
  conv.to(Device::cuda(0));
  bn.to(Device::cuda(0));
  fc.to(Device::cuda(0));
  Tensor x = Tensor::empty(Shape{32, 3, 16, 16}, DType::f32, Device::cuda(0));
  normal_(x, 0.0f, 1.0f);
  Tensor y = Tensor::zeros(Shape{32}, DType::i32, Device::cuda(0));
  auto step = [&] {
    Tensor h = relu(bn(conv(x)));
    Tensor loss = cross_entropy(fc(reshape(global_avg_pool(h), Shape{32, 16})), y);
    loss.backward();
  };
  for (int i = 0; i < 3; ++i) step();  // warm up: algorithm search, pool growth
  synchronize(Device::cuda(0));
  cudaMemPool_t pool;
  REQUIRE(cudaDeviceGetDefaultMemPool(&pool, 0) == cudaSuccess);
  uint64_t reserved_before = 0, reserved_after = 0;
  cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReservedMemCurrent, &reserved_before);
  for (int i = 0; i < 10; ++i) step();
  synchronize(Device::cuda(0));
  cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReservedMemCurrent, &reserved_after);
  CHECK(reserved_after == reserved_before);
  CHECK(memory_stats(Device::cuda(0)).peak > 0);
}
