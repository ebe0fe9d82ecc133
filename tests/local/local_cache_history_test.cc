// Linearizability-style checks of LocalCache's lock-free reads: threads put, erase and read a
// small key space at once (one shard, so the keys share one table and erasures shift their
// neighbours), every operation is stamped at its invocation and its response from one global
// counter, and each read is then checked against the writes: it must return a value some
// write of its key could have left (not one overwritten before the read began), and it may
// miss only if an erase could have come between the last completed write and the read. Run
// under ThreadSanitizer and AddressSanitizer too (the tsan and asan presets).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "strata/local/local_cache.h"

namespace strata {
namespace {

struct Op {
  enum Kind { kPut, kErase, kGet } kind;
  int key;
  std::uint64_t value;  // put: the value written; get: the value read (if any)
  bool found = false;   // get: a value was read
  std::uint64_t invoke = 0, response = 0;
};

// Checks one read against every write and erase of its key (a necessary condition of
// linearizability, cheap enough for a few thousand operations per key).
void check_read(const Op& read, const std::vector<const Op*>& writes) {
  if (read.found) {
    const Op* source = nullptr;
    for (const Op* w : writes) {
      if (w->kind == Op::kPut && w->value == read.value) source = w;
    }
    ASSERT_NE(source, nullptr) << "read a value nobody wrote: " << read.value;
    ASSERT_LT(source->invoke, read.response) << "read a value before it was written";
    for (const Op* w : writes) {
      // A write or erase that began after the source completed and completed before the read
      // began hides the source for good.
      ASSERT_FALSE(w != source && w->invoke > source->response && w->response < read.invoke)
          << "stale read of key " << read.key << ": value " << read.value;
    }
  } else {
    // The puts that completed before the read began and that no later write or erase
    // definitely follows: one of them is the last before the read, so a miss needs an erase
    // that may come after one of them (did not end before it began) and before the read.
    bool candidates = false;
    bool erased = false;
    int written = -1;
    for (const Op* w : writes) {
      if (w->kind != Op::kPut || w->response >= read.invoke) continue;
      bool hidden = false;
      for (const Op* x : writes) {
        if (x != w && x->invoke > w->response && x->response < read.invoke) hidden = true;
      }
      if (hidden) continue;
      candidates = true;
      written = static_cast<int>(w->value & 0xFFFF);
      for (const Op* e : writes) {
        if (e->kind == Op::kErase && e->invoke < read.response && e->response > w->invoke) {
          erased = true;
        }
      }
    }
    ASSERT_TRUE(!candidates || erased) << "missed key " << read.key << " written (" << written
                                       << ") before the read began and never erased";
  }
}

void run_history(int readers, int writers, int keys, int ops_per_thread,
                 const std::string& prefix = "k") {
  auto cache = LocalCacheBuilder<std::uint64_t>().maximum_size(1'000'000).shards(1).build();
  std::atomic<std::uint64_t> clock{0};
  std::vector<std::vector<Op>> logs(static_cast<std::size_t>(readers + writers));
  std::barrier start(readers + writers);
  std::vector<std::thread> threads;
  for (int t = 0; t < readers + writers; ++t) {
    threads.emplace_back([&, t] {
      auto& log = logs[static_cast<std::size_t>(t)];
      log.reserve(static_cast<std::size_t>(ops_per_thread));
      std::mt19937_64 rng(static_cast<std::uint64_t>(t) * 7919 + 1);
      start.arrive_and_wait();
      for (int i = 0; i < ops_per_thread; ++i) {
        const int key = static_cast<int>(rng() % static_cast<std::uint64_t>(keys));
        const std::string name = prefix + std::to_string(key);
        Op op{Op::kGet, key, 0};
        if (t >= readers) {
          op.kind = rng() % 3 == 0 ? Op::kErase : Op::kPut;
          op.value = (static_cast<std::uint64_t>(t) << 32) | static_cast<std::uint64_t>(i);
        }
        op.invoke = clock.fetch_add(1);
        if (op.kind == Op::kPut) {
          cache.put(name, op.value);
        } else if (op.kind == Op::kErase) {
          cache.erase(name);
        } else if (const auto v = cache.get(name)) {
          op.found = true;
          op.value = *v;
        }
        op.response = clock.fetch_add(1);
        log.push_back(op);
      }
    });
  }
  for (auto& thread : threads) thread.join();

  std::vector<std::vector<const Op*>> writes(static_cast<std::size_t>(keys));
  for (const auto& log : logs) {
    for (const Op& op : log) {
      if (op.kind != Op::kGet) writes[static_cast<std::size_t>(op.key)].push_back(&op);
    }
  }
  std::uint64_t reads = 0;
  for (const auto& log : logs) {
    for (const Op& op : log) {
      if (op.kind != Op::kGet) continue;
      ++reads;
      check_read(op, writes[static_cast<std::size_t>(op.key)]);
      if (testing::Test::HasFatalFailure()) return;
    }
  }
  EXPECT_EQ(reads,
            static_cast<std::uint64_t>(readers) * static_cast<std::uint64_t>(ops_per_thread));
}

// Many keys in one small table: erasures shift neighbours back while readers probe.
TEST(LocalCacheHistory, ReadsAreLinearizableAgainstPutsAndErases) {
  run_history(/*readers=*/3, /*writers=*/2, /*keys=*/24, /*ops_per_thread=*/4000);
}

// Three keys: every read races the writes of its own key. Each round names the keys anew, so
// that over the rounds they land in different slots, in and out of one another's clusters.
TEST(LocalCacheHistory, ReadsOfAHotKeyAreNeverStale) {
  for (int round = 0; round < 8; ++round) {
    SCOPED_TRACE(round);
    run_history(/*readers=*/2, /*writers=*/2, /*keys=*/3, /*ops_per_thread=*/2000,
                "r" + std::to_string(round) + ":");
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace strata
