// The host-side CUDA helpers refuse, at compile time, the arguments that once converted silently:
// pruning/select.cu passed `false, true` ("host, device") to cuda::memcpy after it had switched to
// device numbers, and every GPU prune then asked for device 1. These are static_asserts on the
// overload sets: they are checked wherever this file compiles, with or without CUDA or a GPU
// (core/cuda/runtime.h holds no CUDA types; nothing here is called).
#include <catch2/catch.hpp>

#include <cstdint>
#include <type_traits>

#include "core/cuda/runtime.h"
#include "core/memory.h"

using namespace trim;

namespace {

using cuda::DeviceIndex;
using cuda::Location;

// A device index is made from an int and from nothing else.
static_assert(std::is_convertible_v<int, DeviceIndex>);
static_assert(!std::is_convertible_v<bool, DeviceIndex>);
static_assert(!std::is_constructible_v<DeviceIndex, bool>);
static_assert(!std::is_convertible_v<unsigned, DeviceIndex>);
static_assert(!std::is_convertible_v<int64_t, DeviceIndex>);
static_assert(!std::is_convertible_v<char, DeviceIndex>);
static_assert(!std::is_convertible_v<void*, DeviceIndex>);

// A copy endpoint is Location::host() or a DeviceIndex; no int stands for the host by convention.
static_assert(std::is_convertible_v<DeviceIndex, Location>);
static_assert(!std::is_convertible_v<bool, Location>);
static_assert(!std::is_convertible_v<int, Location>);
static_assert(!std::is_default_constructible_v<Location>);
static_assert(Location::host().is_host());
static_assert(!Location(DeviceIndex(0)).is_host() && Location(DeviceIndex(3)).device() == 3);

// The overload sets, as select.cu called them then (bools) and as they are called now.
template <class Side>
constexpr bool memcpy_takes = requires(void* dst, const void* src, Side side) {
  cuda::memcpy(dst, side, src, side, size_t{8});
};
static_assert(!memcpy_takes<bool>);
static_assert(!memcpy_takes<int>);
static_assert(memcpy_takes<Location>);
static_assert(memcpy_takes<DeviceIndex>);

template <class D>
constexpr bool device_helpers_take = requires(D d, void* p, void** s) {
  cuda::set_device(d);
  cuda::compute_stream(d);
  cuda::check_current_device(d, "kernel");
  cuda::malloc_on(d, size_t{8}, s);
  cuda::free_on(d, p, nullptr);
  cuda::memset_zero(d, p, size_t{8});
  cuda::synchronize(d);
};
template <class D>
constexpr bool any_device_helper_takes =
    requires(D d) { cuda::set_device(d); } || requires(D d) { cuda::compute_stream(d); } ||
    requires(D d) { cuda::check_current_device(d, "kernel"); } ||
    requires(D d, void** s) { cuda::malloc_on(d, size_t{8}, s); } ||
    requires(D d, void* p) { cuda::free_on(d, p, nullptr); } ||
    requires(D d, void* p) { cuda::memset_zero(d, p, size_t{8}); } || requires(D d) { cuda::synchronize(d); } ||
    std::is_constructible_v<cuda::DeviceGuard, D>;
static_assert(device_helpers_take<int>);
static_assert(device_helpers_take<DeviceIndex>);
static_assert(std::is_constructible_v<cuda::DeviceGuard, int>);
static_assert(!any_device_helper_takes<bool>);
static_assert(!any_device_helper_takes<unsigned>);
static_assert(!any_device_helper_takes<int64_t>);

// Host memory kind: an enum, so a stray stream pointer (void*, void**) or a bool no longer lands
// in the `pinned` slot of alloc_bytes/free_bytes.
static_assert(!std::is_convertible_v<bool, HostMemory>);
template <class H>
constexpr bool alloc_takes = requires(H h, void** s) { alloc_bytes(Device::cpu(), size_t{8}, h, s); };
template <class H>
constexpr bool free_takes = requires(H h, void* p) { free_bytes(Device::cpu(), p, size_t{8}, h, nullptr); };
static_assert(alloc_takes<HostMemory> && free_takes<HostMemory>);
static_assert(!alloc_takes<bool> && !free_takes<bool>);
static_assert(!alloc_takes<void**> && !free_takes<void*>);

}  // namespace

TEST_CASE("CUDA helpers refuse a bool or a bare int where a device or a host/device side is expected",
          "[cuda_api][types]") {
  // The static_asserts above are the test; this case reports that they were compiled in.
  CHECK(Location(DeviceIndex(1)).device() == 1);
  CHECK(Location::host().is_host());
}
