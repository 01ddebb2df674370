#pragma once
// Internal: one factory per model family (see models.h for the specs).
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

}  // namespace trim
