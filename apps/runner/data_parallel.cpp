#include "apps/runner/data_parallel.h"

#include <fmt/format.h>

#include <chrono>
#include <csignal>
#include <cstring>

#include "core/error.h"

namespace trim {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

volatile std::sig_atomic_t g_terminate = 0;
extern "C" void on_sigterm(int) { g_terminate = 1; }

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

// --- buckets ---------------------------------------------------------------------------------

GradientReducer::GradientReducer(ParamStore& store, dist::Communicator& comm, const DistributedConfig& config)
    : store_(store), comm_(comm), overlap_(config.overlap) {
  const size_t n = store.size();
  TRIM_CHECK(n > 0, "gradient reducer: the parameter store is empty");
  bucket_of_.assign(n, 0);
  // Reverse parameter order: backward produces the last parameters' gradients first.
  size_t end = n;
  double bytes = 0.0;
  for (size_t k = n; k-- > 0;) {
    bytes += double(store.slot(k).numel) * 4.0;
    double cap = (buckets_.empty() ? config.first_bucket_mb : config.bucket_mb) * 1024.0 * 1024.0;
    if (bytes >= cap || k == 0) {
      Bucket b;
      b.first_slot = k;
      b.end_slot = end;
      b.offset = store.slot(k).offset;
      const ParamSlot& last = store.slot(end - 1);
      b.count = last.offset + last.numel - b.offset;
      for (size_t s = k; s < end; ++s) bucket_of_[s] = buckets_.size();
      buckets_.push_back(b);
      end = k;
      bytes = 0.0;
    }
  }
  for (const Bucket& b : buckets_) pending_.push_back(int64_t(b.end_slot - b.first_slot));
  works_.resize(buckets_.size());
  store_.on_grad_ready([this](size_t slot, int64_t, int64_t) { ready(slot); });
  store_.on_backward_done([this] { done(); });
}

GradientReducer::~GradientReducer() {
  store_.on_grad_ready(nullptr);
  store_.on_backward_done(nullptr);
}

double GradientReducer::take_exposed_seconds() {
  double s = exposed_;
  exposed_ = 0.0;
  return s;
}

void GradientReducer::launch_ready() {
  float* grads = store_.grads().data<float>();
  while (next_ < buckets_.size() && pending_[next_] == 0) {
    const Bucket& b = buckets_[next_];
    works_[next_] = comm_.all_reduce_async(
        grads + b.offset, b.count, dist::ReduceOp::avg,
        fmt::format("the all-reduce of gradient bucket {} of {} in backward pass {}", next_ + 1, buckets_.size(),
                    backward_ + 1));
    ++next_;
  }
}

void GradientReducer::ready(size_t slot) {
  in_backward_ = true;
  int64_t& left = pending_.at(bucket_of_.at(slot));
  TRIM_CHECK(left > 0, fmt::format("gradient reducer: the gradient of '{}' was reported final twice in one backward "
                                   "pass (two backward passes before a step are not supported)",
                                   store_.slot(slot).param.name));
  --left;
  if (overlap_ && left == 0) launch_ready();
  comm_.progress();
}

void GradientReducer::done() {
  if (!in_backward_) return;  // finish_backward called again before the next backward
  Clock::time_point t0 = Clock::now();
  launch_ready();
  TRIM_CHECK(next_ == buckets_.size(), "gradient reducer: backward ended with gradients still pending");
  for (auto& w : works_) {
    w->wait();
    w.reset();
  }
  for (size_t b = 0; b < buckets_.size(); ++b) pending_[b] = int64_t(buckets_[b].end_slot - buckets_[b].first_slot);
  next_ = 0;
  in_backward_ = false;
  ++backward_;
  exposed_ += since(t0);
}

// --- replicas --------------------------------------------------------------------------------

void broadcast_from_rank0(dist::Communicator& comm, Module& model, ParamStore& store) {
  std::vector<Tensor> all{store.params()};
  if (store.has_master()) all.push_back(store.master());
  for (const auto& [name, arena] : store.states()) all.push_back(arena);
  for (const auto& [name, t] : model.named_buffers()) all.push_back(t);
  comm.broadcast(all, 0, "broadcasting rank 0's parameters, state and buffers");
}

void broadcast_buffers(dist::Communicator& comm, Module& model) {
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

void check_replicas(dist::Communicator& comm, const ParamStore& store, const Module& model,
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

// --- SIGTERM ---------------------------------------------------------------------------------

void install_termination_handler() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigterm;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
}
bool termination_requested() { return g_terminate != 0; }
void request_termination() { g_terminate = 1; }
void clear_termination_request() { g_terminate = 0; }

}  // namespace trim
