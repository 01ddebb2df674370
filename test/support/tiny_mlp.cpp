#include "test/support/tiny_mlp.h"

#include "core/ops/ops.h"

namespace trim::test {

std::vector<float> pattern(int64_t n, float scale) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = scale * float((i * 37) % 101 - 50);
  return v;
}

TinyMlp::TinyMlp(Device d) : device(d) {
  const int64_t shapes[4][2] = {{64, 32}, {64, 1}, {10, 64}, {10, 1}};
  for (auto& s : shapes) {
    Tensor t = Tensor::from_vector(Shape{s[0], s[1]}, pattern(s[0] * s[1], 0.01f), device);
    if (s[1] == 1) t = t.view(Shape{s[0]});
    t.set_requires_grad(true);
    p.push_back(t);
  }
}

std::vector<OptimParam> TinyMlp::params() const {
  return {{"fc1.weight", p[0]}, {"fc1.bias", p[1]}, {"fc2.weight", p[2]}, {"fc2.bias", p[3]}};
}

void TinyMlp::backward() const {
  Tensor x = Tensor::from_vector(Shape{16, 32}, pattern(16 * 32, 0.02f), device);
  std::vector<int32_t> y(16);
  for (int i = 0; i < 16; ++i) y[size_t(i)] = i % 10;
  Tensor h = relu(linear(x, p[0], p[1]));
  cross_entropy(linear(h, p[2], p[3]), Tensor::from_vector(Shape{16}, y, device)).backward();
}

}  // namespace trim::test
