#include <vector>

#include "core/cpu/parallel.h"
#include "core/kernels/kernels.h"
#include "core/kernels/loss_math.h"

namespace trim::cpu {

void softmax_xent_forward(const Tensor& logits, const Tensor& labels, float smoothing, Tensor& probs, Tensor& loss) {
  int64_t n = logits.size(0), classes = logits.size(1);
  const float* z = logits.data<float>();
  const int32_t* y = labels.data<int32_t>();
  float* p = probs.data<float>();
  std::vector<float> rows(static_cast<size_t>(n));
  parallel_for(n, logits.numel() >= kParallelGrain, [&](int64_t i) {
    rows[size_t(i)] = xent::row_forward(z + i * classes, classes, y[i], smoothing, p + i * classes);
  });
  double s = 0.0;
  for (float r : rows) s += r;
  loss.data<float>()[0] = float(s / double(n));
}

#include "core/kernels/loss.inc"

void count_correct(const Tensor& logits, const Tensor& labels, Tensor& counter) {
  int64_t n = logits.size(0), classes = logits.size(1);
  const float* z = logits.data<float>();
  const int32_t* y = labels.data<int32_t>();
  int32_t hits = 0;
  for (int64_t i = 0; i < n; ++i) hits += xent::row_argmax(z + i * classes, classes) == y[i];
  counter.data<int32_t>()[0] += hits;
}

}  // namespace trim::cpu
