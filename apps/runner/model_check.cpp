#include "apps/runner/model_check.h"

#include <vector>

#include "core/autograd/grad_mode.h"
#include "core/error.h"
#include "core/tensor.h"

namespace trim {

void check_model_fits_data(Module& model, const Dataset& data, Device device, const std::string& source) {
  const Shape item = data.item_shape();
  std::vector<int64_t> dims{1};
  for (int i = 0; i < item.ndim(); ++i) dims.push_back(item[i]);
  const Shape batch(dims);
  std::vector<uint8_t> bytes(size_t(item.numel()));
  data.get(0, bytes.data());
  std::vector<float> pixels(bytes.begin(), bytes.end());

  Shape out;
  {
    NoGradGuard no_grad;
    const bool was_training = model.training();
    model.eval();
    try {
      out = model(Tensor::from_vector<float>(batch, pixels).to(device)).shape();
    } catch (const Error& e) {
      model.train(was_training);
      throw Error(cat(source, ": /model: the model does not fit the data's images of shape ", item.str(), ": ",
                      e.what()));
    }
    model.train(was_training);
  }
  if (out.ndim() != 2 || out[0] != 1)
    throw Error(cat(source, ": /model: the model maps images of shape ", item.str(), " to ", out.str(),
                    "; expected [1, classes] logits"));
  if (out[1] < data.num_classes())
    throw Error(cat(source, ": /model/num_classes: the model predicts ", out[1], " classes, but the data has ",
                    data.num_classes(), " (labels 0..", data.num_classes() - 1, "); expected num_classes >= ",
                    data.num_classes()));
}

}  // namespace trim
