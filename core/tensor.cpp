#include "core/tensor.h"

#include <cstring>

#include "core/memory.h"

namespace trim {

Storage::Storage(size_t n, Device d, bool pin) : bytes(n), device(d), pinned(pin) {
  ptr = alloc_bytes(d, n, pin ? HostMemory::pinned : HostMemory::pageable, &stream);
}
Storage::~Storage() { free_bytes(device, ptr, bytes, pinned ? HostMemory::pinned : HostMemory::pageable, stream); }

void Tensor::adopt_compute_stream() const {
  Storage& s = *checked().storage;
  if (s.device.is_cuda()) s.stream = compute_stream(s.device);
}

const TensorImpl& Tensor::checked() const {
  TRIM_CHECK(impl_, "use of an undefined tensor");
  return *impl_;
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device, bool pinned) {
  auto t = std::make_shared<TensorImpl>();
  t->storage = std::make_shared<Storage>(size_t(shape.numel()) * dtype_size(dtype), device, pinned);
  t->shape = shape;
  t->dtype = dtype;
  return Tensor(std::move(t));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.zero_();
  return t;
}

Tensor Tensor::full(const Shape& shape, float value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}

Tensor Tensor::scalar(float value, Device device) { return full(Shape{}, value, DType::f32, device); }

template <class T>
Tensor Tensor::from_vector(const Shape& shape, const std::vector<T>& values, Device device) {
  TRIM_CHECK(int64_t(values.size()) == shape.numel(),
             cat("from_vector: ", values.size(), " values for shape ", shape.str()));
  Tensor t = empty(shape, dtype_of<T>, device);
  copy_bytes(t.raw_data(), device, values.data(), Device::cpu(), values.size() * sizeof(T));
  return t;
}
template Tensor Tensor::from_vector<float>(const Shape&, const std::vector<float>&, Device);
template Tensor Tensor::from_vector<int32_t>(const Shape&, const std::vector<int32_t>&, Device);
template Tensor Tensor::from_vector<uint8_t>(const Shape&, const std::vector<uint8_t>&, Device);
template Tensor Tensor::from_vector<bf16>(const Shape&, const std::vector<bf16>&, Device);

const Shape& Tensor::shape() const { return checked().shape; }
DType Tensor::dtype() const { return checked().dtype; }
Device Tensor::device() const { return checked().storage->device; }

void* Tensor::raw_data() const {
  const TensorImpl& t = checked();
  return static_cast<char*>(t.storage->ptr) + t.offset;
}

Tensor Tensor::view(const Shape& shape) const {
  const TensorImpl& t = checked();
  TRIM_CHECK(shape.numel() == t.shape.numel(), cat("cannot view shape ", t.shape.str(), " as ", shape.str()));
  auto v = std::make_shared<TensorImpl>();
  v->storage = t.storage;
  v->offset = t.offset;
  v->shape = shape;
  v->dtype = t.dtype;
  return Tensor(std::move(v));
}

Tensor Tensor::narrow0(int64_t start, int64_t length) const {
  const TensorImpl& t = checked();
  TRIM_CHECK(t.shape.ndim() >= 1 && start >= 0 && length >= 0 && start + length <= t.shape[0],
             cat("narrow0(", start, ", ", length, ") out of range for shape ", t.shape.str()));
  std::vector<int64_t> dims = t.shape.vec();
  int64_t row = t.shape.numel() / std::max<int64_t>(dims[0], 1);
  dims[0] = length;
  auto v = std::make_shared<TensorImpl>();
  v->storage = t.storage;
  v->offset = t.offset + size_t(start * row) * dtype_size(t.dtype);
  v->shape = Shape(dims);
  v->dtype = t.dtype;
  return Tensor(std::move(v));
}

Tensor Tensor::to(Device device) const {
  if (this->device() == device) return *this;
  Tensor t = empty(shape(), dtype(), device);
  copy_bytes(t.raw_data(), device, raw_data(), this->device(), nbytes());
  return t;
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape(), dtype(), device());
  copy_bytes(t.raw_data(), device(), raw_data(), device(), nbytes());
  return t;
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  TRIM_CHECK(dtype() == dtype_of<T>, cat("to_vector: tensor holds ", dtype_name(dtype()), ", asked for ",
                                         dtype_name(dtype_of<T>)));
  std::vector<T> v(static_cast<size_t>(numel()));
  copy_bytes(v.data(), Device::cpu(), raw_data(), device(), nbytes());
  return v;
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<int32_t> Tensor::to_vector<int32_t>() const;
template std::vector<uint8_t> Tensor::to_vector<uint8_t>() const;
template std::vector<bf16> Tensor::to_vector<bf16>() const;

float Tensor::item() const {
  TRIM_CHECK(numel() == 1, cat("item() of a tensor with ", numel(), " elements"));
  switch (dtype()) {
    case DType::f32: return to_vector<float>()[0];
    case DType::i32: return float(to_vector<int32_t>()[0]);
    case DType::u8: return float(to_vector<uint8_t>()[0]);
    case DType::bf16: return bf16_to_float(to_vector<bf16>()[0]);
  }
  return 0.0f;
}

Tensor& Tensor::zero_() {
  zero_bytes(device(), raw_data(), nbytes());
  bump_version();
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  TRIM_CHECK(src.shape() == shape() && src.dtype() == dtype(),
             cat("copy_: source ", src.shape().str(), " ", dtype_name(src.dtype()), " into ", shape().str(), " ",
                 dtype_name(dtype())));
  copy_bytes(raw_data(), device(), src.raw_data(), src.device(), nbytes());
  bump_version();
  return *this;
}

uint64_t Tensor::version() const { return checked().storage->version; }
void Tensor::bump_version() const { ++checked().storage->version; }

void Tensor::rebind_storage(const Tensor& home) {
  TRIM_CHECK(is_leaf(), "rebind_storage on a tensor produced by a recorded op");
  TRIM_CHECK(home.shape() == shape() && home.dtype() == dtype() && home.device() == device(),
             cat("rebind_storage: home ", home.shape().str(), " ", dtype_name(home.dtype()), " on ", home.device().str(),
                 " for a tensor ", shape().str(), " ", dtype_name(dtype()), " on ", device().str()));
  if (home.impl_->storage != impl_->storage || home.impl_->offset != impl_->offset) Tensor(home).copy_(*this);
  impl_->storage = home.impl_->storage;
  impl_->offset = home.impl_->offset;
}

bool Tensor::requires_grad() const { return checked().requires_grad; }

Tensor& Tensor::set_requires_grad(bool on) {
  TRIM_CHECK(is_leaf(), "set_requires_grad on a tensor produced by a recorded op");
  TRIM_CHECK(!on || dtype() == DType::f32, "only f32 tensors can require grad");
  impl_->requires_grad = on;
  return *this;
}

bool Tensor::is_leaf() const { return checked().grad_fn == nullptr; }
Tensor Tensor::grad() const {
  checked();
  TensorImpl& t = *impl_;
  if (t.grad.defined() && !t.grad_holds_value) {
    t.grad.zero_();
    t.grad_holds_value = true;
  }
  return t.grad;
}

void Tensor::set_grad(const Tensor& g) {
  if (g.defined()) check_shape("set_grad", g, shape(), "grad");
  impl_->grad = g;
  impl_->grad_holds_value = true;
}

void Tensor::zero_grad() {
  checked();
  impl_->grad_holds_value = false;
}

bool Tensor::grad_marked_zero() const {
  const TensorImpl& t = checked();
  return t.grad.defined() && !t.grad_holds_value;
}

void Tensor::set_grad_ready_hook(std::function<void()> hook) {
  TRIM_CHECK(is_leaf(), "set_grad_ready_hook on a tensor produced by a recorded op");
  impl_->grad_ready = std::move(hook);
}

const std::shared_ptr<Node>& Tensor::grad_fn() const { return checked().grad_fn; }

Tensor Tensor::detach() const { return view(shape()); }

void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  TRIM_CHECK(a.device() == b.device(),
             cat(op, ": tensors on different devices (", a.device().str(), " and ", b.device().str(), ")"));
}

void check_dtype(const char* op, const Tensor& t, DType dtype, const char* arg) {
  TRIM_CHECK(t.dtype() == dtype, cat(op, ": ", arg, " must be ", dtype_name(dtype), ", got ", dtype_name(t.dtype())));
}

void check_shape(const char* op, const Tensor& t, const Shape& shape, const char* arg) {
  TRIM_CHECK(t.shape() == shape, cat(op, ": ", arg, " must have shape ", shape.str(), ", got ", t.shape().str()));
}

}  // namespace trim
