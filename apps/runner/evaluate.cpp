#include "apps/runner/evaluate.h"

#include "core/autograd/grad_mode.h"
#include "core/ops/ops.h"

namespace trim {
namespace {

struct Sums {
  double loss = 0.0, correct = 0.0, seen = 0.0;
};

// Sums over the first `limit` examples the loader delivers (all of them when limit < 0).
Sums evaluate_sums(Module& model, DataLoader& loader, const ChannelAffine& norm, Device device, int64_t limit) {
  NoGradGuard no_grad;
  model.eval();
  Tensor loss_sum = Tensor::zeros(Shape{}, DType::f32, device);
  Tensor correct = Tensor::zeros(Shape{}, DType::i32, device);
  loader.start_epoch(0);
  int64_t seen = 0;
  while (auto b = loader.next()) {
    int64_t n = b->labels.numel();
    if (limit >= 0 && seen + n > limit) n = limit - seen;
    if (n <= 0) continue;
    Tensor images = n == b->labels.numel() ? b->images : b->images.narrow0(0, n);
    Tensor labels = n == b->labels.numel() ? b->labels : b->labels.narrow0(0, n);
    Tensor logits = model(affine_u8(images, norm));
    add_(loss_sum, cross_entropy(logits, labels), float(n));
    count_correct(logits, labels, correct);
    seen += n;
  }
  model.train();
  return {double(loss_sum.item()), double(correct.item()), double(seen)};
}

}  // namespace

Eval evaluate(Module& model, DataLoader& loader, const ChannelAffine& norm, Device device) {
  Sums s = evaluate_sums(model, loader, norm, device, -1);
  return {s.loss / s.seen, s.correct / s.seen};
}

Eval evaluate_sharded(Module& model, DataLoader& loader, const ChannelAffine& norm, Device device,
                      int64_t dataset_size, comm::Communicator& comm) {
  if (comm.world() == 1) return evaluate(model, loader, norm, device);
  // Rank r holds padded positions r, r + world, ...; those at or past dataset_size are the
  // wrap-around copies, all at the end of its order.
  const int64_t r = comm.rank(), w = comm.world();
  const int64_t own = dataset_size > r ? (dataset_size - r + w - 1) / w : 0;
  Sums s = evaluate_sums(model, loader, norm, device, own);
  double v[3] = {s.loss, s.correct, s.seen};
  comm.all_reduce_host(v, comm::ReduceOp::sum, "reducing the evaluation's sums");
  return {v[0] / v[2], v[1] / v[2]};
}

}  // namespace trim
