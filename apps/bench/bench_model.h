#pragma once
// `trim-bench model NAME [--batch N --input C,H,W ...]`: whole training steps of a zoo model on
// random input (bench_model.cpp). argv[0] is "model".
namespace trim::bench {

int run_model(int argc, char** argv);

}  // namespace trim::bench
