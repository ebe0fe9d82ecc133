// strata/write_behind/write_behind_options.h: the configuration, statistics and recovery report of
// WriteBehind<V> (strata/write_behind/write_behind.h), which are the same for every value type.
// Use it to configure the journal (fsync policy, segments), the queue, the flusher and retries.
//
//   strata::WriteBehindOptions options{.directory = "/var/lib/app/wb",
//                                      .fsync = strata::FsyncPolicy::kInterval(10ms)};
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "strata/clock.h"
#include "strata/error.h"
#include "strata/write_behind/write_behind_stats.h"

namespace strata {

// The two operations a journal record holds (the numbers are part of the journal format).
enum class WriteOp : std::uint8_t { kPut = 1, kErase = 2 };

// When the journal is fsynced, and so when a write is acknowledged:
//  - kEveryWrite: put() returns after an fsync that covers its record. Concurrent writers share
//    one fsync (group commit). Survives process crash and power loss.
//  - kInterval(d): a syncer thread fsyncs every d (real time); put() returns after the first
//    fsync that covers its record, so it waits up to d. Survives process crash and power loss;
//    one writer thread gets at most 1/d acknowledgements per second, so give it concurrency
//    (threads, or put_many).
//  - kNever: put() returns once its record is written to the file (in the OS page cache),
//    without fsync. Survives a process crash (kill -9); UNSAFE on power loss or kernel crash.
struct FsyncPolicy {
  enum class Mode : std::uint8_t { kEveryWrite, kInterval, kNever };
  Mode mode = Mode::kEveryWrite;
  std::chrono::nanoseconds interval{0};  // kInterval only

  static const FsyncPolicy kEveryWrite;
  static const FsyncPolicy kNever;
  [[nodiscard]] static constexpr FsyncPolicy kInterval(std::chrono::nanoseconds every) {
    return FsyncPolicy{Mode::kInterval, every};
  }
  friend bool operator==(const FsyncPolicy&, const FsyncPolicy&) = default;
};
inline constexpr FsyncPolicy FsyncPolicy::kEveryWrite{FsyncPolicy::Mode::kEveryWrite, {}};
inline constexpr FsyncPolicy FsyncPolicy::kNever{FsyncPolicy::Mode::kNever, {}};

// "every-write", "interval(10ms)", "never".
[[nodiscard]] std::string to_string(const FsyncPolicy& policy);

// Configuration of a WriteBehind. Only `directory` is required.
struct WriteBehindOptions {
  std::filesystem::path directory{};  // journal, checkpoint and dead letters (created if missing)
  FsyncPolicy fsync = FsyncPolicy::kEveryWrite;
  std::size_t segment_bytes = 64u << 20;        // a journal segment is closed past this size
  std::size_t max_queue_entries = 100'000;      // distinct keys queued or being flushed
  std::chrono::milliseconds put_timeout{1000};  // backpressure: how long put() waits for room
  std::size_t batch_size = 1000;                // entries per write_batch / erase_batch
  // Flusher threads. Keys are partitioned among them by hash, so the writes of one key stay in
  // order; more than one helps a source that takes concurrent batches (a connection pool).
  std::size_t flush_threads = 1;
  // A partial batch is flushed once its oldest entry is this old (by `clock`).
  std::chrono::nanoseconds flush_interval{std::chrono::milliseconds(50)};
  // Real time between two looks of the idle flusher at `clock` (it is also woken by puts).
  std::chrono::milliseconds poll_interval{5};
  // Real time between two checkpoint writes (each costs two fsyncs) while batches keep coming;
  // flush() and close() persist it at once. A later checkpoint only means more replay at start.
  std::chrono::milliseconds checkpoint_interval{100};
  // Attempts of a batch failing with a permanent error (not unavailable/timeout/exhausted)
  // before it is split in halves; a single entry failing this often is dead-lettered.
  int max_attempts = 4;
  std::chrono::nanoseconds initial_backoff{std::chrono::milliseconds(10)};
  std::chrono::nanoseconds max_backoff{std::chrono::seconds(2)};
  std::chrono::milliseconds close_timeout{10'000};  // what the destructor gives close()
  std::shared_ptr<const Clock> clock{};  // ages and flush intervals; SteadyClock when null
  // Sleeps between retries; null: an interruptible real sleep. Tests inject one that returns at
  // once (and may advance a ManualClock).
  std::function<void(std::chrono::nanoseconds)> sleep{};
  std::uint64_t jitter_seed = 0;  // 0: random
  // Start-up recovery's reports of damaged journal bytes (one line each); null: std::cerr.
  std::function<void(const std::string&)> log{};

  // Throws InvalidArgumentError naming the option.
  void validate() const;
};

// The journal directory is owned by another live WriteBehind (this process or another): a
// directory has one owner, enforced with flock(2) on "<directory>/lock" for the owner's
// lifetime (released by the kernel when the owner exits or dies). what() names the holder's pid.
class JournalLockedError : public UnavailableError {
 public:
  JournalLockedError(std::filesystem::path directory, long holder_pid)
      : UnavailableError(
            "write-behind journal " + directory.string() + " is in use by another writer (pid " +
            (holder_pid > 0 ? std::to_string(holder_pid) : std::string("unknown")) + " holds " +
            (directory / "lock").string() + "); a journal directory has one owner"),
        directory_(std::move(directory)),
        holder_pid_(holder_pid) {}
  [[nodiscard]] const std::filesystem::path& directory() const noexcept { return directory_; }
  // 0 when the holder had not written its pid yet.
  [[nodiscard]] long holder_pid() const noexcept { return holder_pid_; }

 private:
  std::filesystem::path directory_;
  long holder_pid_ = 0;
};

// A torn or corrupted journal tail found at start-up, truncated away (a corrupt tail, unlike a
// crash's torn one, is also quarantined and listed in RecoveryReport::damaged).
struct JournalTruncation {
  std::string file;          // the segment
  std::uint64_t offset = 0;  // where the first bad record started (the new file size)
  std::uint64_t bytes_dropped = 0;
  std::string reason;  // "partial record", "checksum mismatch", ...
};

// What start-up recovery did.
struct RecoveryReport {
  std::uint64_t checkpoint = 0;        // the persisted checkpoint found
  std::uint64_t records_replayed = 0;  // records after the checkpoint put back in the queue
  std::uint64_t records_skipped = 0;   // records at or below the checkpoint
  std::vector<JournalTruncation> truncations;
  // Damage that is not a crash's torn tail: a damaged header, damaged records in the middle of a
  // segment or of the dead-letter file, a corrupt tail. Each range was copied into a quarantine
  // file and skipped; every intact record was recovered. Also logged to stderr at start-up.
  struct Damage {
    std::string file;          // the segment or dead-letter file
    std::uint64_t offset = 0;  // where the damaged bytes start (in the file as found)
    std::uint64_t bytes = 0;
    std::string reason;
    std::string quarantine;  // the file holding a copy of the bytes
  };
  std::vector<Damage> damaged;
};

// The outcome of WriteBehind::replay_dead_letters().
struct DeadLetterReplay {
  std::uint64_t replayed = 0;       // written to the source and removed from the store
  std::uint64_t still_failing = 0;  // kept, with the new error
};

}  // namespace strata
