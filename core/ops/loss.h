#pragma once
#include "core/tensor.h"

namespace trim {

// Mean softmax cross-entropy of logits [N, C] against i32 labels [N], with label smoothing eps:
// the target is (1 - eps) on the label plus eps / C on every class. A label outside [0, C) makes
// the loss NaN (datasets validate labels when they load).
Tensor cross_entropy(const Tensor& logits, const Tensor& labels, float label_smoothing = 0.0f);

// counter (i32 scalar on the logits' device) += number of rows whose argmax equals the label.
// Stays on the device, so a training loop can count without synchronising every step.
void count_correct(const Tensor& logits, const Tensor& labels, Tensor& counter);

}  // namespace trim
