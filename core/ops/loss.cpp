#include "core/ops/loss.h"

#include "core/autograd/node.h"
#include "core/kernels/kernels.h"

namespace trim {
namespace {

void check_inputs(const char* op, const Tensor& logits, const Tensor& labels) {
  check_dtype(op, logits, DType::f32, "logits");
  check_dtype(op, labels, DType::i32, "labels");
  check_same_device(op, logits, labels);
  TRIM_CHECK(logits.ndim() == 2 && logits.size(0) > 0 && logits.size(1) > 0,
             cat(op, ": logits must be [N, C] with N, C > 0, got ", logits.shape().str()));
  check_shape(op, labels, Shape{logits.size(0)}, "labels");
}

}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& labels, float label_smoothing) {
  check_inputs("cross_entropy", logits, labels);
  TRIM_CHECK(label_smoothing >= 0.0f && label_smoothing < 1.0f,
             cat("cross_entropy: label smoothing must be in [0, 1), got ", label_smoothing));
  Tensor probs = Tensor::empty(logits.shape(), DType::f32, logits.device());
  Tensor loss = Tensor::empty(Shape{}, DType::f32, logits.device());
  TRIM_DISPATCH(logits.device(), softmax_xent_forward, logits, labels, label_smoothing, probs, loss);
  if (any_requires_grad({&logits})) {
    record(loss, "cross_entropy", {&logits}, [probs, labels, label_smoothing](std::span<const Tensor> gout, const GradRequest&) {
      const Tensor& g = gout[0];
      Tensor gl = Tensor::empty(probs.shape(), DType::f32, g.device());
      TRIM_DISPATCH(g.device(), softmax_xent_backward, probs, labels, label_smoothing, g, gl);
      return std::vector<Tensor>{gl};
    });
  }
  return loss;
}

void count_correct(const Tensor& logits, const Tensor& labels, Tensor& counter) {
  check_inputs("count_correct", logits, labels);
  check_dtype("count_correct", counter, DType::i32, "counter");
  check_same_device("count_correct", logits, counter);
  TRIM_DISPATCH(logits.device(), count_correct, logits, labels, counter);
}

}  // namespace trim
