// The bf16 kernels of a training step under CUDA graph capture (issue 17, GPU part): cuDNN's bf16
// convolutions, with their stream-ordered bf16 temporaries and workspaces, and cuBLAS's bf16
// product, captured on the compute stream after one eager call (which ranks the algorithms) and
// replayed. These cases show the kernel layer itself captures: a replay writes the same bits as
// eager calls, and reads its inputs when it runs. The whole training step as a graph (staged
// scalars, random keys relative to a device word, static batch buffers) is
// test/cuda/test_step_graph_cuda.cpp.
#include <catch2/catch.hpp>

#include <cuda_runtime.h>

#include <cstring>
#include <functional>
#include <vector>

#include "core/bf16.h"
#include "core/cuda/check.h"
#include "core/cuda/context.h"
#include "core/device.h"
#include "test/support/kernel_call.h"

using namespace trim;
using namespace trim::test;

namespace {

const Device kGpu = Device::cuda(0);

// One captured stream region, instantiated; destroyed with the test.
class Graph {
 public:
  // Captures body's work on the calling thread's stream (thread-local mode: other threads' CUDA
  // calls are not affected). A throw inside ends the capture before it propagates.
  explicit Graph(const std::function<void()>& body) {
    cudaStream_t s = cuda::stream();
    TRIM_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    try {
      body();
    } catch (...) {
      cudaGraph_t broken = nullptr;
      if (cudaStreamEndCapture(s, &broken) == cudaSuccess && broken) cudaGraphDestroy(broken);
      (void)cudaGetLastError();
      throw;
    }
    TRIM_CUDA_CHECK(cudaStreamEndCapture(s, &graph_));
    TRIM_CUDA_CHECK(cudaGraphInstantiate(&exec_, graph_, 0));
  }
  ~Graph() {
    if (exec_) cudaGraphExecDestroy(exec_);
    if (graph_) cudaGraphDestroy(graph_);
  }
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  void replay() { TRIM_CUDA_CHECK(cudaGraphLaunch(exec_, cuda::stream())); }

 private:
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
};

std::vector<bf16> to_bf16(const std::vector<float>& v) {
  std::vector<bf16> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = float_to_bf16(v[i]);
  return r;
}

size_t bit_differences(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return a.size() + b.size();
  size_t n = 0;
  for (size_t i = 0; i < a.size(); ++i) n += std::memcmp(&a[i], &b[i], sizeof(float)) != 0;
  return n;
}

}  // namespace

TEST_CASE("bf16 convolutions and products replay from a CUDA graph bit for bit", "[cuda][bf16][graph]") {
  const Shape xs{4, 16, 12, 12}, ws{32, 8, 3, 3}, ys{4, 32, 12, 12};
  const Conv2dParams p{1, 1, 1, 1, 1, 1, 2};  // 3x3, pad 1, groups 2
  const int64_t m = 48, n = 40, k = 72;
  // f32 activations, bf16 gradient, weight and operands: the policy's mix (the f32 input is
  // rounded into temporaries inside the captured calls), so all three passes run in bf16.
  Tensor x = normal_tensor(xs, 51, kGpu);
  Tensor gy = Tensor::from_vector(ys, to_bf16(normal_values(ys.numel(), 52)), kGpu);
  Tensor w = Tensor::from_vector(ws, to_bf16(normal_values(ws.numel(), 53, 0.2f)), kGpu);
  Tensor a = Tensor::from_vector(Shape{m * k}, to_bf16(normal_values(m * k, 54)), kGpu);
  Tensor b = Tensor::from_vector(Shape{n * k}, to_bf16(normal_values(n * k, 55)), kGpu);
  Tensor gw0 = normal_tensor(ws, 56, kGpu), x_next = normal_tensor(xs, 57, kGpu);
  Tensor y = Tensor::empty(ys, DType::f32, kGpu), gx = Tensor::empty(xs, DType::f32, kGpu);
  Tensor gw = Tensor::empty(ws, DType::f32, kGpu), c = Tensor::empty(Shape{m, n}, DType::f32, kGpu);

  auto step = [&] {
    cuda::conv2d_forward(x, w, Tensor(), y, p);
    cuda::conv2d_backward_data(gy, w, gx, p);
    cuda::conv2d_backward_filter(x, gy, gw, p, 1.0f);  // accumulates into gw
    cuda::gemm_bf16(false, true, m, n, k, 1.0f, a.data<bf16>(), b.data<bf16>(), 0.0f, c.data<float>());
  };
  // Before each run, outside any capture: gw back to gw0, the other outputs NaN (a replay that
  // skipped a write would leave them so).
  auto reset = [&] {
    cuda::scale(gw0, 1.0f, gw);
    for (Tensor* t : {&y, &gx, &c}) cuda::fill(*t, NAN);
  };
  auto results = [&] {
    return std::vector<std::vector<float>>{y.to_vector<float>(), gx.to_vector<float>(), gw.to_vector<float>(),
                                           c.to_vector<float>()};
  };
  auto check_same = [](const std::vector<std::vector<float>>& got, const std::vector<std::vector<float>>& want) {
    const char* names[] = {"forward", "backward-data", "backward-filter (beta 1)", "gemm_bf16"};
    for (size_t i = 0; i < want.size(); ++i) {
      INFO(names[i]);
      CHECK(bit_differences(got[i], want[i]) == 0);
    }
  };

  reset();
  step();  // eager: ranks every pass's algorithms (host work a capture must not do first)
  const auto eager = results();

  reset();
  Graph graph(step);  // nothing runs while capturing
  graph.replay();
  check_same(results(), eager);

  // New input values in the same buffer: the replay reads them (as eager calls do).
  cuda::scale(x_next, 1.0f, x);
  reset();
  step();
  const auto eager_next = results();
  CHECK(bit_differences(eager_next[0], eager[0]) > 0);  // the input did change the output
  reset();
  graph.replay();
  check_same(results(), eager_next);
}
