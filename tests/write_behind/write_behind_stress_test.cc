// Concurrency stress for WriteBehind: writers on several threads, each owning its keys, with
// puts and erases interleaved, under every fsync policy and a small queue (so backpressure,
// coalescing and in-flight rewrites all happen). The source must end with each key's last write.
#include <gtest/gtest.h>

#include <thread>

#include "write_behind/wb_fixtures.h"

namespace strata {

// Test names and failure messages print the policy, not its bytes.
void PrintTo(const FsyncPolicy& policy, std::ostream* out) {
  *out << to_string(policy);
}

namespace {

using namespace std::chrono_literals;

void stress(FsyncPolicy policy, std::size_t flush_threads) {
  tools::TempDir dir("strata-wb-stress");
  auto state = std::make_shared<testing::MapState>();
  auto options = testing::test_options(dir.path());
  options.fsync = policy;
  options.flush_threads = flush_threads;
  options.clock = std::make_shared<SteadyClock>();
  options.flush_interval = 1ms;
  options.batch_size = 64;
  options.max_queue_entries = 256;
  options.put_timeout = 30s;
  testing::StringWriteBehind wb(options, testing::map_source(state));
  constexpr int kThreads = 4;
  constexpr int kWrites = 1500;
  constexpr int kKeys = 100;
  std::vector<std::map<std::string, std::optional<std::string>>> last(kThreads);
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kWrites; ++i) {
        const std::string key = "t" + std::to_string(t) + ":" + std::to_string((i * 7) % kKeys);
        if (i % 11 == 0) {
          wb.erase(key);
          last[t][key] = std::nullopt;
        } else {
          const std::string value = std::to_string(i);
          wb.put(key, value);
          last[t][key] = value;
        }
      }
    });
  }
  std::thread reader([&] {
    for (int i = 0; i < 200; ++i) {
      (void)wb.stats();
      std::this_thread::sleep_for(100us);
    }
  });
  for (auto& w : writers) w.join();
  reader.join();
  wb.flush(30s);
  for (int t = 0; t < kThreads; ++t) {
    for (const auto& [key, value] : last[t]) EXPECT_EQ(state->get(key), value) << key;
  }
  const auto s = wb.stats();
  EXPECT_EQ(s.acknowledged, static_cast<std::uint64_t>(kThreads * kWrites));
  EXPECT_EQ(s.queue_depth, 0u);
  EXPECT_EQ(s.flushed + s.coalesced, s.acknowledged);
  wb.close(10s);
}

class WriteBehindStress : public ::testing::TestWithParam<FsyncPolicy> {};

TEST_P(WriteBehindStress, EveryKeyEndsWithItsLastWrite) {
  stress(GetParam(), 1);
}

// Several flusher lanes: keys partitioned by hash, per-key order still holds.
TEST(WriteBehindStressLanes, EveryKeyEndsWithItsLastWriteWithThreeFlushers) {
  stress(FsyncPolicy::kEveryWrite, 3);
}

INSTANTIATE_TEST_SUITE_P(Policies, WriteBehindStress,
                         ::testing::Values(FsyncPolicy::kEveryWrite, FsyncPolicy::kInterval(1ms),
                                           FsyncPolicy::kNever),
                         [](const ::testing::TestParamInfo<FsyncPolicy>& p) {
                           switch (p.param.mode) {
                             case FsyncPolicy::Mode::kEveryWrite:
                               return std::string("EveryWrite");
                             case FsyncPolicy::Mode::kInterval:
                               return std::string("Interval");
                             default:
                               return std::string("Never");
                           }
                         });

}  // namespace
}  // namespace strata
