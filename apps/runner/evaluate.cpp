#include "apps/runner/evaluate.h"

#include "core/autograd/grad_mode.h"
#include "core/ops/ops.h"

namespace trim {

Eval evaluate(Module& model, DataLoader& loader, const ChannelAffine& norm, Device device) {
  NoGradGuard no_grad;
  model.eval();
  Tensor loss_sum = Tensor::zeros(Shape{}, DType::f32, device);
  Tensor correct = Tensor::zeros(Shape{}, DType::i32, device);
  loader.start_epoch(0);
  int64_t seen = 0;
  while (auto b = loader.next()) {
    Tensor logits = model(affine_u8(b->images, norm));
    add_(loss_sum, cross_entropy(logits, b->labels), float(b->labels.numel()));
    count_correct(logits, b->labels, correct);
    seen += b->labels.numel();
  }
  model.train();
  return {loss_sum.item() / double(seen), correct.item() / double(seen)};
}

}  // namespace trim
