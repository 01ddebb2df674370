#include "core/autograd/grad_mode.h"

namespace trim {
namespace {
thread_local bool t_grad_enabled = true;
bool g_in_place = true;
}  // namespace

bool grads_in_place() { return g_in_place; }
void set_grads_in_place(bool on) { g_in_place = on; }

bool grad_enabled() { return t_grad_enabled; }
NoGradGuard::NoGradGuard() : prev_(t_grad_enabled) { t_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { t_grad_enabled = prev_; }

}  // namespace trim
