#pragma once
#include <stdexcept>
#include <string>

#include "core/base.h"

namespace trim {

// The one exception type trim throws. Apps catch it at the top, print what() and exit non-zero;
// messages are complete sentences naming the file, JSON path or offset involved.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace trim
