#include "apps/runner/data_parallel.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstring>

#include "core/error.h"

namespace trim {
namespace {

// 64-bit words mixed one at a time (FNV-style with a multiply-xorshift finish): a checksum for
// telling replicas apart, not a cryptographic hash.
uint64_t hash_bytes(const void* data, size_t bytes, uint64_t h = 0xcbf29ce484222325ull) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  size_t words = bytes / 8;
  for (size_t i = 0; i < words; ++i) {
    uint64_t w;
    std::memcpy(&w, p + 8 * i, 8);
    h = (h ^ w) * 0x100000001b3ull;
    h ^= h >> 29;
  }
  for (size_t i = words * 8; i < bytes; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  h ^= bytes;
  h *= 0xff51afd7ed558ccdull;
  return h ^ (h >> 33);
}

Tensor on_host(const Tensor& t) { return t.device().is_cpu() ? t : t.to(Device::cpu()); }

}  // namespace

// --- replicas --------------------------------------------------------------------------------

void broadcast_from_rank0(comm::Communicator& comm, Module& model, ParamStore& store) {
  std::vector<Tensor> all{store.params()};
  if (store.has_master()) all.push_back(store.master());
  for (const auto& [name, arena] : store.states()) all.push_back(arena);
  for (const auto& [name, t] : model.named_buffers()) all.push_back(t);
  comm.broadcast(all, 0, "broadcasting rank 0's parameters, state and buffers");
  // The broadcast writes the arenas behind trim's in-place API: bump their versions so bf16 forward
  // copies (core/ops/precision.h) taken before it are recast from rank 0's values.
  for (const Tensor& t : all) t.bump_version();
}

void broadcast_buffers(comm::Communicator& comm, Module& model) {
  std::vector<Tensor> buffers;
  for (const auto& [name, t] : model.named_buffers()) buffers.push_back(t);
  if (!buffers.empty()) comm.broadcast(buffers, 0, "broadcasting rank 0's buffers");
}

ReplicaDigest replica_digest(const ParamStore& store, const Module& model, const TrainingMethod& method) {
  ReplicaDigest d;
  auto arena = [&](const std::string& prefix, const Tensor& t) {
    Tensor h = on_host(t);
    const float* p = h.data<float>();
    for (size_t i = 0; i < store.size(); ++i) {
      const ParamSlot& s = store.slot(i);
      d.names.push_back(prefix + s.param.name);
      d.hashes.push_back(hash_bytes(p + s.offset, size_t(s.numel) * sizeof(float)));
    }
  };
  arena("", store.params());
  if (store.has_master()) arena("master.", store.master());
  for (const auto& [name, t] : store.states()) arena(name + ".", t);
  for (const auto& [name, t] : method.state_tensors()) {
    Tensor h = on_host(t);
    d.names.push_back("method." + name);
    d.hashes.push_back(hash_bytes(h.raw_data(), h.nbytes()));
  }
  for (const auto& [name, t] : model.named_buffers()) {
    Tensor h = on_host(t);
    d.names.push_back("buffer." + name);
    d.hashes.push_back(hash_bytes(h.raw_data(), h.nbytes()));
  }
  d.combined = hash_bytes(d.hashes.data(), d.hashes.size() * sizeof(uint64_t));
  return d;
}

std::string hex64(uint64_t v) { return fmt::format("{:016x}", v); }

void max_over_ranks(comm::Communicator& comm, std::span<double> values, const std::string& what) {
  if (comm.world() == 1) return;
  std::vector<double> local(values.begin(), values.end());
  for (size_t i = 0; i < local.size(); ++i)
    for (uint64_t bits : comm.all_gather(std::bit_cast<uint64_t>(local[i]), what))
      values[i] = std::max(values[i], std::bit_cast<double>(bits));
}

void check_replicas(comm::Communicator& comm, const ParamStore& store, const Module& model,
                    const TrainingMethod& method, const std::string& where) {
  if (comm.world() == 1) return;
  ReplicaDigest d = replica_digest(store, model, method);
  std::vector<uint64_t> all = comm.all_gather(d.combined, "comparing the replicas' digests");
  bool same = true;
  for (uint64_t h : all) same = same && h == all[0];
  if (same) return;
  // Rare: find the first tensor that differs (every rank takes the same path).
  std::vector<uint64_t> counts = comm.all_gather(d.hashes.size(), "comparing the replicas' tensor counts");
  for (uint64_t c : counts)
    if (c != counts[0])
      throw Error(fmt::format("the replicas diverged ({}): ranks hold different numbers of tensors ({} on rank 0, {} "
                              "on rank {})", where, counts[0], d.hashes.size(), comm.rank()));
  for (size_t i = 0; i < d.hashes.size(); ++i) {
    std::vector<uint64_t> h = comm.all_gather(d.hashes[i], "comparing the replicas' tensors");
    for (size_t r = 1; r < h.size(); ++r)
      if (h[r] != h[0])
        throw Error(fmt::format("the replicas diverged ({}): tensor '{}' differs between rank 0 and rank {} (hashes {} "
                                "and {}); every rank must hold identical weights, masks and method state",
                                where, d.names[i], r, hex64(h[0]), hex64(h[r])));
  }
  throw Error(fmt::format("the replicas diverged ({}): their digests differ though no single tensor does", where));
}

}  // namespace trim
