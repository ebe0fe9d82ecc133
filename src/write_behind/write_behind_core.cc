// write_behind_core.cc: the engine of WriteBehind<V>: group-committed journal, coalescing queue,
// flusher with retries, batch splitting and dead letters, checkpoints and recovery.
//
// Why one file of ~900 lines: every part below works on the one state under `mu` (queue, in-flight
// batches, sequences, checkpoint), and the guarantee stated next is an invariant across all of
// them; split into files, each would reach into the others' private state.
//
// The guarantee. A write is acknowledged (append() returns) only after its journal record is
// durable per the fsync policy. A record leaves the journal (its segment is deleted) only after
// the persisted checkpoint covers it, and the checkpoint C only ever means: every record with
// sequence <= C is in the source, superseded by a later write to its key that is in the source,
// or in the dead-letter store (fsynced). So an acknowledged write is always either in the
// journal after C (and replayed at start), or resolved.
//
// State, all under one mutex `mu`:
//  - queue: key -> Entry {op, value, first_seq, enqueued_at}. One entry per key: a later write
//    replaces op and value (last write wins, an erase stays an erase) and keeps first_seq, the
//    sequence of the oldest write the entry still stands for. `order` indexes queued entries by
//    first_seq (FIFO batches, oldest age); `in_flight` holds the first_seq of entries the
//    flusher has taken. C = min(first_seq over queued and in-flight) - 1, or the last sequence
//    when nothing is pending. Replaying everything after C re-creates every pending entry with
//    its latest value, because records replay in sequence order and coalesce the same way.
//  - per key order: keys are partitioned by hash into lanes, one flusher thread each (one lane by
//    default). A lane finishes a batch (success, dead letter or abandon at close) before taking
//    the next, and a key always maps to the same lane, so two writes of one key never race to
//    the source. A key written while its entry is in flight gets a new entry, flushed in a later
//    batch of the same lane. `order` and `in_flight` are per lane; C is the minimum over lanes,
//    and checkpoint writes are serialised by checkpoint_mu.
//  - group commit: appenders serialise their records into `buffer` under mu. For kEveryWrite and
//    kNever, the first appender that finds no I/O in progress becomes the leader: it takes the
//    whole buffer, drops the mutex, writes (and fdatasyncs for kEveryWrite) and publishes
//    durable_seq; the others wait on durable_cv and are covered by that fsync or lead the next.
//    For kInterval a syncer thread does the same every interval. The flusher may write an entry
//    to the source before its record is durable: that write was not acknowledged yet, and a
//    source holding a not-yet-acknowledged value is allowed (it is the latest value of the key).
//  - backpressure: distinct keys queued + in flight are bounded by max_queue_entries; append
//    waits on space_cv up to put_timeout, then throws ResourceExhaustedError.
//
// Failures. An attempt that throws UnavailableError, TimeoutError or ResourceExhaustedError is
// transient: the source is down, not the entries bad; it is retried forever with exponential
// backoff and jitter (until close() gives up at its deadline, leaving the entries in the
// journal). Any other exception is permanent: after max_attempts the batch is split in halves,
// each half tried once and split again, down to single entries, which get max_attempts and then
// go to the dead-letter store. So one poison entry costs O(log batch) extra attempts and never
// blocks the others. A journal write failure makes the journal unusable: the writes it covered
// and every later append throw UnavailableError (acknowledging after a partial write would let
// recovery truncate acknowledged records behind it).
//
// Costs: an append is a hash lookup, a map insert and a record copy under the mutex, plus its
// share of one write(2)+fdatasync (about 0.1 ms) per group; a flushed batch is one write_batch
// or erase_batch plus one checkpoint (a 12-byte pwrite + fdatasync in place).
//
// Ownership and damage. recover() first takes flock(LOCK_EX) on <directory>/lock (held until the
// object is destroyed; JournalLockedError names the holder's pid), so no second writer, in this
// process or another, can checkpoint, truncate or delete a live journal. Recovery cuts only a
// crash's torn tail; a damaged record elsewhere is skipped by resynchronising on the next intact
// one, its bytes quarantined and reported (RecoveryReport::damaged, stats().damaged_ranges, a log
// line). A failed checkpoint write is counted (checkpoint_failures) and retried; flush() and
// close() throw UnavailableError while every write is in the source but the checkpoint lags,
// since a restart would then write those records again.
#include "strata/write_behind/internal/write_behind_core.h"

#include <fcntl.h>

#include <algorithm>
#include <condition_variable>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include "strata/error.h"
#include "write_behind/journal.h"

namespace strata {

std::string to_string(const FsyncPolicy& policy) {
  switch (policy.mode) {
    case FsyncPolicy::Mode::kEveryWrite:
      return "every-write";
    case FsyncPolicy::Mode::kNever:
      return "never";
    case FsyncPolicy::Mode::kInterval:
      break;
  }
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(policy.interval).count();
  return us % 1000 == 0 ? "interval(" + std::to_string(us / 1000) + "ms)"
                        : "interval(" + std::to_string(us) + "us)";
}

void WriteBehindOptions::validate() const {
  const auto bad = [](const std::string& what) {
    throw InvalidArgumentError("WriteBehindOptions: " + what);
  };
  if (directory.empty()) bad("directory must be set");
  if (fsync.mode == FsyncPolicy::Mode::kInterval && fsync.interval <= std::chrono::nanoseconds(0)) {
    bad("fsync interval must be positive");
  }
  if (segment_bytes < 4096) bad("segment_bytes must be at least 4096");
  if (max_queue_entries == 0) bad("max_queue_entries must be at least 1");
  if (put_timeout.count() < 0) bad("put_timeout must not be negative");
  if (batch_size == 0) bad("batch_size must be at least 1");
  if (flush_threads == 0 || flush_threads > 64) bad("flush_threads must be 1..64");
  if (flush_interval.count() < 0) bad("flush_interval must not be negative");
  if (poll_interval.count() <= 0) bad("poll_interval must be positive");
  if (checkpoint_interval.count() < 0) bad("checkpoint_interval must not be negative");
  if (max_attempts < 1) bad("max_attempts must be at least 1");
  if (initial_backoff.count() < 0 || max_backoff < initial_backoff) {
    bad("backoff must satisfy 0 <= initial_backoff <= max_backoff");
  }
  if (close_timeout.count() < 0) bad("close_timeout must not be negative");
}

namespace internal {
namespace {

using write_behind::File;
using SteadyTime = std::chrono::steady_clock::time_point;

struct Entry {
  std::size_t lane = 0;
  WriteOp op = WriteOp::kPut;
  std::string value;
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;
  std::chrono::nanoseconds enqueued_at{0};
};

struct Item {
  EncodedWrite write;
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;
};

bool is_transient(ErrorCode code) {
  return code == ErrorCode::kUnavailable || code == ErrorCode::kTimeout ||
         code == ErrorCode::kResourceExhausted;
}

}  // namespace

struct WriteBehindCore::Impl {
  // flock(LOCK_EX) on <directory>/lock for the whole lifetime: one owner per directory. Declared
  // first so that it is released last.
  File lock_file;
  WriteBehindOptions opt;
  BatchApplier applier;
  std::shared_ptr<const Clock> clock;
  RecoveryReport recovery;

  mutable std::mutex mu;
  std::condition_variable durable_cv;
  std::condition_variable space_cv;
  std::condition_variable flusher_cv;
  std::condition_variable progress_cv;
  std::condition_variable sleep_cv;

  // Queue (mu).
  std::unordered_map<std::string, Entry> queue;
  // One lane per flusher thread; a key always maps to the same lane.
  struct Lane {
    std::map<std::uint64_t, std::string> order;                   // first_seq -> key (queued)
    std::map<std::uint64_t, std::chrono::nanoseconds> in_flight;  // first_seq -> enqueued_at
    std::mt19937_64 rng;
    std::thread thread;
  };
  std::vector<Lane> lanes;
  std::size_t in_flight_count = 0;
  // The writes the flushers have taken and not yet resolved, by key (a key is in at most one
  // batch at a time: one lane per key, one batch per lane), so that pending_write() still
  // finds a write while its batch is on its way to the source.
  struct InFlightWrite {
    WriteOp op = WriteOp::kPut;
    std::string value;
    std::uint64_t first_seq = 0;
  };
  std::unordered_map<std::string, InFlightWrite> in_flight_writes;
  std::uint64_t next_seq = 1;
  std::uint64_t resolved_upto = 0;  // the in-memory checkpoint
  std::uint64_t flush_requests = 0;
  bool closing = false;
  bool stop = false;
  bool closed = false;
  bool abandon = false;

  // Group commit (mu).
  std::string buffer;
  std::uint64_t buffer_first_seq = 0;
  std::uint64_t buffer_last_seq = 0;
  std::uint64_t durable_seq = 0;  // written to the journal file (acknowledgeable)
  std::uint64_t fsynced_seq = 0;  // ... and covered by a completed fsync
  bool io_busy = false;
  std::string journal_error;

  // Segments (mu for the list; the file itself only by the thread holding io_busy).
  File segment;
  std::uint64_t segment_size = 0;
  std::vector<std::pair<std::uint64_t, std::filesystem::path>> segments;
  std::uint64_t persisted_checkpoint = 0;
  SteadyTime last_checkpoint{};
  int checkpoint_slot = 0;       // the slot the next checkpoint write goes to (checkpoint_mu)
  std::string checkpoint_error;  // the last failed checkpoint write's error (mu); "" after success
  std::uint64_t checkpoint_attempts = 0;  // checkpoint writes started (mu)
  std::uint64_t last_failed_attempt = 0;  // the number of the last one that failed (mu)

  WriteBehindStats counters;

  std::mutex dead_mu;  // the dead-letter file; never taken while holding mu
  File dead_file;

  std::mutex checkpoint_mu;  // serialises checkpoint writes; never taken while holding mu
  std::thread syncer;

  Impl(WriteBehindOptions options, BatchApplier a)
      : opt(std::move(options)), applier(std::move(a)) {
    opt.validate();
    if (!applier.write || !applier.erase) throw InvalidArgumentError("WriteBehind: no applier");
    clock = opt.clock ? opt.clock : std::make_shared<SteadyClock>();
    lanes = std::vector<Lane>(opt.flush_threads);
    for (std::size_t i = 0; i < lanes.size(); ++i) {
      lanes[i].rng.seed((opt.jitter_seed != 0 ? opt.jitter_seed : std::random_device{}()) + i);
    }
  }

  [[nodiscard]] std::size_t pending() const { return queue.size() + in_flight_count; }

  [[nodiscard]] std::size_t lane_of(std::string_view key) const {
    return lanes.size() == 1 ? 0 : std::hash<std::string_view>{}(key) % lanes.size();
  }

  // Adds one write to the queue (mu held).
  void enqueue(std::string_view key, WriteOp op, std::string_view value, std::uint64_t seq) {
    auto [it, inserted] = queue.try_emplace(std::string(key));
    Entry& entry = it->second;
    entry.op = op;
    entry.value.assign(value);
    entry.last_seq = seq;
    if (!inserted) {
      ++counters.coalesced;
      return;
    }
    entry.lane = lane_of(key);
    entry.first_seq = seq;
    entry.enqueued_at = clock->now();
    lanes[entry.lane].order.emplace(seq, it->first);
  }

  [[nodiscard]] std::uint64_t compute_checkpoint() const {
    std::uint64_t lowest = next_seq;
    for (const auto& lane : lanes) {
      if (!lane.order.empty()) lowest = std::min(lowest, lane.order.begin()->first);
      if (!lane.in_flight.empty()) lowest = std::min(lowest, lane.in_flight.begin()->first);
    }
    return lowest - 1;
  }

  // ---- recovery ----------------------------------------------------------------------------

  void recover() {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::create_directories(opt.directory, ec);
    if (ec || !fs::is_directory(opt.directory)) {
      throw UnavailableError("write-behind: cannot create journal directory " +
                             opt.directory.string() + ": " + ec.message());
    }
    // Before anything is read or written: a second opener must not touch a live journal.
    lock_file = write_behind::lock_directory(opt.directory);
    const std::uint64_t checkpoint = write_behind::read_checkpoint(opt.directory);
    recovery.checkpoint = checkpoint;
    std::uint64_t max_seq = checkpoint;
    segments = write_behind::list_segments(opt.directory);
    for (const auto& [first, path] : segments) {
      auto scan = scan_and_repair(path, first);
      counters.journal_bytes += scan.valid_bytes;
      for (const auto& record : scan.records) {
        max_seq = std::max(max_seq, record.sequence);
        if (record.sequence <= checkpoint) {
          ++recovery.records_skipped;
          continue;
        }
        enqueue(record.key, record.op, record.value, record.sequence);
        ++recovery.records_replayed;
      }
    }
    const auto dead = write_behind::dead_letter_path(opt.directory);
    if (fs::exists(dead)) (void)scan_and_repair(dead, std::nullopt);
    counters.damaged_ranges = recovery.damaged.size();
    // The two-slot checkpoint file, so that later checkpoints are written in place (they then
    // need no new file or block: a full disk does not stop them).
    write_behind::create_checkpoint(opt.directory, checkpoint);
    checkpoint_slot = 0;
    counters.coalesced = 0;  // replay's coalescing is not the callers'
    counters.recovered = recovery.records_replayed;
    next_seq = max_seq + 1;
    durable_seq = max_seq;
    persisted_checkpoint = checkpoint;
    resolved_upto = compute_checkpoint();

    // A fresh segment for this run. A previous segment with the same first sequence holds no
    // record (they would have sequences >= next_seq), so it is replaced.
    if (!segments.empty() && segments.back().first == next_seq) {
      counters.journal_bytes -= std::min<std::uint64_t>(counters.journal_bytes,
                                                        fs::file_size(segments.back().second, ec));
      segments.pop_back();
    }
    const auto path = write_behind::segment_path(opt.directory, next_seq);
    segment = write_behind::create_segment(path);
    segment_size = write_behind::kFileMagic.size();
    counters.journal_bytes += segment_size;
    segments.emplace_back(next_seq, path);
    delete_covered_segments(checkpoint);
  }

  // Scans one file with repair, records its tail and damage in the report and logs the damage.
  write_behind::ScanResult scan_and_repair(const std::filesystem::path& path,
                                           std::optional<std::uint64_t> first_sequence) {
    std::vector<std::filesystem::path> quarantined;
    auto scan = write_behind::scan_file(path, /*repair=*/true, first_sequence, &quarantined);
    if (scan.truncation) recovery.truncations.push_back(*scan.truncation);
    for (std::size_t i = 0; i < scan.damaged.size(); ++i) {
      const auto& range = scan.damaged[i];
      RecoveryReport::Damage damage{path.string(), range.offset, range.bytes, range.reason,
                                    i < quarantined.size() ? quarantined[i].string() : ""};
      const std::string line = "strata write-behind: damaged bytes in " + damage.file +
                               " at offset " + std::to_string(damage.offset) + " (" +
                               std::to_string(damage.bytes) + " bytes, " + damage.reason +
                               ") skipped and copied to " + damage.quarantine +
                               "; the intact records around them were recovered";
      if (opt.log) {
        opt.log(line);
      } else {
        std::cerr << line << '\n';
      }
      recovery.damaged.push_back(std::move(damage));
    }
    return scan;
  }

  // Deletes every segment whose records are all <= checkpoint (never the current one).
  void delete_covered_segments(std::uint64_t checkpoint) {
    std::vector<std::filesystem::path> doomed;
    {
      std::lock_guard lock(mu);
      while (segments.size() > 1 && segments[1].first - 1 <= checkpoint) {
        doomed.push_back(segments.front().second);
        segments.erase(segments.begin());
      }
    }
    if (doomed.empty()) return;
    std::uint64_t freed = 0;
    for (const auto& path : doomed) {
      std::error_code ec;
      const auto size = std::filesystem::file_size(path, ec);
      if (!ec) freed += size;
      std::filesystem::remove(path, ec);
    }
    try {
      write_behind::sync_directory(opt.directory);
    } catch (const Error&) {
      // A deleted segment that reappears after a power loss only replays flushed records.
    }
    std::lock_guard lock(mu);
    counters.journal_bytes -= std::min(counters.journal_bytes, freed);
  }

  // ---- group commit ------------------------------------------------------------------------

  // Writes (and with `do_sync` fdatasyncs) the buffer. Precondition: lock held, !io_busy.
  void sync_locked(std::unique_lock<std::mutex>& lock, bool do_sync) {
    if (buffer.empty() && !do_sync) return;
    io_busy = true;
    std::string bytes;
    bytes.swap(buffer);
    const std::uint64_t first = buffer_first_seq;
    const std::uint64_t upto = buffer_last_seq;
    lock.unlock();
    std::string error;
    bool synced = false;
    try {
      if (!bytes.empty()) {
        if (segment_size >= opt.segment_bytes) {
          const auto path = write_behind::segment_path(opt.directory, first);
          File next = write_behind::create_segment(path);
          segment.sync();
          segment = std::move(next);
          segment_size = write_behind::kFileMagic.size();
          std::lock_guard guard(mu);
          segments.emplace_back(first, path);
          counters.journal_bytes += segment_size;
        }
        segment.write_all(bytes);
        segment_size += bytes.size();
        if (do_sync) {
          segment.sync();
          synced = true;
        }
      }
    } catch (const std::exception& e) {
      error = e.what();
    }
    lock.lock();
    io_busy = false;
    if (!error.empty()) {
      journal_error = error;
    } else {
      durable_seq = std::max(durable_seq, upto);
      counters.journal_bytes += bytes.size();
      if (synced) {
        ++counters.fsyncs;
        fsynced_seq = std::max(fsynced_seq, upto);
      }
    }
    durable_cv.notify_all();
  }

  void syncer_loop() {
    std::unique_lock lock(mu);
    while (!stop) {
      sleep_cv.wait_for(lock, opt.fsync.interval);
      if (!buffer.empty() && !io_busy && journal_error.empty()) sync_locked(lock, true);
    }
  }

  // ---- append ------------------------------------------------------------------------------

  void append(std::span<const EncodedWrite> writes) {
    if (writes.empty()) return;
    if (writes.size() > opt.max_queue_entries) {
      throw InvalidArgumentError(
          "write-behind: " + std::to_string(writes.size()) +
          " writes in one call exceed max_queue_entries=" + std::to_string(opt.max_queue_entries));
    }
    std::unique_lock lock(mu);
    const auto check_open = [&] {
      if (closing || closed) throw UnavailableError("write-behind is closed");
      if (!journal_error.empty()) {
        throw UnavailableError("write-behind journal failed: " + journal_error);
      }
    };
    check_open();
    const auto growth = [&] {
      std::size_t n = 0;
      for (const auto& w : writes) n += queue.contains(w.key) ? 0 : 1;
      return n;
    };
    // growth() is an upper bound of the new entries; skip its lookups when everything fits.
    if (pending() + writes.size() > opt.max_queue_entries &&
        pending() + growth() > opt.max_queue_entries) {
      const auto deadline = std::chrono::steady_clock::now() + opt.put_timeout;
      while (pending() + growth() > opt.max_queue_entries) {
        if (space_cv.wait_until(lock, deadline) == std::cv_status::timeout &&
            pending() + growth() > opt.max_queue_entries) {
          throw ResourceExhaustedError(
              "write-behind queue is full: max_queue_entries=" +
              std::to_string(opt.max_queue_entries) + " distinct keys pending, waited " +
              std::to_string(opt.put_timeout.count()) + " ms (put_timeout)");
        }
        check_open();
      }
    }
    for (const auto& w : writes) {
      const std::uint64_t seq = next_seq++;
      if (buffer.empty()) buffer_first_seq = seq;
      write_behind::encode_record(buffer, seq, w.op, w.key, w.value);
      buffer_last_seq = seq;
      enqueue(w.key, w.op, w.value, seq);
    }
    const std::uint64_t mine = next_seq - 1;
    if (queue.size() >= opt.batch_size) flusher_cv.notify_all();
    const bool leader_mode = opt.fsync.mode != FsyncPolicy::Mode::kInterval;
    while (durable_seq < mine) {
      if (!journal_error.empty()) {
        throw UnavailableError("write-behind journal failed, write not acknowledged: " +
                               journal_error);
      }
      if (leader_mode && !io_busy) {
        sync_locked(lock, opt.fsync.mode == FsyncPolicy::Mode::kEveryWrite);
      } else {
        durable_cv.wait(lock);
      }
    }
    counters.acknowledged += writes.size();
  }

  // ---- flusher -----------------------------------------------------------------------------

  [[nodiscard]] bool batch_due(const Lane& lane) const {
    const auto& order = lane.order;
    if (order.empty()) return false;
    if (order.size() >= opt.batch_size || flush_requests > 0 || closing) return true;
    const Entry& oldest = queue.at(order.begin()->second);
    return clock->now() - oldest.enqueued_at >= opt.flush_interval;
  }

  void flusher_loop(std::size_t lane_index) {
    Lane& lane = lanes[lane_index];
    std::unique_lock lock(mu);
    bool checkpoint_failed = false;
    while (true) {
      while (!stop && !batch_due(lane) && !(checkpoint_due() && !checkpoint_failed)) {
        flusher_cv.wait_for(lock, opt.poll_interval);
        checkpoint_failed = false;  // retry a failed checkpoint write once per poll
      }
      if (stop) return;
      if (batch_due(lane)) {
        std::vector<Item> batch;
        batch.reserve(std::min(lane.order.size(), opt.batch_size));
        while (!lane.order.empty() && batch.size() < opt.batch_size) {
          auto node = queue.extract(lane.order.begin()->second);
          lane.order.erase(lane.order.begin());
          Entry& e = node.mapped();
          lane.in_flight.emplace(e.first_seq, e.enqueued_at);
          ++in_flight_count;
          in_flight_writes.insert_or_assign(node.key(), InFlightWrite{e.op, e.value, e.first_seq});
          batch.push_back({EncodedWrite{std::move(node.key()), e.op, std::move(e.value)},
                           e.first_seq, e.last_seq});
        }
        lock.unlock();
        std::vector<std::uint64_t> resolved;
        deliver(batch, opt.max_attempts, resolved, lane.rng);
        lock.lock();
        for (const auto seq : resolved) in_flight_count -= lane.in_flight.erase(seq);
        forget_resolved_writes(batch, std::move(resolved));
        resolved_upto = std::max(resolved_upto, compute_checkpoint());
        space_cv.notify_all();
      }
      if (checkpoint_due()) {
        last_checkpoint = std::chrono::steady_clock::now();
        lock.unlock();
        const bool ok = persist_checkpoint();
        lock.lock();
        checkpoint_failed = !ok;
      }
      progress_cv.notify_all();
    }
  }

  // Drops the resolved items of a batch from in_flight_writes (mu held). Unresolved ones (close()
  // gave up on them) stay: their writes are still only in the journal.
  void forget_resolved_writes(const std::vector<Item>& batch, std::vector<std::uint64_t> resolved) {
    std::sort(resolved.begin(), resolved.end());
    for (const Item& item : batch) {
      if (!std::binary_search(resolved.begin(), resolved.end(), item.first_seq)) continue;
      const auto it = in_flight_writes.find(item.write.key);
      if (it != in_flight_writes.end() && it->second.first_seq == item.first_seq) {
        in_flight_writes.erase(it);
      }
    }
  }

  // A checkpoint is due when it lags and flush()/close() wait for it or checkpoint_interval
  // passed since the last one (mu held).
  [[nodiscard]] bool checkpoint_due() const {
    if (persisted_checkpoint >= resolved_upto) return false;
    return flush_requests > 0 || closing ||
           std::chrono::steady_clock::now() - last_checkpoint >= opt.checkpoint_interval;
  }

  // Writes resolved_upto as the checkpoint and deletes the segments it covers. False on an I/O
  // error (retried at the next poll; the journal still holds everything). Called without mu.
  bool persist_checkpoint() {
    std::lock_guard serial(checkpoint_mu);
    std::uint64_t checkpoint = 0;
    std::uint64_t attempt = 0;
    {
      std::lock_guard lock(mu);
      if (persisted_checkpoint >= resolved_upto) return true;
      checkpoint = resolved_upto;
      attempt = ++checkpoint_attempts;
    }
    try {
      // The slot holding the older checkpoint; after a failure the same slot again (the other
      // one still holds the last persisted checkpoint).
      write_behind::write_checkpoint_slot(opt.directory, checkpoint_slot, checkpoint);
      checkpoint_slot ^= 1;
    } catch (const Error& e) {
      std::lock_guard lock(mu);
      ++counters.checkpoint_failures;
      checkpoint_error = e.what();
      last_failed_attempt = attempt;
      return false;
    }
    delete_covered_segments(checkpoint);
    std::lock_guard lock(mu);
    persisted_checkpoint = std::max(persisted_checkpoint, checkpoint);
    counters.checkpoint = persisted_checkpoint;
    checkpoint_error.clear();
    return true;
  }

  void apply(std::span<const Item> items) {
    std::vector<EncodedWrite> puts;
    std::vector<std::string> erases;
    for (const auto& item : items) {
      if (item.write.op == WriteOp::kPut) {
        puts.push_back(item.write);
      } else {
        erases.push_back(item.write.key);
      }
    }
    if (!puts.empty()) applier.write(puts);
    if (!erases.empty()) applier.erase(erases);
  }

  void backoff(int attempt, std::mt19937_64& rng) {
    const auto base = opt.initial_backoff.count();
    const int shift = std::min(attempt - 1, 30);
    std::int64_t d = std::min<std::int64_t>(opt.max_backoff.count(), base << shift);
    if (base > 0 && (base << shift) >> shift != base) d = opt.max_backoff.count();
    std::uniform_int_distribution<std::int64_t> half(0, d / 2);
    const std::chrono::nanoseconds delay(d - d / 2 + half(rng));  // "equal jitter"
    if (opt.sleep) {
      opt.sleep(delay);
      return;
    }
    std::unique_lock lock(mu);
    sleep_cv.wait_for(lock, delay, [&] { return abandon; });
  }

  [[nodiscard]] bool abandoned() {
    std::lock_guard lock(mu);
    return abandon;
  }

  // Delivers `items` to the source; appends to `resolved` the first_seq of every entry that is
  // now in the source or the dead-letter store. Returns false when close() gave up on them.
  bool deliver(std::span<const Item> items, int attempts, std::vector<std::uint64_t>& resolved,
               std::mt19937_64& rng) {
    int attempt = 0;
    while (true) {
      std::string error;
      bool transient = false;
      try {
        apply(items);
        std::lock_guard lock(mu);
        counters.flushed += items.size();
        ++counters.batches;
        for (const auto& item : items) resolved.push_back(item.first_seq);
        return true;
      } catch (const Error& e) {
        error = e.what();
        transient = is_transient(e.code());
      } catch (const std::exception& e) {
        error = e.what();
      } catch (...) {
        error = "unknown exception";
      }
      ++attempt;
      if (!transient && attempt >= attempts) {
        if (items.size() == 1) return dead_letter(items[0], error, resolved, rng);
        const std::size_t half = items.size() / 2;
        const auto left = items.first(half);
        const auto right = items.subspan(half);
        const bool a = deliver(left, left.size() == 1 ? opt.max_attempts : 1, resolved, rng);
        if (!a) return false;
        return deliver(right, right.size() == 1 ? opt.max_attempts : 1, resolved, rng);
      }
      if (abandoned()) return false;
      {
        std::lock_guard lock(mu);
        ++counters.retried;
      }
      backoff(attempt, rng);
      if (abandoned()) return false;
    }
  }

  void open_dead_letters_locked() {
    if (dead_file.is_open()) return;
    const auto path = write_behind::dead_letter_path(opt.directory);
    std::error_code ec;
    if (!std::filesystem::exists(path, ec) || std::filesystem::file_size(path, ec) == 0) {
      dead_file = write_behind::create_segment(path);
    } else {
      dead_file = File(path, O_WRONLY | O_APPEND);
    }
  }

  bool dead_letter(const Item& item, const std::string& error, std::vector<std::uint64_t>& resolved,
                   std::mt19937_64& rng) {
    std::string record;
    write_behind::encode_record(record, item.last_seq, item.write.op, item.write.key,
                                item.write.value, error.empty() ? "error" : error);
    for (int attempt = 1;; ++attempt) {
      try {
        std::lock_guard dead(dead_mu);
        open_dead_letters_locked();
        dead_file.write_all(record);
        dead_file.sync();
        break;
      } catch (const Error&) {
        std::lock_guard dead(dead_mu);
        dead_file = File();
      }
      if (abandoned()) return false;
      backoff(attempt, rng);
    }
    std::lock_guard lock(mu);
    ++counters.dead_lettered;
    resolved.push_back(item.first_seq);
    return true;
  }

  // ---- flush / close -----------------------------------------------------------------------

  void flush(SteadyTime deadline) {
    std::unique_lock lock(mu);
    const std::uint64_t target = next_seq - 1;
    const std::uint64_t attempts_before = checkpoint_attempts;
    ++flush_requests;
    flusher_cv.notify_all();
    // Done when the persisted checkpoint covers every write acknowledged before the call (so
    // the source holds them and the journal no longer needs them). Failed when they are all in
    // the source and a checkpoint write started during the call failed (and none succeeded
    // since).
    const auto checkpoint_failed = [&] {
      return resolved_upto >= target && last_failed_attempt > attempts_before &&
             !checkpoint_error.empty();
    };
    const bool done = progress_cv.wait_until(lock, deadline, [&] {
      return persisted_checkpoint >= target || stop || checkpoint_failed();
    });
    --flush_requests;
    if (persisted_checkpoint < target && checkpoint_failed()) {
      throw UnavailableError(checkpoint_lag_message("write-behind flush"));
    }
    if (!done || persisted_checkpoint < target) {
      throw TimeoutError("write-behind flush: " + std::to_string(pending()) +
                         " entries still pending at the deadline (they stay journaled)");
    }
  }

  void close(SteadyTime deadline) {
    std::unique_lock lock(mu);
    if (closed) return;
    closing = true;
    const std::uint64_t attempts_before = checkpoint_attempts;
    flusher_cv.notify_all();
    space_cv.notify_all();
    progress_cv.wait_until(lock, deadline, [&] {
      return (pending() == 0 &&
              (persisted_checkpoint >= resolved_upto || last_failed_attempt > attempts_before)) ||
             stop;
    });
    const std::size_t left = pending();
    abandon = true;
    stop = true;
    flusher_cv.notify_all();
    sleep_cv.notify_all();
    progress_cv.notify_all();
    lock.unlock();
    for (auto& lane : lanes) {
      if (lane.thread.joinable()) lane.thread.join();
    }
    if (syncer.joinable()) syncer.join();
    lock.lock();
    while (io_busy) durable_cv.wait(lock);
    if (journal_error.empty()) sync_locked(lock, opt.fsync.mode != FsyncPolicy::Mode::kNever);
    closed = true;
    durable_cv.notify_all();
    if (left > 0) {
      throw TimeoutError("write-behind close: " + std::to_string(left) +
                         " entries not flushed by the deadline; they stay in the journal and "
                         "are replayed at the next start");
    }
    if (persisted_checkpoint < resolved_upto) {
      lock.unlock();
      const bool ok = persist_checkpoint();  // a last try, the flushers are gone
      lock.lock();
      if (!ok) throw UnavailableError(checkpoint_lag_message("write-behind close"));
    }
  }

  // Why flush()/close() fail while every write is in the source but the checkpoint lags (mu).
  [[nodiscard]] std::string checkpoint_lag_message(const std::string& what) const {
    return what + ": every write is in the source but the checkpoint could not be written (" +
           checkpoint_error + "; " + std::to_string(counters.checkpoint_failures) +
           " failed checkpoint writes); it stays at " + std::to_string(persisted_checkpoint) +
           ", so a restart would write the " +
           std::to_string(resolved_upto - persisted_checkpoint) +
           " records after it to the source again, over any newer change made there meanwhile";
  }

  // ---- dead letters ------------------------------------------------------------------------

  std::vector<write_behind::Record> read_dead_letters_locked() const {
    const auto path = write_behind::dead_letter_path(opt.directory);
    if (!std::filesystem::exists(path)) return {};
    return write_behind::scan_file(path, /*repair=*/false).records;
  }

  void rewrite_dead_letters_locked(const std::vector<write_behind::Record>& keep) {
    const auto path = write_behind::dead_letter_path(opt.directory);
    const auto tmp = opt.directory / "deadletters.tmp";
    {
      File file = write_behind::create_segment(tmp);
      std::string bytes;
      for (const auto& r : keep) {
        write_behind::encode_record(bytes, r.sequence, r.op, r.key, r.value, r.error);
      }
      file.write_all(bytes);
      file.sync();
    }
    dead_file = File();
    std::filesystem::rename(tmp, path);
    write_behind::sync_directory(opt.directory);
  }
};

WriteBehindCore::WriteBehindCore(WriteBehindOptions options, BatchApplier applier)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(applier))) {
  impl_->recover();
  for (std::size_t i = 0; i < impl_->lanes.size(); ++i) {
    impl_->lanes[i].thread = std::thread([this, i] { impl_->flusher_loop(i); });
  }
  if (impl_->opt.fsync.mode == FsyncPolicy::Mode::kInterval) {
    impl_->syncer = std::thread([this] { impl_->syncer_loop(); });
  }
}

WriteBehindCore::~WriteBehindCore() {
  try {
    close(std::chrono::steady_clock::now() + impl_->opt.close_timeout);
  } catch (...) {
    // Never throws: what was not flushed stays in the journal for the next start.
  }
}

void WriteBehindCore::append(std::span<const EncodedWrite> writes) {
  impl_->append(writes);
}

void WriteBehindCore::flush(std::chrono::steady_clock::time_point deadline) {
  impl_->flush(deadline);
}

void WriteBehindCore::close(std::chrono::steady_clock::time_point deadline) {
  impl_->close(deadline);
}

WriteBehindStats WriteBehindCore::stats() const {
  std::lock_guard lock(impl_->mu);
  WriteBehindStats s = impl_->counters;
  s.queue_depth = impl_->pending();
  std::chrono::nanoseconds oldest{0};
  bool any = false;
  for (const auto& lane : impl_->lanes) {
    if (!lane.order.empty()) {
      const auto at = impl_->queue.at(lane.order.begin()->second).enqueued_at;
      if (!any || at < oldest) oldest = at;
      any = true;
    }
    if (!lane.in_flight.empty() && (!any || lane.in_flight.begin()->second < oldest)) {
      oldest = lane.in_flight.begin()->second;
      any = true;
    }
  }
  s.oldest_unflushed_age = any ? impl_->clock->now() - oldest : std::chrono::nanoseconds(0);
  s.checkpoint = impl_->persisted_checkpoint;
  s.last_sequence = impl_->next_seq - 1;
  s.fsynced_sequence = impl_->fsynced_seq;
  return s;
}

const RecoveryReport& WriteBehindCore::recovery() const noexcept {
  return impl_->recovery;
}

std::optional<EncodedWrite> WriteBehindCore::pending_write(std::string_view key) const {
  std::lock_guard lock(impl_->mu);
  const std::string k(key);
  if (const auto it = impl_->queue.find(k); it != impl_->queue.end()) {
    return EncodedWrite{k, it->second.op, it->second.value};
  }
  if (const auto it = impl_->in_flight_writes.find(k); it != impl_->in_flight_writes.end()) {
    return EncodedWrite{k, it->second.op, it->second.value};
  }
  return std::nullopt;
}

std::vector<RawDeadLetter> WriteBehindCore::dead_letters() const {
  std::lock_guard dead(impl_->dead_mu);
  std::vector<RawDeadLetter> out;
  for (auto& r : impl_->read_dead_letters_locked()) {
    out.push_back({r.sequence, std::move(r.key), r.op, std::move(r.value), std::move(r.error)});
  }
  return out;
}

DeadLetterReplay WriteBehindCore::replay_dead_letters() {
  std::lock_guard dead(impl_->dead_mu);
  DeadLetterReplay result;
  std::vector<write_behind::Record> keep;
  for (auto& r : impl_->read_dead_letters_locked()) {
    const Item item{EncodedWrite{r.key, r.op, r.value}, r.sequence, r.sequence};
    try {
      impl_->apply(std::span<const Item>(&item, 1));
      ++result.replayed;
    } catch (const std::exception& e) {
      r.error = e.what();
      keep.push_back(std::move(r));
      ++result.still_failing;
    }
  }
  if (result.replayed > 0 || result.still_failing > 0) impl_->rewrite_dead_letters_locked(keep);
  return result;
}

std::size_t WriteBehindCore::drop_dead_letters() {
  std::lock_guard dead(impl_->dead_mu);
  const std::size_t n = impl_->read_dead_letters_locked().size();
  impl_->rewrite_dead_letters_locked({});
  return n;
}

}  // namespace internal
}  // namespace strata
