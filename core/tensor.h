#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/shape.h"

namespace trim {

struct Node;
struct TensorImpl;

// Memory shared by a tensor and its views. CUDA memory remembers its device and the stream its
// lifetime is ordered on (the one it was allocated on), so it is freed correctly from any thread
// and whichever device is current then.
struct Storage {
  Storage(size_t bytes, Device device, bool pinned);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* ptr = nullptr;
  size_t bytes = 0;
  Device device;
  bool pinned = false;
  void* stream = nullptr;  // cudaStream_t (CUDA only)
  // Counts in-place writes through trim's API (Tensor::bump_version), shared by all views, so
  // autograd can tell that a tensor saved for backward was modified after it was saved.
  uint64_t version = 0;
};

// A dense, contiguous, row-major n-dimensional array on one device. Copying a Tensor copies the
// handle, not the data (like PyTorch). Views (reshape, narrow) share storage. A default-constructed
// Tensor is "undefined".
//
// Autograd: a tensor that requires grad either is a leaf (a parameter or user input; gradients
// accumulate into grad()) or was produced by a recorded op (grad_fn()). See core/autograd, which
// sits above this room: the tensor only holds its node (an opaque Node), and the entry point
// backward() is defined there.
class Tensor {
 public:
  Tensor() = default;

  // Factories. Memory from empty() is uninitialised.
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu(),
                      bool pinned = false);
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, float value, DType dtype = DType::f32,
                     Device device = Device::cpu());
  static Tensor scalar(float value, Device device = Device::cpu());
  template <class T>
  static Tensor from_vector(const Shape& shape, const std::vector<T>& values, Device device = Device::cpu());

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int ndim() const { return shape().ndim(); }
  int64_t size(int dim) const { return shape()[dim]; }
  int64_t numel() const { return shape().numel(); }
  DType dtype() const;
  Device device() const;
  bool is_cuda() const { return device().is_cuda(); }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype()); }

  // Pointer to the first element (a device pointer for CUDA tensors). Checks the dtype.
  template <class T> T* data() const;
  void* raw_data() const;

  // Views sharing storage (no autograd; see ops/shape_ops.h for the differentiable reshape).
  Tensor view(const Shape& shape) const;
  Tensor narrow0(int64_t start, int64_t length) const;  // rows [start, start+length) of dim 0

  // Copies. to() returns *this when already on `device`.
  Tensor to(Device device) const;
  Tensor clone() const;
  template <class T> std::vector<T> to_vector() const;  // copies to the host (synchronises)
  float item() const;                                   // the single element, as float

  // In-place, never recorded by autograd; each bumps the version. fill_ runs a backend kernel, so
  // it is defined with the kernels (core/kernels/dispatch.cpp).
  Tensor& fill_(float value);
  Tensor& zero_();
  Tensor& copy_(const Tensor& src);  // same shape and dtype, any devices

  // The version of this tensor's memory: how many in-place writes went through trim's API
  // (these methods, add_, uniform_, ...). Every function that writes into an existing tensor calls
  // bump_version() after writing; autograd checks that tensors saved for backward kept theirs.
  uint64_t version() const;
  void bump_version() const;

  // Makes this tensor -- every handle to it -- use `home`'s memory from now on, with its values
  // copied there first. `home` must have this tensor's shape, dtype and device (typically a view of
  // an arena, see ParamStore). Shape, dtype, autograd state and grad() are kept. Views taken before
  // (view, narrow0, detach, tensors saved for backward) keep the old memory. Leaves only: an op's
  // output belongs to its graph.
  void rebind_storage(const Tensor& home);

  // CUDA: orders the memory's free on its device's compute stream from now on. For memory filled
  // on another stream (the loader's copy stream) whose work the host has already waited for, and
  // which is used on the compute stream later. No effect on the CPU.
  void adopt_compute_stream() const;

  // Autograd.
  bool requires_grad() const;
  Tensor& set_requires_grad(bool on);  // leaves only
  bool is_leaf() const;
  // The accumulated gradient (undefined before the first backward that reaches this leaf).
  Tensor grad() const;
  // Makes `g` this leaf's gradient buffer, holding a value that later backwards add to.
  void set_grad(const Tensor& g);
  // Marks the gradient buffer as zero without writing it: the next contribution overwrites it
  // (no memset), and grad() zero-fills it if read before any contribution arrived.
  void zero_grad();
  // True while the gradient buffer is marked zero by zero_grad() and nothing has written it since
  // (no contribution arrived, grad() was not read).
  bool grad_marked_zero() const;
  // Called by run_backward once this leaf's gradient is final for that backward (see node.h).
  void set_grad_ready_hook(std::function<void()> hook);
  const std::shared_ptr<Node>& grad_fn() const;
  Tensor detach() const;  // same storage, no autograd history
  // For a scalar loss: d(self)/d(leaves) accumulates into their grad(). Defined by core/autograd
  // (run_backward).
  void backward() const;

  // Internal: the implementation handle (used by autograd).
  const std::shared_ptr<TensorImpl>& impl() const { return impl_; }
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

 private:
  const TensorImpl& checked() const;
  std::shared_ptr<TensorImpl> impl_;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  size_t offset = 0;  // bytes from storage->ptr
  Shape shape;
  DType dtype = DType::f32;
  bool requires_grad = false;
  Tensor grad;
  bool grad_holds_value = true;     // false after zero_grad(), until a contribution arrives
  std::function<void()> grad_ready;  // see Tensor::set_grad_ready_hook
  std::shared_ptr<Node> grad_fn;
  uint32_t output_nr = 0;  // which output of grad_fn this tensor is
};

template <class T>
T* Tensor::data() const {
  const TensorImpl& t = checked();
  TRIM_CHECK(t.dtype == dtype_of<T>,
             cat("tensor holds ", dtype_name(t.dtype), ", accessed as ", dtype_name(dtype_of<T>)));
  return reinterpret_cast<T*>(static_cast<char*>(t.storage->ptr) + t.offset);
}

// Checks used by ops: same device, expected dtype, expected shape. Messages name the op.
void check_same_device(const char* op, const Tensor& a, const Tensor& b);
void check_dtype(const char* op, const Tensor& t, DType dtype, const char* arg);
void check_shape(const char* op, const Tensor& t, const Shape& shape, const char* arg);

}  // namespace trim
