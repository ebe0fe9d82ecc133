// WriteBehind<V>: coalescing, per-key order, batching by size and interval (ManualClock),
// backpressure, flush/close deadlines, stats, retries and dead letters, the sink seam.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "write_behind/wb_fixtures.h"

namespace strata {
namespace {

using namespace std::chrono_literals;
using testing::eventually;
using testing::Gate;
using testing::map_source;
using testing::MapState;
using testing::StringWriteBehind;
using testing::test_options;

struct WriteBehindTest : ::testing::Test {
  tools::TempDir dir{"strata-wb-test"};
  std::shared_ptr<MapState> state = std::make_shared<MapState>();
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
};

TEST_F(WriteBehindTest, CoalescesPerKeyLastWriteWinsAndEraseStaysErase) {
  StringWriteBehind wb(test_options(dir.path(), clock), map_source(state));
  wb.put("a", "1");
  wb.put("a", "2");  // last write wins
  wb.put("b", "1");
  wb.erase("b");  // a delete after a put stays a delete
  wb.erase("c");
  wb.put("c", "3");  // a put after a delete is a put
  EXPECT_EQ(wb.stats().queue_depth, 3u);
  EXPECT_EQ(wb.stats().coalesced, 3u);
  wb.flush(5s);
  EXPECT_EQ(state->get("a"), "2");
  EXPECT_EQ(state->get("b"), std::nullopt);
  EXPECT_EQ(state->get("c"), "3");
  // Only the coalesced values reached the source: one write per key.
  std::lock_guard lock(state->mu);
  EXPECT_EQ(state->history.size(), 3u);
  ASSERT_EQ(state->erase_batches.size(), 1u);
  EXPECT_EQ(state->erase_batches[0], std::vector<std::string>{"b"});
}

TEST_F(WriteBehindTest, KeyWrittenWhileInFlightKeepsItsOrder) {
  auto gate = std::make_shared<Gate>();
  std::atomic<bool> first{true};
  state->hook = [gate, &first](const std::vector<std::string>&) {
    if (first.exchange(false)) gate->wait();
  };
  auto options = test_options(dir.path(), clock);
  options.batch_size = 1;
  StringWriteBehind wb(options, map_source(state));
  wb.put("k", "v1");
  ASSERT_TRUE(eventually([&] { return gate->waiters() == 1; }));  // v1 is in flight
  wb.put("k", "v2");
  wb.put("k", "v3");
  gate->open();
  wb.flush(5s);
  EXPECT_EQ(state->get("k"), "v3");
  std::lock_guard lock(state->mu);
  ASSERT_EQ(state->history.size(), 2u);
  EXPECT_EQ(state->history[0].second, "v1");
  EXPECT_EQ(state->history[1].second, "v3");
}

// pending() answers for a key from its acknowledgement until the source holds it: while queued,
// while its batch is in flight (also after a newer write queued behind it), and as an erase.
TEST_F(WriteBehindTest, PendingWriteIsVisibleUntilTheSourceHoldsIt) {
  auto gate = std::make_shared<Gate>();
  std::atomic<bool> first{true};
  state->hook = [gate, &first](const std::vector<std::string>&) {
    if (first.exchange(false)) gate->wait();
  };
  auto options = test_options(dir.path(), clock);
  options.batch_size = 1;
  StringWriteBehind wb(options, map_source(state));
  EXPECT_EQ(wb.pending("k"), std::nullopt);
  wb.put("k", "v1");
  ASSERT_TRUE(eventually([&] { return gate->waiters() == 1; }));  // v1 is in flight
  auto in_flight = wb.pending("k");
  ASSERT_TRUE(in_flight.has_value());
  EXPECT_EQ(in_flight->value, std::optional<std::string>("v1"));
  wb.put("k", "v2");  // queued behind the batch in flight: the newer one answers
  EXPECT_EQ(wb.pending("k")->value, std::optional<std::string>("v2"));
  wb.erase("k");
  ASSERT_TRUE(wb.pending("k").has_value());
  EXPECT_EQ(wb.pending("k")->value, std::nullopt);  // a pending erase
  gate->open();
  wb.flush(5s);
  EXPECT_EQ(state->get("k"), std::nullopt);
  EXPECT_EQ(wb.pending("k"), std::nullopt);
}

// A ManualClock that counts its reads: the idle flusher reads the clock each time it looks at
// a partial batch's age, so "two more reads" shows it looked and kept the batch (no sleep).
class CountingClock final : public Clock {
 public:
  [[nodiscard]] std::chrono::nanoseconds now() const noexcept override {
    reads_.fetch_add(1);
    return inner_.now();
  }
  void advance(std::chrono::nanoseconds by) noexcept { inner_.advance(by); }
  [[nodiscard]] std::uint64_t reads() const noexcept { return reads_.load(); }

 private:
  ManualClock inner_;
  mutable std::atomic<std::uint64_t> reads_{0};
};

TEST_F(WriteBehindTest, BatchesBySizeAndByIntervalOnTheInjectedClock) {
  auto counting = std::make_shared<CountingClock>();
  auto options = test_options(dir.path(), clock);
  options.clock = counting;
  options.batch_size = 3;
  options.flush_interval = 10s;
  StringWriteBehind wb(options, map_source(state));
  wb.put("a", "1");
  wb.put("b", "1");
  wb.put("c", "1");  // a full batch goes at once
  ASSERT_TRUE(eventually([&] { return state->size() == 3; }));
  wb.put("d", "1");
  wb.put("e", "1");
  // A partial batch waits for its interval: the flusher looks at it (reads the clock) twice...
  std::uint64_t seen = counting->reads();
  ASSERT_TRUE(eventually([&] { return counting->reads() >= seen + 2; }));
  EXPECT_EQ(state->size(), 3u);  // ...and keeps it
  EXPECT_EQ(wb.stats().oldest_unflushed_age, 0s);
  counting->advance(9s);
  EXPECT_EQ(wb.stats().oldest_unflushed_age, 9s);
  seen = counting->reads();
  ASSERT_TRUE(eventually([&] { return counting->reads() >= seen + 2; }));
  EXPECT_EQ(state->size(), 3u);  // 9 s old: still kept
  counting->advance(1s);         // ...on the injected clock
  ASSERT_TRUE(eventually([&] { return state->size() == 5; }));
  std::lock_guard lock(state->mu);
  ASSERT_EQ(state->write_batches.size(), 2u);
  EXPECT_EQ(state->write_batches[0].size(), 3u);
  EXPECT_EQ(state->write_batches[1].size(), 2u);
}

TEST_F(WriteBehindTest, FullQueueBlocksThenThrowsResourceExhausted) {
  auto gate = std::make_shared<Gate>();
  state->hook = [gate](const std::vector<std::string>&) { gate->wait(); };
  auto options = test_options(dir.path(), clock);
  options.max_queue_entries = 2;
  options.batch_size = 1;
  options.put_timeout = 50ms;
  StringWriteBehind wb(options, map_source(state));
  wb.put("a", "1");
  wb.put("b", "1");
  wb.put("b", "2");  // coalesces: no room needed
  try {
    wb.put("c", "1");
    FAIL() << "expected ResourceExhaustedError";
  } catch (const ResourceExhaustedError& e) {
    EXPECT_NE(std::string(e.what()).find("max_queue_entries=2"), std::string::npos) << e.what();
  }
  // A blocked put succeeds once the flusher makes room.
  std::thread opener([&] {
    std::this_thread::sleep_for(20ms);
    gate->open();
  });
  bool ok = false;
  for (int i = 0; i < 100 && !ok; ++i) {
    try {
      wb.put("c", "1");
      ok = true;
    } catch (const ResourceExhaustedError&) {
    }
  }
  opener.join();
  EXPECT_TRUE(ok);
  wb.flush(5s);
  EXPECT_EQ(state->get("c"), "1");
  EXPECT_EQ(state->get("b"), "2");
}

TEST_F(WriteBehindTest, FlushAndCloseHonourTheirDeadlines) {
  auto gate = std::make_shared<Gate>();
  state->hook = [gate](const std::vector<std::string>&) { gate->wait(); };
  {
    StringWriteBehind wb(test_options(dir.path(), clock), map_source(state));
    wb.put("a", "1");
    EXPECT_THROW(wb.flush(30ms), TimeoutError);
    std::thread opener([&] {
      std::this_thread::sleep_for(20ms);
      gate->open();
    });
    wb.flush(5s);
    opener.join();
    EXPECT_EQ(state->get("a"), "1");
    wb.close(5s);
    EXPECT_THROW(wb.put("b", "1"), UnavailableError);
    wb.close(5s);  // idempotent
  }
}

TEST_F(WriteBehindTest, CloseAtDeadlineLeavesWritesInTheJournalForTheNextStart) {
  state->hook = [](const std::vector<std::string>&) { throw UnavailableError("source down"); };
  {
    auto options = test_options(dir.path(), clock);
    StringWriteBehind wb(options, map_source(state));
    wb.put("a", "1");
    wb.put("b", "2");
    wb.erase("c");
    EXPECT_THROW(wb.close(50ms), TimeoutError);
    EXPECT_GT(wb.stats().retried, 0u);
    EXPECT_EQ(wb.stats().dead_lettered, 0u);  // unavailable is transient: never dead-lettered
  }
  state->hook = nullptr;
  state->rows["c"] = "old";
  StringWriteBehind wb(test_options(dir.path(), clock), map_source(state));
  EXPECT_EQ(wb.recovery().records_replayed, 3u);
  EXPECT_EQ(wb.stats().recovered, 3u);
  wb.flush(5s);
  EXPECT_EQ(state->get("a"), "1");
  EXPECT_EQ(state->get("b"), "2");
  EXPECT_EQ(state->get("c"), std::nullopt);
}

TEST_F(WriteBehindTest, StatsCountWhatHappened) {
  StringWriteBehind wb(test_options(dir.path(), clock), map_source(state));
  wb.put("a", "1");
  wb.put("a", "2");
  wb.put("b", "1");
  auto s = wb.stats();
  EXPECT_EQ(s.acknowledged, 3u);
  EXPECT_EQ(s.coalesced, 1u);
  EXPECT_EQ(s.queue_depth, 2u);
  EXPECT_GE(s.fsyncs, 1u);
  EXPECT_GT(s.journal_bytes, 8u);
  clock->advance(250ms);
  EXPECT_EQ(wb.stats().oldest_unflushed_age, 250ms);
  wb.flush(5s);
  s = wb.stats();
  EXPECT_EQ(s.flushed, 2u);
  EXPECT_EQ(s.queue_depth, 0u);
  EXPECT_EQ(s.oldest_unflushed_age, 0ns);
  EXPECT_EQ(s.checkpoint, 3u);
  EXPECT_EQ(s.retried, 0u);
  EXPECT_EQ(s.dead_lettered, 0u);
}

TEST_F(WriteBehindTest, TransientFailuresAreRetriedWithBackoffNotDeadLettered) {
  std::atomic<int> failures{5};
  state->hook = [&](const std::vector<std::string>&) {
    if (failures.fetch_sub(1) > 0) throw TimeoutError("slow source");
  };
  std::vector<std::chrono::nanoseconds> sleeps;
  std::mutex sleeps_mu;
  auto options = test_options(dir.path(), clock);
  options.initial_backoff = 10ms;
  options.max_backoff = 100ms;
  options.sleep = [&](std::chrono::nanoseconds d) {
    std::lock_guard lock(sleeps_mu);
    sleeps.push_back(d);
  };
  StringWriteBehind wb(options, map_source(state));
  wb.put("a", "1");
  wb.flush(5s);
  EXPECT_EQ(state->get("a"), "1");
  EXPECT_EQ(wb.stats().retried, 5u);
  EXPECT_EQ(wb.stats().dead_lettered, 0u);
  std::lock_guard lock(sleeps_mu);
  ASSERT_EQ(sleeps.size(), 5u);
  // Exponential with "equal jitter": attempt n sleeps within [d/2, d], d = min(10ms * 2^(n-1),
  // 100ms).
  const std::chrono::nanoseconds caps[] = {10ms, 20ms, 40ms, 80ms, 100ms};
  for (std::size_t i = 0; i < sleeps.size(); ++i) {
    EXPECT_GE(sleeps[i], caps[i] / 2) << i;
    EXPECT_LE(sleeps[i], caps[i]) << i;
  }
}

TEST_F(WriteBehindTest, OnePoisonEntryIsDeadLetteredAndDoesNotBlockTheOthers) {
  state->hook = [](const std::vector<std::string>& keys) {
    for (const auto& k : keys) {
      if (k == "poison") throw InvalidArgumentError("value rejected for " + k);
    }
  };
  auto options = test_options(dir.path(), clock);
  options.batch_size = 16;
  options.max_attempts = 3;
  StringWriteBehind wb(options, map_source(state));
  std::vector<KeyValue<std::string>> entries;
  for (int i = 0; i < 10; ++i) entries.emplace_back("k" + std::to_string(i), "v");
  entries.emplace_back("poison", "bad");
  for (int i = 10; i < 15; ++i) entries.emplace_back("k" + std::to_string(i), "v");
  wb.put_many(entries);
  wb.erase("gone");
  wb.flush(5s);
  EXPECT_EQ(state->size(), 15u);
  EXPECT_EQ(state->get("poison"), std::nullopt);
  const auto s = wb.stats();
  EXPECT_EQ(s.dead_lettered, 1u);
  EXPECT_EQ(s.flushed, 16u);  // 15 puts + the erase
  EXPECT_GT(s.retried, 0u);
  EXPECT_EQ(s.queue_depth, 0u);

  auto letters = wb.dead_letters();
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0].key, "poison");
  EXPECT_EQ(letters[0].op, WriteOp::kPut);
  EXPECT_EQ(letters[0].value, "bad");
  EXPECT_NE(letters[0].error.find("value rejected for poison"), std::string::npos);
  EXPECT_EQ(letters[0].sequence, 11u);

  // Replaying while it still fails keeps it, with the new error.
  auto replay = wb.replay_dead_letters();
  EXPECT_EQ(replay.replayed, 0u);
  EXPECT_EQ(replay.still_failing, 1u);
  EXPECT_EQ(wb.dead_letters().size(), 1u);
  // Once the source accepts it, replay writes it and empties the store.
  state->hook = nullptr;
  replay = wb.replay_dead_letters();
  EXPECT_EQ(replay.replayed, 1u);
  EXPECT_EQ(state->get("poison"), "bad");
  EXPECT_TRUE(wb.dead_letters().empty());
}

TEST_F(WriteBehindTest, DeadLettersSurviveRestartAndCanBeDropped) {
  state->hook = [](const std::vector<std::string>& keys) {
    for (const auto& k : keys) {
      if (k.starts_with("bad")) throw CorruptedError("cannot store " + k);
    }
  };
  {
    StringWriteBehind wb(test_options(dir.path(), clock), map_source(state));
    wb.put("bad1", "x");
    wb.put("good", "y");
    wb.erase("bad2");
    wb.flush(5s);
    EXPECT_EQ(wb.dead_letters().size(), 2u);
  }
  StringWriteBehind wb(test_options(dir.path(), clock), map_source(state));
  EXPECT_EQ(wb.recovery().records_replayed, 0u);  // dead letters are resolved, not replayed
  auto letters = wb.dead_letters();
  ASSERT_EQ(letters.size(), 2u);
  EXPECT_EQ(letters[1].key, "bad2");
  EXPECT_EQ(letters[1].op, WriteOp::kErase);
  EXPECT_EQ(letters[1].value, std::nullopt);
  EXPECT_EQ(wb.drop_dead_letters(), 2u);
  EXPECT_TRUE(wb.dead_letters().empty());
  EXPECT_EQ(state->get("good"), "y");
}

TEST_F(WriteBehindTest, PlugsInThroughTheSinkInterface) {
  StringWriteBehind wb(test_options(dir.path(), clock), map_source(state));
  WriteBehindSink<std::string>& sink = wb;
  sink.enqueue_put("a", "1");
  sink.enqueue_put("b", "1");
  sink.enqueue_erase("b");
  wb.flush(5s);
  EXPECT_EQ(state->get("a"), "1");
  EXPECT_EQ(state->get("b"), std::nullopt);
}

TEST_F(WriteBehindTest, IntervalAndNeverPoliciesAcknowledgeAndFlush) {
  for (const auto policy : {FsyncPolicy::kInterval(2ms), FsyncPolicy::kNever}) {
    tools::TempDir d("strata-wb-policy");
    auto options = test_options(d.path(), clock);
    options.fsync = policy;
    auto st = std::make_shared<MapState>();
    StringWriteBehind wb(options, map_source(st));
    std::vector<std::thread> writers;
    for (int t = 0; t < 4; ++t) {
      writers.emplace_back([&, t] {
        for (int i = 0; i < 50; ++i) wb.put("t" + std::to_string(t) + ":" + std::to_string(i), "v");
      });
    }
    for (auto& w : writers) w.join();
    EXPECT_EQ(wb.stats().acknowledged, 200u) << to_string(policy);
    if (policy.mode == FsyncPolicy::Mode::kInterval) {
      EXPECT_GE(wb.stats().fsyncs, 1u);
      EXPECT_LT(wb.stats().fsyncs, 200u);  // group commit
    } else {
      EXPECT_EQ(wb.stats().fsyncs, 0u);
    }
    wb.flush(5s);
    EXPECT_EQ(st->size(), 200u);
  }
}

// What each policy promises when put() returns, read from the journal's sequences: under
// kEveryWrite and kInterval the record is covered by a completed fsync (fsynced_sequence), under
// kNever it is only written (no fsync at all: it may be lost on power loss). One writer first
// (its record is last_sequence), then four (a record's sequence is above the last_sequence seen
// before its put started).
TEST_F(WriteBehindTest, EachFsyncPolicyCoversWhatItPromisesWhenPutReturns) {
  for (const auto policy :
       {FsyncPolicy::kEveryWrite, FsyncPolicy::kInterval(1ms), FsyncPolicy::kNever}) {
    SCOPED_TRACE(to_string(policy));
    const bool fsyncs = policy.mode != FsyncPolicy::Mode::kNever;
    tools::TempDir d("strata-wb-fsync");
    auto options = test_options(d.path(), clock);
    options.fsync = policy;
    auto st = std::make_shared<MapState>();
    StringWriteBehind wb(options, map_source(st));
    for (int i = 0; i < 20; ++i) {
      wb.put("k" + std::to_string(i), "v");
      const auto s = wb.stats();
      EXPECT_EQ(s.last_sequence, static_cast<std::uint64_t>(i + 1));
      if (fsyncs) {
        EXPECT_GE(s.fsynced_sequence, s.last_sequence) << "put " << i << " returned unsynced";
      } else {
        EXPECT_EQ(s.fsynced_sequence, 0u);
        EXPECT_EQ(s.fsyncs, 0u);
      }
    }
    if (policy == FsyncPolicy::kEveryWrite) {
      EXPECT_GE(wb.stats().fsyncs, 20u);  // one writer: nobody to share an fsync with
    }
    std::atomic<int> unsynced{0};
    std::vector<std::thread> writers;
    for (int t = 0; t < 4; ++t) {
      writers.emplace_back([&, t] {
        for (int i = 0; i < 25; ++i) {
          const std::uint64_t before = wb.stats().last_sequence;
          wb.put("t" + std::to_string(t) + ":" + std::to_string(i), "v");
          if (wb.stats().fsynced_sequence <= before) ++unsynced;
        }
      });
    }
    for (auto& w : writers) w.join();
    EXPECT_EQ(unsynced.load(), fsyncs ? 0 : 100);
    wb.flush(5s);
    EXPECT_EQ(st->size(), 120u);
  }
}

TEST(WriteBehindOptionsTest, ValidationNamesTheOption) {
  WriteBehindOptions o;
  EXPECT_THROW(o.validate(), InvalidArgumentError);
  o.directory = "/tmp/x";
  o.validate();
  o.batch_size = 0;
  try {
    o.validate();
    FAIL();
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("batch_size"), std::string::npos);
  }
  EXPECT_EQ(to_string(FsyncPolicy::kInterval(std::chrono::milliseconds(10))), "interval(10ms)");
  EXPECT_EQ(to_string(FsyncPolicy::kEveryWrite), "every-write");
}

}  // namespace
}  // namespace strata
