#pragma once

namespace trim {

// Threads used by CPU kernels (OpenMP loops and OpenBLAS). n <= 0 means all cores.
void set_num_threads(int n);
int num_threads();

}  // namespace trim
