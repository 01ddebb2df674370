#pragma once
#include <cstdint>
#include <memory>

#include "core/tensor.h"
#include "data/dataset.h"

namespace trim {

// A batch as a loader delivers it.
struct Batch {
  Tensor images;  // u8 [B, C, H, W] on the loader's device
  Tensor labels;  // i32 [B] on the loader's device
  int64_t index;  // batch number within the epoch (0-based)
  int64_t skipped = 0;  // bad files the dataset skipped (substituted) for this batch (data.skip_bad_files)
};

// Turns a list of example indices into a Batch on one device. Each loader worker thread owns one,
// because it keeps per-thread resources: for CUDA delivery, a copy stream and pinned staging
// buffers, created on first use in the calling thread.
class BatchAssembler {
 public:
  // max_batch: the largest count assemble() will be asked for (it sizes the staging buffers).
  BatchAssembler(const Dataset& data, Device device, int64_t max_batch);
  ~BatchAssembler();
  BatchAssembler(const BatchAssembler&) = delete;
  BatchAssembler& operator=(const BatchAssembler&) = delete;

  // Row j of the result is example indices[j], for 1 <= count <= max_batch, asked for with
  // {seed, epoch} (its random augmentation). On the CPU the examples
  // are written straight into the returned tensors. On a CUDA device they are gathered into pinned
  // host memory and copied on this assembler's own stream; the copy has finished when assemble()
  // returns, so the consumer may use the tensors on any stream without waiting. Throws trim::Error
  // naming the example when the dataset fails or returns a label outside [0, num_classes).
  Batch assemble(const int64_t* indices, int64_t count, int64_t batch_index, uint64_t seed, int64_t epoch);

 private:
  void fill(const int64_t* indices, int64_t count, const ItemContext& ctx, uint8_t* images, int32_t* labels) const;
  Shape batch_shape(int64_t count) const;

  const Dataset& data_;
  Device device_;
  int64_t max_batch_;
  Shape item_shape_;
  int64_t item_bytes_;
  int num_classes_;
  struct CudaStaging;
  std::unique_ptr<CudaStaging> cuda_;
};

}  // namespace trim
