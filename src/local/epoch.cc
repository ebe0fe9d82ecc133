// The compiled part of LocalCache's epoch-based reclamation (strata/local/internal/epoch.h):
// the registry of per-thread records and the epoch advance.
#include "strata/local/internal/epoch.h"

namespace strata::internal {
namespace {

// The registry: a list that only grows (records are reused, never freed), pushed with a CAS.
std::atomic<EpochRecord*> registry{nullptr};

// Gives the thread's record back when the thread exits.
struct RecordReleaser {
  EpochRecord* record = nullptr;
  ~RecordReleaser() {
    if (record != nullptr) {
      record->state.store(0, std::memory_order_release);
      record->in_use.store(false, std::memory_order_release);
    }
  }
};

}  // namespace

EpochRecord* claim_epoch_record() {
  thread_local RecordReleaser releaser;
  for (EpochRecord* r = registry.load(std::memory_order_acquire); r != nullptr; r = r->next) {
    bool expected = false;
    if (!r->in_use.load(std::memory_order_relaxed) &&
        r->in_use.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) {
      r->depth = 0;
      releaser.record = r;
      return r;
    }
  }
  auto* r = new EpochRecord;  // never freed: the registry is process-wide and only grows
  r->in_use.store(true, std::memory_order_relaxed);
  EpochRecord* head = registry.load(std::memory_order_relaxed);
  do {
    r->next = head;
  } while (!registry.compare_exchange_weak(head, r, std::memory_order_acq_rel,
                                           std::memory_order_relaxed));
  releaser.record = r;
  return r;
}

std::uint64_t try_advance_epoch() noexcept {
  std::uint64_t epoch = global_epoch.load(std::memory_order_seq_cst);
  for (EpochRecord* r = registry.load(std::memory_order_acquire); r != nullptr; r = r->next) {
    const std::uint64_t state = r->state.load(std::memory_order_seq_cst);
    if (state != 0 && state != epoch) return epoch;  // a thread still in an older epoch
  }
  global_epoch.compare_exchange_strong(epoch, epoch + 1, std::memory_order_seq_cst);
  return global_epoch.load(std::memory_order_seq_cst);
}

}  // namespace strata::internal
