#include "apps/runner/model_check.h"

#include <unistd.h>

#include <algorithm>
#include <vector>

#include "core/autograd/grad_mode.h"
#include "core/error.h"
#include "core/memory.h"
#include "core/tensor.h"

namespace trim {

namespace {

uint64_t physical_memory_bytes() {
  long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : UINT64_MAX;
}

// What an op refused, without the source position and condition of its internal check
// ("core/ops/conv.cpp:15: check failed: <condition>: conv2d: weight ... does not fit input ..."
// reads "conv2d: weight ... does not fit input ..."): the reader of a manifest error needs the
// shapes, not trim's source lines.
std::string op_problem(const std::string& what) {
  const std::string marker = "check failed: ";
  size_t at = what.find(marker);
  if (at == std::string::npos) return what;
  size_t cond_end = what.find(": ", at + marker.size());
  return cond_end == std::string::npos ? what.substr(at + marker.size()) : what.substr(cond_end + 2);
}

}  // namespace

void check_model_fits_data(Module& model, const Dataset& data, Device device, int64_t batch_size,
                           const std::string& source) {
  const Shape item = data.item_shape();
  std::vector<int64_t> dims{1};
  for (int i = 0; i < item.ndim(); ++i) dims.push_back(item[i]);
  const Shape batch(dims);
  std::vector<uint8_t> bytes(size_t(item.numel()));
  data.get(0, bytes.data(), ItemContext{});
  std::vector<float> pixels(bytes.begin(), bytes.end());

  Shape out;
  int64_t activation_bytes = 0;
  {
    // Evaluation mode: batch norm uses (and keeps) its running statistics, dropout draws nothing.
    const bool was_training = model.training();
    model.eval();
    try {
      Tensor x = Tensor::from_vector<float>(batch, pixels).to(device);
      const int64_t before = memory_stats(device).current;
      Tensor logits = model(x);  // the graph holds every activation a training step keeps
      activation_bytes = memory_stats(device).current - before;
      out = logits.shape();
    } catch (const Error& e) {
      model.train(was_training);
      throw Error(cat(source, ": /model: the model does not fit the data's images of shape ", item.str(), " (",
                      op_problem(e.what()), "); expected model options (input channels, image size) that match "
                      "the data"));
    }
    model.train(was_training);
  }
  if (out.ndim() != 2 || out[0] != 1)
    throw Error(cat(source, ": /model: the model maps images of shape ", item.str(), " to ", out.str(),
                    "; expected [1, classes] logits"));
  batch_size = std::min<int64_t>(batch_size, data.size());  // the largest batch the loader makes
  if (device.is_cpu() && activation_bytes > 0) {
    const uint64_t memory = physical_memory_bytes();
    uint64_t need = 0;
    if (__builtin_mul_overflow(uint64_t(activation_bytes), uint64_t(batch_size) * 3, &need) || need > memory)
      throw Error(cat(source, ": /data/batch_size: a batch of ", batch_size, " needs about ",
                      (uint64_t(activation_bytes) >> 10) * uint64_t(batch_size) * 3 >> 10,
                      " MiB (activations of ", activation_bytes >> 10,
                      " KiB per example, measured, with their gradients), more than this machine's ", memory >> 20,
                      " MiB of memory; expected a smaller batch"));
  }
  if (out[1] < data.num_classes())
    throw Error(cat(source, ": /model/num_classes: the model predicts ", out[1], " classes, but the data has ",
                    data.num_classes(), " (labels 0..", data.num_classes() - 1, "); expected num_classes >= ",
                    data.num_classes()));
}

}  // namespace trim
