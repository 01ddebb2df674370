#include "data/batch.h"

#include <exception>
#include <vector>

#include "core/error.h"
#ifdef TRIM_HAVE_CUDA
#include <cuda_runtime.h>

#include "core/cuda/check.h"
#include "core/cuda/context.h"
#include "core/cuda/runtime.h"
#endif

namespace trim {

#ifdef TRIM_HAVE_CUDA
// Per-thread resources for delivery to a GPU. One staging pair per worker is enough: the worker
// waits for its copy before it takes the next batch, so the buffers are free again by then.
struct BatchAssembler::CudaStaging {
  CudaStaging(int device, const Shape& images_shape, int64_t max_batch) {
    cuda::set_device(device);  // this worker thread's device, for the stream and the allocations
    images = Tensor::empty(images_shape, DType::u8, Device::cpu(), /*pinned=*/true);
    labels = Tensor::empty(Shape{max_batch}, DType::i32, Device::cpu(), /*pinned=*/true);
    // Non-blocking: the copies must not serialise with the legacy default stream.
    TRIM_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  }
  ~CudaStaging() { (void)cudaStreamDestroy(stream); }

  Tensor images, labels;  // pinned host memory, max_batch rows
  cudaStream_t stream = nullptr;
};
#else
struct BatchAssembler::CudaStaging {};  // never created: a CPU-only build delivers to the CPU
#endif

BatchAssembler::BatchAssembler(const Dataset& data, Device device, int64_t max_batch)
    : data_(data),
      device_(device),
      max_batch_(max_batch),
      item_shape_(data.item_shape()),
      item_bytes_(item_shape_.numel()),
      num_classes_(data.num_classes()) {}

BatchAssembler::~BatchAssembler() = default;

Shape BatchAssembler::batch_shape(int64_t count) const {
  std::vector<int64_t> dims = item_shape_.vec();
  dims.insert(dims.begin(), count);
  return Shape(dims);
}

void BatchAssembler::fill(const int64_t* indices, int64_t count, const ItemContext& ctx, uint8_t* images,
                          int32_t* labels) const {
  for (int64_t j = 0; j < count; ++j) {
    const int64_t i = indices[j];
    int32_t label;
    try {
      label = data_.get(i, images + j * item_bytes_, ctx);
    } catch (const std::exception& e) {
      throw Error(cat("example ", i, ": ", e.what()));
    }
    if (label < 0 || label >= num_classes_)
      throw Error(cat("example ", i, ": the dataset returned label ", label, ", expected 0..", num_classes_ - 1));
    labels[j] = label;
  }
}

Batch BatchAssembler::assemble(const int64_t* indices, int64_t count, int64_t batch_index, uint64_t seed,
                               int64_t epoch) {
  int64_t skipped = 0;
  const ItemContext ctx{seed, epoch, &skipped};
  TRIM_CHECK(count >= 1 && count <= max_batch_, cat("batch of ", count, " examples, at most ", max_batch_));
  if (device_.is_cpu()) {
    Batch b{Tensor::empty(batch_shape(count), DType::u8), Tensor::empty(Shape{count}, DType::i32), batch_index};
    fill(indices, count, ctx, b.images.data<uint8_t>(), b.labels.data<int32_t>());
    b.skipped = skipped;
    return b;
  }
#ifdef TRIM_HAVE_CUDA
  if (!cuda_) cuda_ = std::make_unique<CudaStaging>(device_.index, batch_shape(max_batch_), max_batch_);
  // Routes Tensor::empty's stream-ordered allocation (and any free during unwinding) to our stream.
  cuda::StreamGuard on_copy_stream(cuda_->stream);
  Tensor host_images = cuda_->images.narrow0(0, count);
  Tensor host_labels = cuda_->labels.narrow0(0, count);
  fill(indices, count, ctx, host_images.data<uint8_t>(), host_labels.data<int32_t>());
  Batch b{Tensor::empty(host_images.shape(), DType::u8, device_), Tensor::empty(host_labels.shape(), DType::i32, device_),
          batch_index};
  TRIM_CUDA_CHECK(cudaMemcpyAsync(b.images.raw_data(), host_images.raw_data(), host_images.nbytes(),
                                  cudaMemcpyHostToDevice, cuda_->stream));
  TRIM_CUDA_CHECK(cudaMemcpyAsync(b.labels.raw_data(), host_labels.raw_data(), host_labels.nbytes(),
                                  cudaMemcpyHostToDevice, cuda_->stream));
  // Waiting here means a published batch is complete: the consumer needs no event, and the staging
  // buffers may be refilled for the next batch.
  TRIM_CUDA_CHECK(cudaStreamSynchronize(cuda_->stream));
  b.skipped = skipped;
  return b;
#else
  throw Error(cat("batches for ", device_.str(), " need the CUDA backend, which this build of trim lacks"));
#endif
}

}  // namespace trim
