// Autograd's node contract: nodes with several outputs, the version check on saved tensors, and
// the storage rebinding the parameter store relies on.
#include <catch2/catch.hpp>

#include "core/autograd/node.h"
#include "core/ops/ops.h"
#include "test/support/fixtures.h"

using namespace trim;

using test::leaf;

namespace {

std::vector<float> values(const Tensor& t) { return t.to_vector<float>(); }

// y1 = 2x, y2 = 3x as one node; its backward records what it was handed.
struct TwoOutputs {
  Tensor y1, y2;
  std::shared_ptr<int> runs = std::make_shared<int>(0);
  std::shared_ptr<std::vector<bool>> defined = std::make_shared<std::vector<bool>>();
};

TwoOutputs two_outputs(const Tensor& x) {
  TwoOutputs o;
  o.y1 = scale(x.detach(), 2.0f);
  o.y2 = scale(x.detach(), 3.0f);
  record({&o.y1, &o.y2}, "two_outputs", {&x}, [runs = o.runs, defined = o.defined](std::span<const Tensor> g, const GradRequest&) {
    ++*runs;
    REQUIRE(g.size() == 2);
    *defined = {g[0].defined(), g[1].defined()};
    Tensor gx = Tensor::zeros(g[0].defined() ? g[0].shape() : g[1].shape());
    if (g[0].defined()) add_(gx, g[0], 2.0f);  // an undefined gradient counts as zero
    if (g[1].defined()) add_(gx, g[1], 3.0f);
    return std::vector<Tensor>{gx};
  });
  return o;
}

}  // namespace

TEST_CASE("a node with two outputs runs once, after both outputs' gradients are complete", "[autograd]") {
  Tensor x = leaf({1, -2});
  TwoOutputs o = two_outputs(x);
  CHECK(o.y1.grad_fn() == o.y2.grad_fn());
  // y2 reaches the loss through a longer path than y1, so y1's consumer runs first: the node must
  // still wait for y2's. d/dx [sum(y1 * y1) + sum(scale(scale(y2, 1), 5))] = 2 y1 * 2 + 5 * 3.
  Tensor loss = add(sum(mul(o.y1, o.y1)), sum(scale(scale(o.y2, 1.0f), 5.0f)));
  loss.backward();
  CHECK(*o.runs == 1);
  CHECK(*o.defined == std::vector<bool>{true, true});
  CHECK(values(x.grad()) == std::vector<float>{2 * 2 * 2 + 15, 2 * -4 * 2 + 15});
}

TEST_CASE("an output no gradient reached arrives undefined, and counts as zero", "[autograd]") {
  Tensor x = leaf({1, -2});
  TwoOutputs only_second = two_outputs(x);
  sum(only_second.y2).backward();
  CHECK(*only_second.defined == std::vector<bool>{false, true});
  CHECK(values(x.grad()) == std::vector<float>{3, 3});

  Tensor z = leaf({4});
  TwoOutputs only_first = two_outputs(z);
  sum(only_first.y1).backward();
  CHECK(*only_first.defined == std::vector<bool>{true, false});
  CHECK(values(z.grad()) == std::vector<float>{2});
}

TEST_CASE("backward from a node's second output seeds that output", "[autograd]") {
  Tensor x = leaf({5});
  TwoOutputs o = two_outputs(x);
  sum(o.y2).backward();
  CHECK(values(x.grad()) == std::vector<float>{3});
}

TEST_CASE("in-place writes bump the version shared by all views of the memory", "[autograd]") {
  Tensor t = Tensor::zeros(Shape{4});
  Tensor v = t.narrow0(1, 2);
  uint64_t v0 = t.version();
  t.fill_(1.0f);
  CHECK(t.version() == v0 + 1);
  add_(v, Tensor::full(Shape{2}, 1.0f));
  CHECK(t.version() == v0 + 2);
  v.copy_(Tensor::zeros(Shape{2}));
  uniform_(t, 0.0f, 1.0f);
  t.zero_();
  CHECK(t.version() == v0 + 5);
  Tensor c = t.clone();
  CHECK(c.version() == 0);  // new memory, new count
}

TEST_CASE("modifying a tensor that backward saved, in place, is an error naming the op", "[autograd]") {
  Tensor a = leaf({1, 2}), b = leaf({3, -1});
  {
    Tensor y = mul(a, b);  // saves a and b
    Tensor loss = sum(y);
    add_(a, Tensor::full(Shape{2}, 1.0f));  // a is now version + 1
    CHECK_THROWS_WITH(loss.backward(), Catch::Contains("backward of 'mul'") && Catch::Contains("modified in place") &&
                                           Catch::Contains(cat("version ", a.version() - 1, " when saved, ",
                                                               a.version(), " now")));
  }
  {
    Tensor x = leaf({-1, 2});
    Tensor r = relu(scale(x, 1.0f));  // saves its output r
    Tensor loss = sum(r);             // saves nothing
    r.fill_(5.0f);
    CHECK_THROWS_WITH(loss.backward(), Catch::Contains("backward of 'relu'"));
  }
}

TEST_CASE("without an in-place write after recording, saved tensors pass the check", "[autograd]") {
  Tensor a = leaf({1, 2}), b = leaf({3, -1});
  add_(a, Tensor::full(Shape{2}, 1.0f));  // before recording: fine
  Tensor loss = sum(mul(a, b));
  Tensor other = Tensor::zeros(Shape{2});
  other.fill_(1.0f);  // unrelated memory
  loss.backward();
  CHECK(values(a.grad()) == std::vector<float>{3, -1});
  CHECK(values(b.grad()) == std::vector<float>{2, 3});
}

TEST_CASE("rebind_storage moves a leaf's values into new memory for every handle", "[autograd]") {
  Tensor p = leaf({1, 2, 3});
  Tensor alias = p;
  Tensor old_view = p.detach();
  Tensor arena = Tensor::zeros(Shape{8});
  p.rebind_storage(arena.narrow0(4, 3));
  CHECK(alias.data<float>() == arena.data<float>() + 4);
  CHECK(values(arena) == std::vector<float>{0, 0, 0, 0, 1, 2, 3, 0});
  CHECK(p.requires_grad());
  CHECK(p.is_leaf());
  arena.fill_(7.0f);
  CHECK(values(alias) == std::vector<float>{7, 7, 7});
  CHECK(values(old_view) == std::vector<float>{1, 2, 3});  // views taken before keep the old memory
  sum(mul(p, p)).backward();
  CHECK(values(p.grad()) == std::vector<float>{14, 14, 14});

  CHECK_THROWS_WITH(p.rebind_storage(arena.narrow0(0, 2)), Catch::Contains("rebind_storage: home [2]"));
  Tensor y = scale(p, 2.0f);
  CHECK_THROWS_WITH(y.rebind_storage(arena.narrow0(0, 3)), Catch::Contains("produced by a recorded op"));
}
