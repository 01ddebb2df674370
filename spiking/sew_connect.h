#pragma once
// SEW ResNet's connect functions g(A, I) joining a block's spiking branch A with its identity I
// (Fang et al., arXiv 2102.04159): ADD A + I, AND A I, IAND I (1 - A). Element-wise, differentiable.
// ADD's outputs are non-negative integers, not spikes (spiking/README.md#sew-connect).
#include <string>

#include "core/config.h"
#include "core/tensor.h"

namespace trim::spiking {

enum class Connect { add, and_, iand };

// Reads c[key] as "ADD" | "AND" | "IAND", case-insensitively (the published args say 'add', the
// reference code compares with 'ADD'); `fallback` when absent. Errors name the JSON path.
Connect parse_connect(const Config& c, const std::string& key, Connect fallback = Connect::add);

const char* connect_name(Connect f);  // "ADD", "AND", "IAND"

// g(a, identity) for same-shape f32 tensors on one device.
Tensor sew_connect(const Tensor& a, const Tensor& identity, Connect f);

}  // namespace trim::spiking
