// The pattern suite: every pattern of Cache<V> (read-through, get_many, cache-aside,
// write-around, write-through, the write-behind seam, negative caching, refresh-ahead, corrupted
// L2 values) against SQLite and PostgreSQL, with L1 only, L2 only (standalone and cluster) and
// both. Time is a ManualClock and background refreshes run on a ManualExecutor.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cache/cache_fixtures.h"
#include "strata/cache/cache.h"
#include "strata/codec/json.h"
#include "strata/source/postgres_source.h"
#include "strata/source/sqlite_source.h"
#include "strata/write_behind/write_behind.h"
#include "support/test_servers.h"

namespace strata {
namespace {

using namespace std::chrono_literals;
using testing::make_user;
using testing::unique_name;
using testing::User;

enum class Layers { kL1, kL2, kL2Cluster, kL1L2 };

struct Param {
  bool postgres;
  Layers layers;
};

std::string name_of(const Param& p) {
  std::string name = p.postgres ? "postgres_" : "sqlite_";
  switch (p.layers) {
    case Layers::kL1:
      return name + "l1";
    case Layers::kL2:
      return name + "l2";
    case Layers::kL2Cluster:
      return name + "l2_cluster";
    case Layers::kL1L2:
      return name + "l1_l2";
  }
  return name;
}

void PrintTo(const Param& p, std::ostream* out) {
  *out << name_of(p);
}

class CachePatterns : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    const Param& p = GetParam();
    if (p.postgres) {
      STRATA_SERVER_URL(url, "STRATA_TEST_POSTGRES_URL");
      attach(std::make_shared<PostgresSource<User>>(
          PostgresOptions{.url = url}, testing::user_columns(testing::unique_name("cache_users"))));
    } else {
      attach(std::make_shared<SqliteSource<User>>(
          SqliteOptions{.path = (dir_.path() / "users.db").string()},
          testing::user_columns("cache_users")));
    }
    if (p.layers == Layers::kL2 || p.layers == Layers::kL1L2) {
      STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_URL");
      redis_.emplace(url);
    } else if (p.layers == Layers::kL2Cluster) {
      STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_CLUSTER_URL");
      redis_.emplace(url);
    }
    prefix_ = unique_name("test:cache:") + ":";
  }

  template <typename S>
  void attach(std::shared_ptr<S> source) {
    builder_.source(source);
    write_row_ = [source](const std::string& key, const User& user) { source->write(key, user); };
    load_row_ = [source](const std::string& key) { return source->load(key); };
    make_writer_ = [source, this](std::chrono::milliseconds flush_interval) {
      WriteBehindOptions options;
      options.directory = dir_.path() / "journal";
      options.fsync = FsyncPolicy::kEveryWrite;
      options.flush_interval = flush_interval;  // on the writer's own clock
      return std::make_shared<WriteBehind<User>>(std::move(options), source);
    };
  }

  [[nodiscard]] bool has_l1() const {
    return GetParam().layers == Layers::kL1 || GetParam().layers == Layers::kL1L2;
  }
  [[nodiscard]] bool has_l2() const { return GetParam().layers != Layers::kL1; }

  // The builder with this parameter's layers; tests add their options before build().
  CacheBuilder<User>& builder() {
    builder_.clock(clock_).executor(executor_).key_prefix(prefix_);
    if (has_l1()) builder_.local({.maximum_size = 1000, .ttl = 60s});
    if (has_l2()) builder_.remote(*redis_, {.ttl = 60s, .ttl_jitter = 0});
    return builder_;
  }

  std::string key(const std::string& name) { return name + "-" + std::to_string(counter_++); }

  tools::TempDir dir_{"strata-cache"};
  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>();
  std::shared_ptr<ManualExecutor> executor_ = std::make_shared<ManualExecutor>();
  std::optional<RedisClient> redis_;
  std::string prefix_;
  CacheBuilder<User> builder_;
  std::function<void(const std::string&, const User&)> write_row_;
  std::function<std::optional<User>(const std::string&)> load_row_;
  std::function<std::shared_ptr<WriteBehind<User>>(std::chrono::milliseconds)> make_writer_;
  int counter_ = 0;
};

TEST_P(CachePatterns, ReadThroughLoadsOnceThenHits) {
  auto cache = builder().build();
  const std::string k = key("rt");
  write_row_(k, make_user(1));
  EXPECT_EQ(cache.get(k), make_user(1));
  EXPECT_EQ(cache.get(k), make_user(1));
  EXPECT_EQ(cache.get(key("absent")), std::nullopt);
  const auto s = cache.stats();
  EXPECT_EQ(s.source.loads, 2u);
  EXPECT_EQ(s.source.not_found, 1u);
  if (has_l1()) {
    EXPECT_EQ(s.l1.hits, 1u);
  }
  if (has_l2()) {
    EXPECT_TRUE(redis_->exists(cache.remote_key(k)));
    EXPECT_EQ(s.l2.fills, 1u);
    // The fill replaced its placeholder: the key holds the value itself.
    const auto held = redis_->get(cache.remote_key(k));
    ASSERT_TRUE(held.has_value());
    EXPECT_FALSE(is_strata_marker(*held));
  }
}

TEST_P(CachePatterns, GetManyKeepsOrderAndFillsLayers) {
  auto cache = builder().build();
  const std::vector<std::string> keys{key("m"), key("m"), key("m")};
  write_row_(keys[0], make_user(10));
  write_row_(keys[2], make_user(12));
  const std::vector<std::optional<User>> expected{make_user(10), std::nullopt, make_user(12)};
  EXPECT_EQ(cache.get_many(keys), expected);
  EXPECT_EQ(cache.stats().source.loads, 3u);
  EXPECT_EQ(cache.get_many(keys), expected);
  EXPECT_EQ(cache.stats().source.loads, 4u);  // only the absent key went to the source again
  EXPECT_EQ(cache.get(keys[2]), make_user(12));
  EXPECT_EQ(cache.stats().source.loads, 4u);
}

TEST_P(CachePatterns, CacheAsideInvalidateAfterOwnWrite) {
  auto cache = builder().build();
  const std::string k = key("aside");
  int calls = 0;
  auto load = [&](std::string_view id) {
    ++calls;
    return *load_row_(std::string(id));
  };
  write_row_(k, make_user(1));
  EXPECT_EQ(cache.get_or_load(k, load), make_user(1));
  write_row_(k, make_user(2));                          // the application writes its database...
  EXPECT_EQ(cache.get_or_load(k, load), make_user(1));  // (still cached)
  cache.invalidate(k);                                  // ...then invalidates
  EXPECT_EQ(cache.get_or_load(k, load), make_user(2));
  EXPECT_EQ(calls, 2);
  if (has_l2()) {
    EXPECT_GE(cache.stats().l2.deletes, 1u);
  }
}

TEST_P(CachePatterns, WriteAroundPutWritesSourceAndInvalidates) {
  auto cache = builder().build();
  const std::string k = key("around");
  write_row_(k, make_user(1));
  EXPECT_EQ(cache.get(k), make_user(1));
  cache.put(k, make_user(2));
  EXPECT_EQ(load_row_(k), make_user(2));
  if (has_l2()) {
    EXPECT_FALSE(redis_->exists(cache.remote_key(k)));
  }
  EXPECT_EQ(cache.get(k), make_user(2));
  EXPECT_EQ(cache.stats().source.loads, 2u);
  EXPECT_EQ(cache.stats().source.writes, 1u);
}

TEST_P(CachePatterns, WriteThroughUpdatesSourceThenCaches) {
  auto cache = builder().write_mode(WriteMode::kWriteThrough).build();
  const std::string k = key("through");
  cache.put(k, make_user(7));
  EXPECT_EQ(load_row_(k), make_user(7));
  EXPECT_EQ(cache.get(k), make_user(7));
  EXPECT_EQ(cache.stats().source.loads, 0u);  // served by the cache
  if (has_l2()) {
    EXPECT_EQ(cache.stats().l2.writes, 1u);
  }
  cache.erase(k);
  EXPECT_EQ(load_row_(k), std::nullopt);
  EXPECT_EQ(cache.get(k), std::nullopt);
}

TEST_P(CachePatterns, WriteBehindHandsWritesToTheSink) {
  auto sink = std::make_shared<testing::RecordingSink>();
  auto cache = builder().write_mode(WriteMode::kWriteBehind).write_behind_sink(sink).build();
  const std::string k = key("behind");
  write_row_(k, make_user(1));
  cache.put(k, make_user(2));
  ASSERT_EQ(sink->puts.size(), 1u);
  EXPECT_EQ(sink->puts[0].first, k);
  EXPECT_EQ(sink->puts[0].second, make_user(2));
  EXPECT_EQ(load_row_(k), make_user(1));  // the sink flushes later, not the cache
  EXPECT_EQ(cache.get(k), make_user(2));  // read-your-writes from the caches
  cache.erase(k);
  ASSERT_EQ(sink->erases.size(), 1u);
  EXPECT_EQ(cache.get(k), std::nullopt);  // a tombstone, though the row is still there
  EXPECT_EQ(cache.stats().source.loads, 0u);
  EXPECT_EQ(cache.stats().write_behind_enqueued, 2u);

  sink->refuse = true;  // a refused write changes nothing cached
  EXPECT_THROW(cache.put(k, make_user(3)), ResourceExhaustedError);
  EXPECT_EQ(cache.get(k), std::nullopt);
}

// The seam joined to strata's durable writer: an acknowledged put is served from the caches at
// once and reaches the source after flush(); an erase is journaled and applied the same way.
TEST_P(CachePatterns, WriteBehindThroughTheDurableWriter) {
  auto writer = make_writer_(std::chrono::milliseconds(1));
  auto cache = builder().write_mode(WriteMode::kWriteBehind).write_behind_sink(writer).build();
  const std::string k = key("durable");
  write_row_(k, make_user(1));
  cache.put(k, make_user(2));
  EXPECT_EQ(cache.get(k), make_user(2));
  writer->flush(std::chrono::seconds(30));
  EXPECT_EQ(load_row_(k), make_user(2));
  cache.erase(k);
  writer->flush(std::chrono::seconds(30));
  EXPECT_EQ(load_row_(k), std::nullopt);
  EXPECT_EQ(writer->stats().flushed, 2u);
}

// Read-your-writes beyond the cached copy: once an acknowledged put or erase has left the
// caches (evicted, expired; here invalidated) and before the writer has flushed it, a read asks
// the writer, not the source, which still holds the old row.
TEST_P(CachePatterns, WriteBehindReadsPendingWritesOnceTheCachedCopyIsGone) {
  auto writer = make_writer_(std::chrono::hours(1));  // nothing is flushed until flush()
  auto cache = builder().write_mode(WriteMode::kWriteBehind).write_behind_sink(writer).build();
  const std::string k = key("pending");
  const std::string gone = key("pending-erase");
  write_row_(k, make_user(1));
  write_row_(gone, make_user(5));
  cache.put(k, make_user(2));
  cache.erase(gone);
  cache.invalidate(k);  // the cached copies are gone; the source still has user 1
  cache.invalidate(gone);
  ASSERT_EQ(load_row_(k), make_user(1));
  EXPECT_EQ(cache.get(k), make_user(2));
  EXPECT_EQ(cache.get(gone), std::nullopt);
  const std::vector<std::string> both{k, gone};
  cache.invalidate(k);
  cache.invalidate(gone);
  const auto many = cache.get_many(both);
  ASSERT_EQ(many.size(), 2u);
  EXPECT_EQ(many[0], make_user(2));
  EXPECT_EQ(many[1], std::nullopt);
  EXPECT_EQ(cache.stats().source.loads, 0u);
  EXPECT_EQ(cache.stats().write_behind_pending_reads, 4u);

  writer->flush(std::chrono::seconds(30));  // now the source holds them; reads go there again
  EXPECT_EQ(load_row_(k), make_user(2));
  EXPECT_EQ(load_row_(gone), std::nullopt);
  cache.invalidate(k);
  EXPECT_EQ(cache.get(k), make_user(2));
  EXPECT_EQ(cache.stats().source.loads, 1u);
}

TEST_P(CachePatterns, NegativeCachingRemembersNotFound) {
  auto cache = builder().negative_ttl(30s).build();
  const std::string k = key("neg");
  EXPECT_EQ(cache.get(k), std::nullopt);
  EXPECT_EQ(cache.get(k), std::nullopt);
  EXPECT_EQ(cache.stats().source.loads, 1u);
  EXPECT_GE(cache.stats().negative_hits, 1u);
  write_row_(k, make_user(3));
  cache.invalidate(k);
  EXPECT_EQ(cache.get(k), make_user(3));
}

TEST_P(CachePatterns, RefreshAheadServesOldValueAndReloadsOnce) {
  auto cache = builder().refresh_after(30s).build();
  const std::string k = key("refresh");
  write_row_(k, make_user(1));
  EXPECT_EQ(cache.get(k), make_user(1));
  write_row_(k, make_user(2));
  clock_->advance(40s);                   // past the soft TTL, before the hard one
  EXPECT_EQ(cache.get(k), make_user(1));  // the old value, at once
  EXPECT_EQ(cache.get(k), make_user(1));
  EXPECT_EQ(executor_->pending(), 1u);  // one reload for the key, however many reads
  EXPECT_EQ(cache.stats().source.loads, 1u);
  EXPECT_EQ(executor_->run_all(), 1u);
  EXPECT_EQ(cache.stats().source.loads, 2u);
  EXPECT_EQ(cache.stats().refreshes, 1u);
  EXPECT_EQ(cache.get(k), make_user(2));
  EXPECT_EQ(cache.stats().source.loads, 2u);
  EXPECT_EQ(executor_->pending(), 0u);
}

// Bulk get-or-load: L1 and L2 answer what they hold, the batch loader is called ONCE with the
// true misses (a repeated key once), "not found" is negative-cached in every layer, and the
// loaded values are filled (L2 through the guard: no placeholder is left behind).
TEST_P(CachePatterns, BulkLoadCallsTheBatchLoaderOnceWithTheTrueMisses) {
  auto cache = builder().negative_ttl(30s).build();
  const std::vector<std::string> keys{key("b"), key("b"), key("b")};
  write_row_(keys[0], make_user(1));
  write_row_(keys[1], make_user(2));
  EXPECT_EQ(cache.get(keys[0]), make_user(1));  // cached before the bulk call
  std::vector<std::vector<std::string>> calls;
  auto batch = [&](std::span<const std::string> misses) {
    calls.emplace_back(misses.begin(), misses.end());
    std::vector<std::optional<User>> out;
    for (const auto& k : misses) out.push_back(load_row_(k));
    return out;
  };
  const std::vector<std::string> request{keys[0], keys[1], keys[2], keys[1]};
  const auto results = cache.get_or_load_many(request, batch);
  ASSERT_EQ(results.size(), 4u);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0], (std::vector<std::string>{keys[1], keys[2]}));
  EXPECT_EQ(results[0].value(), make_user(1));
  EXPECT_EQ(results[1].value(), make_user(2));
  EXPECT_FALSE(results[2].found());
  EXPECT_FALSE(results[2].failed());
  EXPECT_EQ(results[3].value(), make_user(2));
  if (has_l2()) {
    const auto held = redis_->get(cache.remote_key(keys[1]));
    ASSERT_TRUE(held.has_value());
    EXPECT_FALSE(is_strata_marker(*held));  // the value, not a fill placeholder
    EXPECT_EQ(redis_->get(cache.remote_key(keys[2])), std::string(kNegativeMarker));
  }
  // Everything is cached now, the absent key negatively: the loader is not called again.
  const auto again = cache.get_or_load_many(request, batch);
  EXPECT_EQ(calls.size(), 1u);
  EXPECT_EQ(again[1].value(), make_user(2));
  EXPECT_FALSE(again[2].found());
  EXPECT_EQ(cache.get(keys[1]), make_user(2));
  EXPECT_EQ(cache.stats().source.loads, 3u);  // get's one, then the batch's two keys
  EXPECT_GE(cache.stats().negative_hits, 1u);
}

// A failed batch load fails only the keys it was loading: the cached keys keep their values,
// the failed keys carry the loader's error, nothing is cached for them (the L2 fill placeholder
// is gone), and get_many() reports the error by throwing it.
TEST_P(CachePatterns, BulkLoadFailureFailsOnlyTheKeysItWasLoading) {
  auto cache = builder().build();
  const std::vector<std::string> keys{key("pf"), key("pf")};
  write_row_(keys[0], make_user(7));
  write_row_(keys[1], make_user(8));
  EXPECT_EQ(cache.get(keys[0]), make_user(7));
  bool fail = true;
  auto batch = [&](std::span<const std::string> misses) {
    if (fail) throw UnavailableError("test batch loader: down");
    std::vector<std::optional<User>> out;
    for (const auto& k : misses) out.push_back(load_row_(k));
    return out;
  };
  const auto results = cache.get_or_load_many(keys, batch);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_FALSE(results[0].failed());
  EXPECT_EQ(results[0].value(), make_user(7));
  ASSERT_TRUE(results[1].failed());
  EXPECT_THROW((void)results[1].value(), UnavailableError);
  EXPECT_EQ(cache.stats().source.load_errors, 1u);
  if (has_l2()) {
    EXPECT_FALSE(redis_->exists(cache.remote_key(keys[1])));
  }
  fail = false;
  const auto later = cache.get_or_load_many(keys, batch);
  EXPECT_EQ(later[1].value(), make_user(8));
  // get_many() on the configured source: a key whose load failed throws, after every key ended.
  const std::string broken = key("pf");
  auto failing = CacheBuilder<User>()
                     .local({.maximum_size = 10})
                     .loader([](std::string_view) -> std::optional<User> {
                       throw UnavailableError("test loader: down");
                     })
                     .build();
  EXPECT_THROW((void)failing.get_many(std::vector<std::string>{broken}), UnavailableError);
  const auto per_key = failing.get_or_load_many(std::vector<std::string>{broken});
  EXPECT_TRUE(per_key[0].failed());
}

// put_many in each write mode: write-around writes the source in one batch and invalidates,
// write-through writes it in one transaction and caches, write-behind hands each entry to the
// sink and caches.
TEST_P(CachePatterns, PutManyInEveryWriteMode) {
  const std::vector<KeyValue<User>> entries{{key("pm"), make_user(1)}, {key("pm"), make_user(2)}};
  {
    auto cache = builder().write_mode(WriteMode::kWriteThrough).build();
    cache.put_many(entries);
    for (const auto& [k, v] : entries) EXPECT_EQ(load_row_(k), v);
    for (const auto& [k, v] : entries) EXPECT_EQ(cache.get(k), v);
    EXPECT_EQ(cache.stats().source.loads, 0u);  // served from the caches
    EXPECT_EQ(cache.stats().source.writes, 2u);
  }
  {
    auto cache = builder().write_mode(WriteMode::kWriteAround).build();
    for (const auto& [k, v] : entries) EXPECT_EQ(cache.get(k), v);  // cached
    const std::vector<KeyValue<User>> updated{{entries[0].first, make_user(3)},
                                              {entries[1].first, make_user(4)}};
    cache.put_many(updated);
    for (const auto& [k, v] : updated) EXPECT_EQ(load_row_(k), v);
    for (const auto& [k, v] : updated) EXPECT_EQ(cache.get(k), v);  // invalidated, reloaded
  }
  {
    auto sink = std::make_shared<testing::RecordingSink>();
    auto cache = builder().write_mode(WriteMode::kWriteBehind).write_behind_sink(sink).build();
    const std::vector<KeyValue<User>> behind{{entries[0].first, make_user(5)},
                                             {entries[1].first, make_user(6)}};
    cache.put_many(behind);
    ASSERT_EQ(sink->puts.size(), 2u);
    EXPECT_EQ(sink->puts[1], behind[1]);
    for (const auto& [k, v] : behind) EXPECT_EQ(cache.get(k), v);  // from the caches
    EXPECT_EQ(load_row_(entries[0].first), make_user(3));          // the sink flushes later
    EXPECT_EQ(cache.stats().write_behind_enqueued, 2u);
  }
}

// Only the combinations with an L2 (instantiated below for them alone, not skipped for L1).
class CachePatternsWithL2 : public CachePatterns {};

TEST_P(CachePatternsWithL2, CorruptedRemoteValueIsAMissDeletedAndCounted) {
  auto cache = builder().build();
  const std::string k = key("corrupt");
  write_row_(k, make_user(5));
  redis_->set(cache.remote_key(k), "not an envelope");
  EXPECT_EQ(cache.get(k), make_user(5));
  EXPECT_EQ(cache.stats().l2.corrupted, 1u);
  EXPECT_EQ(cache.stats().source.loads, 1u);
  // The garbage is gone and the fresh value was filled in its place.
  const auto bytes = redis_->get(cache.remote_key(k));
  ASSERT_TRUE(bytes.has_value());
  EXPECT_EQ(ValueFormat<User>::envelope().decode(*bytes).value, make_user(5));
}

std::vector<Param> params() {
  std::vector<Param> out;
  for (const bool postgres : {false, true}) {
    for (const Layers layers : {Layers::kL1, Layers::kL2, Layers::kL2Cluster, Layers::kL1L2}) {
      out.push_back({postgres, layers});
    }
  }
  return out;
}

std::vector<Param> params_with_l2() {
  std::vector<Param> out;
  for (const Param& p : params()) {
    if (p.layers != Layers::kL1) out.push_back(p);
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(AllLayers, CachePatterns, ::testing::ValuesIn(params()),
                         [](const auto& param_info) { return name_of(param_info.param); });
INSTANTIATE_TEST_SUITE_P(L2Layers, CachePatternsWithL2, ::testing::ValuesIn(params_with_l2()),
                         [](const auto& param_info) { return name_of(param_info.param); });

}  // namespace
}  // namespace strata
