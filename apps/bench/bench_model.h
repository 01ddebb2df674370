#pragma once
// `trim-bench model NAME [--batch N --input C,H,W ...]`: whole training steps of a zoo model on
// random input (bench_model.cpp). argv[0] is "model".
#include <cstdint>
#include <string>
#include <vector>

namespace trim::bench {

int run_model(int argc, char** argv);

// "3,224,224" -> {3, 224, 224}: the --input option of both modes; anything else is an error
// naming the option and the text.
std::vector<int64_t> parse_input(const std::string& text);

}  // namespace trim::bench
