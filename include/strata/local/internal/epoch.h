// strata/local/internal/epoch.h: epoch-based reclamation for LocalCache's lock-free reads.
// Internal to LocalCache; not part of the public API.
//
// Why: a LocalCache hit reads the shard's table and an entry without taking the shard's lock,
// so a writer that removes an entry (or replaces the table's arrays) must not free it while a
// reader may still hold a pointer to it. Every cache operation runs inside an EpochGuard; what
// a writer unlinks is retired with the epoch it was unlinked in, and freed only once the
// global epoch is two ahead (every thread pinned at that time has since unpinned).
//
// Cost on a hit: one store to the calling thread's own record (its cache line is written by
// no other thread), two loads of the global epoch (written only when it advances, during
// maintenance: the second checks the pin), one release store to unpin. Records are per thread,
// process-wide, reused after a thread exits; guards nest.
//
//   { EpochGuard pin;  E* e = table.find_concurrent(...);  copy e->value; }
//   retire(e, retire_epoch());  ...  if (retired_epoch + 2 <= try_advance_epoch()) free(e);
#pragma once

#include <atomic>
#include <cstdint>

namespace strata::internal {

struct alignas(64) EpochRecord {
  // 0: not pinned; else the global epoch the thread read when it pinned. Written by its thread.
  std::atomic<std::uint64_t> state{0};
  std::atomic<bool> in_use{false};
  EpochRecord* next = nullptr;  // the registry's list; records are never freed
  std::uint32_t depth = 0;      // nesting; touched by the owning thread only
};

// The global epoch: starts at 1 and only grows.
inline std::atomic<std::uint64_t> global_epoch{1};

// The calling thread's record, claimed on first use (compiled: src/local/epoch.cc).
[[nodiscard]] EpochRecord* claim_epoch_record();

inline EpochRecord& this_thread_epoch_record() noexcept {
  thread_local EpochRecord* record = claim_epoch_record();
  return *record;
}

// Advances the global epoch if every pinned thread has seen the current one; returns the
// global epoch after the attempt. Called under a shard's lock, off the hot path.
[[nodiscard]] std::uint64_t try_advance_epoch() noexcept;

// The epoch a writer tags what it unlinks with. REQUIRES: the caller is pinned (at epoch p):
// while it is, the global epoch cannot pass p + 1, so p + 1 is at least the epoch at which its
// unlinking stores became visible, without a fence (which ThreadSanitizer cannot model).
[[nodiscard]] inline std::uint64_t retire_epoch() noexcept {
  const std::uint64_t pinned = this_thread_epoch_record().state.load(std::memory_order_relaxed);
  return (pinned != 0 ? pinned : global_epoch.load(std::memory_order_seq_cst) + 1) + 1;
}

// Pins the calling thread for its scope: nothing retired after the pin is freed before it ends.
class EpochGuard {
 public:
  EpochGuard() noexcept : record_(this_thread_epoch_record()) {
    if (record_.depth++ == 0) {
      // Publish the epoch, then check it is still the current one. Without the check a thread
      // preempted between the load and the store could pin an epoch two behind: an advance
      // that did not see it pinned has let entries retired before its loads be freed while it
      // reads them. Once the re-load agrees, every later advance sees this pin.
      std::uint64_t epoch = global_epoch.load(std::memory_order_seq_cst);
      for (;;) {
        record_.state.store(epoch, std::memory_order_seq_cst);
        const std::uint64_t now = global_epoch.load(std::memory_order_seq_cst);
        if (now == epoch) break;
        epoch = now;
      }
    }
  }
  EpochGuard(const EpochGuard&) = delete;
  EpochGuard& operator=(const EpochGuard&) = delete;
  ~EpochGuard() {
    if (--record_.depth == 0) record_.state.store(0, std::memory_order_release);
  }

 private:
  EpochRecord& record_;
};

}  // namespace strata::internal
