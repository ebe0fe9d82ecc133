// strata/write_behind/write_behind_stats.h: WriteBehindStats, the snapshot of a WriteBehind's
// counters (queue depth, flushes, retries, dead letters, fsyncs). Use it to watch a writer; the
// metrics (strata/metrics/metrics.h) carry it without the journal's options.
//
//   strata::WriteBehindStats s = writer->stats();  // s.queue_depth, s.dead_lettered, ...
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace strata {

// A point-in-time snapshot of a WriteBehind's counters.
struct WriteBehindStats {
  std::size_t queue_depth = 0;                       // distinct keys queued or being flushed
  std::chrono::nanoseconds oldest_unflushed_age{0};  // age of the oldest pending write
  std::uint64_t acknowledged = 0;                    // writes acknowledged to callers
  std::uint64_t recovered = 0;                       // records replayed from the journal at start
  std::uint64_t flushed = 0;                         // entries written to the source
  std::uint64_t coalesced = 0;                       // writes absorbed by a later write to the key
  std::uint64_t batches = 0;                         // successful write_batch / erase_batch groups
  std::uint64_t retried = 0;                         // failed attempts that were retried
  std::uint64_t dead_lettered = 0;                   // entries moved to the dead-letter store
  std::uint64_t fsyncs = 0;                          // fsyncs of the journal
  // Journal sequences (one per acknowledged put or erase, increasing). last_sequence: the
  // highest assigned; fsynced_sequence: every record of this run up to it was covered by a
  // completed fsync (0: none yet). When put() returns, its record's sequence is <=
  // fsynced_sequence under kEveryWrite and kInterval; kNever leaves fsynced_sequence at 0.
  std::uint64_t last_sequence = 0;
  std::uint64_t fsynced_sequence = 0;
  std::uint64_t journal_bytes = 0;  // bytes in live journal segments on disk
  std::uint64_t checkpoint = 0;     // highest sequence known to be in the source
  // Damaged byte ranges found by start-up recovery (journal and dead letters), quarantined and
  // skipped (RecoveryReport::damaged): intact records around them were recovered.
  std::uint64_t damaged_ranges = 0;
  // Checkpoint writes that failed (e.g. an I/O error). While the checkpoint lags, flush() and
  // close() throw UnavailableError naming the error: a restart would replay flushed records.
  std::uint64_t checkpoint_failures = 0;
};

}  // namespace strata
