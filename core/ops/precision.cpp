#include "core/ops/precision.h"

#include <mutex>
#include <unordered_map>

#include "core/kernels/kernels.h"

namespace trim {
namespace {

thread_local Precision tls_precision = Precision::fp32;

// A registered copy and the version of its parameter's storage when the copy was last made equal
// to it. The parameter is held weakly: the registry never keeps a model alive, and an address
// reused by another tensor is told apart from the registered one.
struct CopyEntry {
  std::weak_ptr<TensorImpl> owner;
  Tensor copy;
  const Storage* storage = nullptr;  // the parameter's memory then (rebind_storage changes it)
  uint64_t version = 0;
  bool valid = false;  // false until the first cast
};

struct Registry {
  std::mutex lock;
  std::unordered_map<const TensorImpl*, CopyEntry> copies;
};

Registry& registry() {
  static Registry r;
  return r;
}

Tensor cast_to_bf16(const Tensor& t, Tensor out) {
  TRIM_DISPATCH(t.device(), cast, t, out);
  return out;
}

}  // namespace

const char* precision_name(Precision p) { return p == Precision::bf16 ? "bf16" : "fp32"; }

Precision precision_from_name(const std::string& name) {
  if (name == "fp32") return Precision::fp32;
  if (name == "bf16") return Precision::bf16;
  throw Error(cat("precision: expected \"fp32\" or \"bf16\", found \"", name, "\""));
}

Precision compute_precision() { return tls_precision; }

PrecisionScope::PrecisionScope(Precision p) : prev_(tls_precision) { tls_precision = p; }
PrecisionScope::~PrecisionScope() { tls_precision = prev_; }

Tensor bf16_operand(const Tensor& t) {
  if (t.dtype() == DType::bf16) return t;
  TRIM_CHECK(t.dtype() == DType::f32, cat("bf16 operand: expected an f32 tensor, found ", dtype_name(t.dtype())));
  Registry& r = registry();
  {
    std::lock_guard<std::mutex> guard(r.lock);
    auto it = r.copies.find(t.impl().get());
    if (it != r.copies.end() && it->second.owner.lock() == t.impl()) {
      CopyEntry& e = it->second;
      const uint64_t now = t.version();
      const Storage* mem = t.impl()->storage.get();
      if (!e.valid || e.version != now || e.storage != mem) {
        // The copy's arena version is deliberately not bumped: the copy is a function of the
        // parameter, whose own version autograd checks.
        cast_to_bf16(t, e.copy);
        e.version = now, e.storage = mem, e.valid = true;
      }
      return e.copy;
    }
  }
  return cast_to_bf16(t, Tensor::empty(t.shape(), DType::bf16, t.device()));
}

void attach_bf16_copy(const Tensor& t, const Tensor& copy) {
  TRIM_CHECK(t.defined() && t.dtype() == DType::f32, "attach_bf16_copy: expected an f32 tensor");
  TRIM_CHECK(copy.defined() && copy.dtype() == DType::bf16 && copy.shape() == t.shape() && copy.device() == t.device(),
             cat("attach_bf16_copy: the copy must be bf16 of shape ", t.shape().str(), " on ", t.device().str()));
  Registry& r = registry();
  std::lock_guard<std::mutex> guard(r.lock);
  r.copies[t.impl().get()] = CopyEntry{t.impl(), copy, nullptr, 0, false};
}

void detach_bf16_copy(const Tensor& t) {
  if (!t.defined()) return;
  Registry& r = registry();
  std::lock_guard<std::mutex> guard(r.lock);
  auto it = r.copies.find(t.impl().get());
  if (it != r.copies.end() && it->second.owner.lock() == t.impl()) r.copies.erase(it);
}

bool has_bf16_copy(const Tensor& t) {
  Registry& r = registry();
  std::lock_guard<std::mutex> guard(r.lock);
  auto it = r.copies.find(t.impl().get());
  return it != r.copies.end() && it->second.owner.lock() == t.impl();
}

}  // namespace trim
