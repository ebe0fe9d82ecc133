// strata/write_behind/internal/write_behind_core.h: the non-template engine under WriteBehind<V>
// (journal, coalescing queue, flusher, dead letters), working on encoded values. Not part of the
// public API: use strata/write_behind/write_behind.h. Everything here is implemented in
// src/write_behind/.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "strata/write_behind/write_behind_options.h"

namespace strata::internal {

// One write as the engine sees it: a key, an operation and, for a put, the codec's bytes.
struct EncodedWrite {
  std::string key;
  WriteOp op = WriteOp::kPut;
  std::string value;  // empty for an erase
};

// A dead letter as stored: the record plus the error that made the flusher give up on it.
struct RawDeadLetter {
  std::uint64_t sequence = 0;
  std::string key;
  WriteOp op = WriteOp::kPut;
  std::string value;
  std::string error;
};

// How the engine reaches the source: `write` receives puts only, `erase` keys only. Each call is
// one write_batch / erase_batch on the source; an exception is a failed attempt.
struct BatchApplier {
  std::function<void(std::span<const EncodedWrite> puts)> write;
  std::function<void(std::span<const std::string> keys)> erase;
};

class WriteBehindCore {
 public:
  // Validates the options, recovers the journal directory (replaying every record after the
  // checkpoint into the queue) and starts the flusher (and, for kInterval, the syncer).
  WriteBehindCore(WriteBehindOptions options, BatchApplier applier);
  WriteBehindCore(const WriteBehindCore&) = delete;
  WriteBehindCore& operator=(const WriteBehindCore&) = delete;
  // close() with options.close_timeout; never throws.
  ~WriteBehindCore();

  // Journals and queues `writes` (in order), then waits for the acknowledgement the fsync
  // policy defines. Throws ResourceExhaustedError when the queue stays full past put_timeout,
  // InvalidArgumentError for more writes than the queue holds, UnavailableError after close()
  // or when the journal cannot be written.
  void append(std::span<const EncodedWrite> writes);

  void flush(std::chrono::steady_clock::time_point deadline);
  void close(std::chrono::steady_clock::time_point deadline);

  [[nodiscard]] WriteBehindStats stats() const;
  [[nodiscard]] const RecoveryReport& recovery() const noexcept;

  // The latest acknowledged write of `key` that the source may not hold yet (queued, or in a
  // batch on its way), or nullopt when every write of the key has been resolved.
  [[nodiscard]] std::optional<EncodedWrite> pending_write(std::string_view key) const;

  [[nodiscard]] std::vector<RawDeadLetter> dead_letters() const;
  [[nodiscard]] DeadLetterReplay replay_dead_letters();
  std::size_t drop_dead_letters();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace strata::internal
