#include "data/subset.h"

namespace trim {
namespace {

class Prefix : public Dataset {
 public:
  Prefix(std::shared_ptr<const Dataset> base, int64_t n) : base_(std::move(base)), n_(n) {}
  int64_t size() const override { return n_; }
  Shape item_shape() const override { return base_->item_shape(); }
  int num_classes() const override { return base_->num_classes(); }
  int32_t get(int64_t i, uint8_t* dst, const ItemContext& ctx) const override { return base_->get(i, dst, ctx); }

 private:
  std::shared_ptr<const Dataset> base_;
  int64_t n_;
};

}  // namespace

std::shared_ptr<const Dataset> first_examples(std::shared_ptr<const Dataset> base, int64_t n) {
  if (n <= 0 || n >= base->size()) return base;
  return std::make_shared<Prefix>(std::move(base), n);
}

}  // namespace trim
