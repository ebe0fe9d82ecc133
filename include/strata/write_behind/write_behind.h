// strata/write_behind/write_behind.h: WriteBehind<V>, durable write-behind in front of a Source: a
// write is acknowledged once it is in a local journal, and a flusher writes coalesced batches to
// the source later. Use it when the source cannot take every write synchronously.
//
//   auto users = std::make_shared<strata::SqliteSource<User>>(sqlite_options, mapping);
//   strata::WriteBehind<User> wb({.directory = "wb", .fsync =
//   strata::FsyncPolicy::kInterval(10ms)},
//                                users);
//   wb.put("42", user);  // returns once the journal record is fsynced; the row comes later
//
// The guarantee: no acknowledged write is ever lost. With kEveryWrite or kInterval an
// acknowledged write is on disk (fsync) before put() returns; it stays in the journal until the
// source holds it (or a later write to the same key), and is replayed at the next start after a
// crash. With kNever it survives a process crash but not a power loss. See docs/write-behind.md.
//
// Thread-safety: every method may be called from any thread. Writes to one key reach the source
// in the order they were acknowledged (coalesced: only the last pending one is written).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "strata/codec/codec.h"
#include "strata/codec/json.h"
#include "strata/error.h"
#include "strata/source/source.h"
#include "strata/write_behind/internal/write_behind_core.h"
#include "strata/write_behind/write_behind_options.h"
#include "strata/write_behind/write_behind_sink.h"

namespace strata {

// A write the flusher gave up on (a permanent error, after retries and batch splitting).
template <typename V>
struct DeadLetter {
  std::uint64_t sequence = 0;  // the journal sequence of the write
  std::string key;
  WriteOp op = WriteOp::kPut;
  std::optional<V> value;     // the put's value; nullopt for an erase or undecodable bytes
  std::string encoded_value;  // the codec's bytes, as journaled
  std::string error;          // the last error's message
};

// Durable write-behind of V values into a Source, encoding values in the journal with codec C.
template <typename V, typename C = JsonCodec<V>>
requires Codec<C, V>
class WriteBehind final : public WriteBehindSink<V> {
 public:
  // Recovers `options.directory` (replaying every unflushed journal record into the queue, see
  // recovery()) and starts the flusher. The source is shared with the caller and must outlive
  // nothing: the WriteBehind keeps it alive. Throws InvalidArgumentError for bad options,
  // UnavailableError when the directory cannot be used.
  template <typename S>
  requires Source<S> && std::same_as<typename S::value_type, V> WriteBehind(
      WriteBehindOptions options, std::shared_ptr<S> source, C codec = {})
      : codec_(codec), core_(std::move(options), make_applier(std::move(source), codec)) {}

  // Journals the write and returns when it is acknowledged (see FsyncPolicy). Throws
  // ResourceExhaustedError when the queue stays full past put_timeout (nothing was written),
  // UnavailableError after close().
  void put(std::string_view key, const V& value) {
    internal::EncodedWrite w{std::string(key), WriteOp::kPut, codec_.encode(value)};
    core_.append(std::span<const internal::EncodedWrite>(&w, 1));
  }

  // Journals a deletion of `key` (it stays a deletion even if a put of the key is pending).
  void erase(std::string_view key) {
    internal::EncodedWrite w{std::string(key), WriteOp::kErase, {}};
    core_.append(std::span<const internal::EncodedWrite>(&w, 1));
  }

  // Journals every entry in order and returns when all are acknowledged (one wait for the
  // group). At most max_queue_entries entries (else InvalidArgumentError).
  void put_many(std::span<const KeyValue<V>> entries) {
    std::vector<internal::EncodedWrite> writes;
    writes.reserve(entries.size());
    for (const auto& [key, value] : entries) {
      writes.push_back({key, WriteOp::kPut, codec_.encode(value)});
    }
    core_.append(writes);
  }

  // WriteBehindSink.
  void enqueue_put(std::string_view key, const V& value) override { put(key, value); }
  void enqueue_erase(std::string_view key) override { erase(key); }
  // The latest write of `key` not yet in the source (queued or being flushed), decoded.
  [[nodiscard]] std::optional<PendingWrite<V>> pending(std::string_view key) const override {
    std::optional<internal::EncodedWrite> w = core_.pending_write(key);
    if (!w) return std::nullopt;
    if (w->op == WriteOp::kErase) return PendingWrite<V>{std::nullopt};
    return PendingWrite<V>{codec_.decode(w->value)};
  }

  // Waits until every write acknowledged before the call is in the source (or dead-lettered).
  // Throws TimeoutError at the deadline (nothing is lost: the journal keeps the rest).
  void flush(std::chrono::steady_clock::time_point deadline) { core_.flush(deadline); }
  void flush(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    flush(std::chrono::steady_clock::now() + timeout);
  }

  // Drains the queue, then stops the flusher and syncs the journal. Writes still pending at the
  // deadline stay in the journal for the next start, and close() throws TimeoutError saying how
  // many. Later puts throw UnavailableError. Idempotent.
  void close(std::chrono::steady_clock::time_point deadline) { core_.close(deadline); }
  void close(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    close(std::chrono::steady_clock::now() + timeout);
  }

  [[nodiscard]] WriteBehindStats stats() const { return core_.stats(); }
  // What start-up recovery found: checkpoint, records replayed, torn tails truncated.
  [[nodiscard]] const RecoveryReport& recovery() const noexcept { return core_.recovery(); }

  // The dead-letter store (deadletters.log in the journal directory), oldest first.
  [[nodiscard]] std::vector<DeadLetter<V>> dead_letters() const {
    std::vector<DeadLetter<V>> out;
    for (auto& raw : core_.dead_letters()) {
      DeadLetter<V> letter{raw.sequence, std::move(raw.key),   raw.op,
                           std::nullopt, std::move(raw.value), std::move(raw.error)};
      if (letter.op == WriteOp::kPut) {
        try {
          letter.value = codec_.decode(letter.encoded_value);
        } catch (const Error&) {
          // Left as nullopt: encoded_value still holds the bytes.
        }
      }
      out.push_back(std::move(letter));
    }
    return out;
  }
  // Writes every dead letter to the source again, one at a time, in sequence order; the ones
  // that succeed leave the store. Note: a dead letter overwrites whatever the source holds now.
  DeadLetterReplay replay_dead_letters() { return core_.replay_dead_letters(); }
  // Empties the dead-letter store; returns how many letters were dropped.
  std::size_t drop_dead_letters() { return core_.drop_dead_letters(); }

 private:
  template <typename S>
  static internal::BatchApplier make_applier(std::shared_ptr<S> source, C codec) {
    if (!source) throw InvalidArgumentError("WriteBehind: source must not be null");
    internal::BatchApplier applier;
    applier.write = [source, codec](std::span<const internal::EncodedWrite> puts) {
      std::vector<KeyValue<V>> entries;
      entries.reserve(puts.size());
      for (const auto& w : puts) entries.emplace_back(w.key, codec.decode(w.value));
      source->write_batch(std::span<const KeyValue<V>>(entries));
    };
    applier.erase = [source](std::span<const std::string> keys) { source->erase_batch(keys); };
    return applier;
  }

  C codec_;
  internal::WriteBehindCore core_;
};

}  // namespace strata
