#pragma once
// Internal: one factory per model family (see models.h for the specs). Each factory reads and
// bounds every option with its JSON path, counts the parameters it will create (with overflow
// checks) and calls check_model_size before it allocates anything.
#include <cstdint>
#include <memory>

#include "core/config.h"
#include "layers/layers.h"

namespace trim {

std::shared_ptr<Module> make_mlp(const Config& spec);
std::shared_ptr<Module> make_sap_cnn(const Config& spec);
std::shared_ptr<Module> make_cnn_small(const Config& spec);
std::shared_ptr<Module> make_sew_resnet18(const Config& spec);
std::shared_ptr<Module> make_sew_resnet34(const Config& spec);
std::shared_ptr<Module> make_spiking_cnn(const Config& spec);

// Bounds of the model options: far above real networks, far below int64 overflow of any product
// of them.
constexpr int64_t kMaxChannels = int64_t(1) << 16;
constexpr int64_t kMaxFeatures = int64_t(1) << 24;
constexpr int64_t kMaxClasses = int64_t(1) << 20;
constexpr int64_t kMaxImageSize = int64_t(1) << 16;
constexpr size_t kMaxLayers = 64;

// A parameter count that saturates instead of overflowing; add(a * b) for a weight of a x b.
class ParamCount {
 public:
  void add(int64_t a, int64_t b = 1, int64_t c = 1, int64_t d = 1);
  bool overflowed() const { return overflow_; }
  uint64_t value() const { return n_; }

 private:
  uint64_t n_ = 0;
  bool overflow_ = false;
};

// Refuses (naming the spec's path) a model whose parameters, with their gradients and optimizer
// state, would not fit in this machine's memory; called before any tensor is allocated.
void check_model_size(const Config& spec, const ParamCount& params);

}  // namespace trim
