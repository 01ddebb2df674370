#include "spiking/sew_connect.h"

#include <cctype>

#include "core/autograd/node.h"
#include "core/ops/elementwise.h"
#include "spiking/neuron_kernels.h"

namespace trim::spiking {

Connect parse_connect(const Config& c, const std::string& key, Connect fallback) {
  if (!c.has(key)) return fallback;
  std::string v = c.get<std::string>(key);
  std::string up;
  for (char ch : v) up += char(std::toupper(static_cast<unsigned char>(ch)));
  if (up == "ADD") return Connect::add;
  if (up == "AND") return Connect::and_;
  if (up == "IAND") return Connect::iand;
  c.fail(key, "expected one of \"ADD\", \"AND\", \"IAND\" (any case), found \"" + v + "\"");
}

const char* connect_name(Connect f) { return f == Connect::add ? "ADD" : f == Connect::and_ ? "AND" : "IAND"; }

Tensor sew_connect(const Tensor& a, const Tensor& identity, Connect f) {
  if (f == Connect::add) return add(a, identity);
  if (f == Connect::and_) return mul(a, identity);
  const char* op = "sew_connect IAND";
  check_dtype(op, a, DType::f32, "a");
  check_dtype(op, identity, DType::f32, "identity");
  check_same_device(op, a, identity);
  check_shape(op, identity, a.shape(), "identity");
  Tensor y = Tensor::empty(a.shape(), DType::f32, a.device());
  TRIM_DISPATCH(a.device(), spiking_iand, a, identity, y);
  if (any_requires_grad({&a, &identity})) {
    Tensor sa = a.detach(), sb = identity.detach();
    record(y, "sew_iand", {&a, &identity}, [sa, sb](std::span<const Tensor> gout, const GradRequest& need) {
      const Tensor& g = gout[0];
      std::vector<Tensor> out(2);
      if (need[0]) out[0] = Tensor::empty(sa.shape(), DType::f32, g.device());
      if (need[1]) out[1] = Tensor::empty(sb.shape(), DType::f32, g.device());
      TRIM_DISPATCH(g.device(), spiking_iand_backward, sa, sb, g, out[0], out[1]);
      return out;
    }, {&sa, &sb});
  }
  return y;
}

}  // namespace trim::spiking
