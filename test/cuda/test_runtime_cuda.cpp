// The CUDA runtime under conditions the other cases do not create: the upload ring wrapping around
// while the GPU is behind, the data loader restarted, doubled and destroyed mid-epoch, and tensors
// past the 32-bit element limit of the legacy library APIs.
#include <catch2/catch.hpp>

#include <cuda_runtime.h>

#include <cmath>

#include "core/cuda/runtime.h"
#include "core/memory.h"
#include "core/ops/ops.h"
#include "data/array_dataset.h"
#include "data/loader.h"
#include "test/support/kernel_call.h"

using namespace trim;

namespace {

const Device kGpu = Device::cuda(0);

std::shared_ptr<ArrayDataset> small_dataset() {
  std::vector<uint8_t> images(1000 * 12);
  std::vector<int32_t> labels(1000);
  for (size_t i = 0; i < labels.size(); ++i) {
    labels[i] = int32_t(i % 7);
    for (int k = 0; k < 12; ++k) images[i * 12 + size_t(k)] = uint8_t((i * 13 + size_t(k)) % 251);
  }
  return std::make_shared<ArrayDataset>(Shape{3, 2, 2}, 7, images, labels, "test");
}

LoaderOptions loader_options(Device d) {
  LoaderOptions o;
  o.batch_size = 32;
  o.workers = 3;
  o.prefetch = 4;
  o.seed = 11;
  o.device = d;
  return o;
}

}  // namespace

TEST_CASE("the upload ring wraps around while the GPU runs behind the host", "[cuda][upload]") {
  constexpr int kUploads = 10 * cuda::Uploader::kSlots + 3;
  cuda::Uploader up(sizeof(int32_t) * 4);
  Tensor dst = Tensor::zeros(Shape{kUploads * 4}, DType::i32, kGpu);
  Tensor busy = Tensor::empty(Shape{int64_t(1) << 28}, DType::f32, kGpu);  // 1 GiB of fills queued ahead
  for (int k = 0; k < kUploads; ++k) {
    if (k % 2 == 0) busy.fill_(float(k));
    int32_t v[4] = {k, -k, 3 * k, k + 7};
    up.upload(dst.data<int32_t>() + 4 * k, v);
  }
  std::vector<int32_t> want;
  for (int k = 0; k < kUploads; ++k)
    for (int32_t v : {k, -k, 3 * k, k + 7}) want.push_back(v);
  CHECK(dst.to_vector<int32_t>() == want);
}

TEST_CASE("the CUDA loader restarts mid-epoch, runs twice at once and is destroyed mid-epoch", "[cuda][data]") {
  auto data = small_dataset();
  synchronize(kGpu);
  const int64_t before = memory_stats(kGpu).current;
  {
    DataLoader cpu(data, loader_options(Device::cpu()));
    DataLoader gpu(data, loader_options(kGpu)), twin(data, loader_options(kGpu));
    gpu.start_epoch(0);
    twin.start_epoch(0);
    for (int k = 0; k < 3; ++k) REQUIRE(gpu.next());  // workers have more in flight
    // Restart at batch 5 of epoch 1: the batches in flight are dropped (freed on the workers).
    cpu.start_epoch(1, 5);
    gpu.start_epoch(1, 5);
    int64_t batches = 0;
    while (auto b = cpu.next()) {
      auto g = gpu.next();
      REQUIRE(g);
      CHECK(g->index == b->index);
      CHECK(g->images.to_vector<uint8_t>() == b->images.to_vector<uint8_t>());
      CHECK(g->labels.to_vector<int32_t>() == b->labels.to_vector<int32_t>());
      ++batches;
    }
    CHECK_FALSE(gpu.next());
    CHECK(batches == cpu.batches_per_epoch() - 5);
    // The second loader delivered epoch 0 meanwhile, unaffected.
    DataLoader ref(data, loader_options(Device::cpu()));
    ref.start_epoch(0);
    for (int k = 0; k < 4; ++k) {
      auto r = ref.next();
      auto t = twin.next();
      REQUIRE(t);
      CHECK(t->images.to_vector<uint8_t>() == r->images.to_vector<uint8_t>());
    }
    gpu.start_epoch(2);
    REQUIRE(gpu.next());
  }  // destroyed mid-epoch with batches in flight
  synchronize(kGpu);
  CHECK(memory_stats(kGpu).current == before);
  // The device is healthy after all the frees.
  CHECK(Tensor::full(Shape{5}, 4.0f, DType::f32, kGpu).to_vector<float>() == std::vector<float>(5, 4.0f));
}

TEST_CASE("a kernel on a tensor of another device is a clear error", "[cuda][device]") {
  if (cuda_device_count() < 2) {
    // One GPU: the check still guards the device index the dispatch is given.
    CHECK_THROWS_WITH(cuda::check_current_device(1, "add"), Catch::Contains("current device"));
    return;
  }
  Tensor a = Tensor::full(Shape{1000}, 1.0f, DType::f32, Device::cuda(1));  // made while cuda:0 is current
  CHECK(a.to_vector<float>() == std::vector<float>(1000, 1.0f));
  Tensor b = a.to(kGpu);  // across devices, ordered by events
  CHECK(b.to_vector<float>() == std::vector<float>(1000, 1.0f));
  CHECK_THROWS_WITH(add(a, a), Catch::Contains("current device"));
  set_current_device(Device::cuda(1));
  CHECK(add(a, a).to_vector<float>() == std::vector<float>(1000, 2.0f));
  set_current_device(kGpu);
}

TEST_CASE("a refused CUDA call is cleared: the next kernel check does not report it", "[cuda][errors]") {
  // Each refusal below leaves a status in the runtime's last-error slot unless trim clears it when
  // it throws; TRIM_KERNEL_CHECK reads that slot after every launch and would blame the next kernel.
  Tensor a = Tensor::full(Shape{1000}, 1.5f, DType::f32, kGpu);
  synchronize(kGpu);
  SECTION("an allocation larger than any GPU") {
    void* stream = nullptr;
    CHECK_THROWS(cuda::malloc_on(0, size_t(1) << 52, &stream));  // 4 PiB
    CHECK_THROWS(Tensor::empty(Shape{int64_t(1) << 50}, DType::f32, kGpu));
  }
  SECTION("a device that does not exist (cudaSetDevice through TRIM_CUDA_CHECK)") {
    const int missing = cuda_device_count();
    REQUIRE(missing < 16);
    CHECK_THROWS_WITH(cuda::set_device(missing), Catch::Contains("cudaSetDevice"));
    CHECK_THROWS_WITH(cuda::DeviceGuard(missing), Catch::Contains("cudaSetDevice"));
    CHECK(cuda::current_device() == 0);
  }
  CHECK(cudaPeekAtLastError() == cudaSuccess);
  const uint64_t launches = cuda::kernel_launches();
  Tensor b = add(a, a);  // a launch whose TRIM_KERNEL_CHECK would report a stale status
  CHECK(cuda::kernel_launches() > launches);
  CHECK(b.to_vector<float>() == std::vector<float>(1000, 3.0f));
}

TEST_CASE("tensors over 2^31 elements: element-wise, sum, 64-bit map3 and conv", "[cuda][big]") {
  const int64_t n = (int64_t(1) << 31) + 7;
  {
    Tensor a = Tensor::full(Shape{n}, 1.0f, DType::f32, kGpu);
    CHECK(sum(a).item() == Approx(double(n)).epsilon(1e-6));
    Tensor b = add(a, a);
    CHECK(b.narrow0(n - 5, 5).to_vector<float>() == std::vector<float>(5, 2.0f));
    CHECK(b.narrow0(0, 5).to_vector<float>() == std::vector<float>(5, 2.0f));
  }
  {
    const int64_t inner = 306783379;  // 7 * inner = 2^31 + 5: map3's 64-bit path
    Tensor y = Tensor::full(Shape{1, 7, inner}, 1.0f, DType::f32, kGpu);
    Tensor bias = Tensor::from_vector(Shape{7}, std::vector<float>{0, 1, 2, 3, 4, 5, 6}, kGpu);
    cuda::add_bias(y, bias, inner);
    Tensor flat = y.view(Shape{7 * inner});
    CHECK(flat.narrow0(7 * inner - 3, 3).to_vector<float>() == std::vector<float>(3, 7.0f));
    CHECK(flat.narrow0(inner - 1, 2).to_vector<float>() == std::vector<float>{1.0f, 2.0f});
  }
  {
    // Two images of 64 x 4096 x 4097 (just over 2^30 elements each): convolved in two chunks.
    Tensor x = Tensor::full(Shape{2, 64, 4096, 4097}, 1.5f, DType::f32, kGpu);
    Tensor w = Tensor::full(Shape{1, 64, 1, 1}, 2.0f, DType::f32, kGpu);
    Tensor y = conv2d(x, w, Tensor(), Conv2dParams{});  // every output is 64 * 1.5 * 2 = 192, exactly
    Tensor flat = y.view(Shape{y.numel()});
    CHECK(flat.narrow0(0, 3).to_vector<float>() == std::vector<float>(3, 192.0f));
    CHECK(flat.narrow0(y.numel() - 3, 3).to_vector<float>() == std::vector<float>(3, 192.0f));
    CHECK(flat.narrow0(y.numel() / 2 - 1, 2).to_vector<float>() == std::vector<float>(2, 192.0f));
    CHECK(sum(y).item() == Approx(192.0 * double(y.numel())).epsilon(1e-6));
  }
  {
    // One image alone past the limit cannot be split: a clear refusal.
    Tensor x = Tensor::full(Shape{1, 1, 46341, 46341}, 1.0f, DType::f32, kGpu);
    Tensor w = Tensor::full(Shape{1, 1, 1, 1}, 1.0f, DType::f32, kGpu);
    CHECK_THROWS_WITH(conv2d(x, w, Tensor(), Conv2dParams{}), Catch::Contains("2^31 - 1"));
  }
  CHECK(Tensor::full(Shape{3}, 1.0f, DType::f32, kGpu).to_vector<float>() == std::vector<float>(3, 1.0f));
}

namespace {

// Example 123 cannot be read: the failure happens inside a worker's copy-stream scope.
class FailingDataset : public Dataset {
 public:
  explicit FailingDataset(std::shared_ptr<ArrayDataset> inner) : inner_(std::move(inner)) {}
  int64_t size() const override { return inner_->size(); }
  Shape item_shape() const override { return inner_->item_shape(); }
  int num_classes() const override { return inner_->num_classes(); }
  int32_t get(int64_t i, uint8_t* dst, const ItemContext& ctx) const override {
    if (i == 123) throw Error("unreadable example");
    return inner_->get(i, dst, ctx);
  }

 private:
  std::shared_ptr<ArrayDataset> inner_;
};

}  // namespace

TEST_CASE("a dataset error in a CUDA loader is reported, and the loader and GPU stay usable", "[cuda][data]") {
  auto data = std::make_shared<FailingDataset>(small_dataset());
  synchronize(kGpu);
  const int64_t before = memory_stats(kGpu).current;
  {
    LoaderOptions o = loader_options(kGpu);
    o.shuffle = false;  // example 123 is in batch 3
    DataLoader gpu(data, o);
    gpu.start_epoch(0);
    for (int k = 0; k < 3; ++k) REQUIRE(gpu.next());
    CHECK_THROWS_WITH(gpu.next(), Catch::Contains("unreadable example"));
    gpu.start_epoch(1, 4);  // past the bad batch
    int64_t batches = 0;
    while (auto b = gpu.next()) {
      CHECK(b->images.is_cuda());
      ++batches;
    }
    CHECK(batches == gpu.batches_per_epoch() - 4);
  }
  synchronize(kGpu);
  CHECK(memory_stats(kGpu).current == before);
}
