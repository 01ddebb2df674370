#include "data/datasets.h"

#include "core/error.h"
#include "data/fashion_mnist.h"

namespace trim {

std::vector<std::string> dataset_names() { return {"fashion_mnist"}; }

std::shared_ptr<Dataset> load_dataset(const std::string& name, const std::string& root, const std::string& split) {
  if (name == "fashion_mnist") return load_fashion_mnist(root, split);
  std::string known;
  for (const std::string& n : dataset_names()) known += (known.empty() ? "\"" : ", \"") + n + "\"";
  throw Error(cat("unknown dataset \"", name, "\"; known datasets: ", known));
}

}  // namespace trim
