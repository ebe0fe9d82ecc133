// Hostile values: hundreds of kilobytes of nested arrays (JSON `[[[[...` and MessagePack
// fixarrays) where strata decodes values: in Redis (envelope with each codec, plain mode), in a
// SQLite document column, in a write-behind journal record. Each read is a miss (counted as
// corrupted) or a typed error, and a journal record is dead-lettered at recovery: never a stack
// overflow (docs/reliability.md, "Limits and errors"). Also run under ASan by `make test`.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "cache/cache_fixtures.h"
#include "common/temp_dir.h"
#include "redis/redis_test_util.h"
#include "strata/cache/cache.h"
#include "strata/codec/json.h"
#include "strata/codec/msgpack.h"
#include "strata/source/function_source.h"
#include "strata/source/sqlite_source.h"
#include "strata/write_behind/write_behind.h"
#include "support/test_servers.h"

namespace strata {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

constexpr std::size_t kLevels = 300'000;
std::string deep_json() {
  return std::string(kLevels, '[') + std::string(kLevels, ']');
}
std::string deep_msgpack() {
  return std::string(kLevels, '\x91') + "\xc0";
}

std::shared_ptr<FunctionSource<Json>> json_source() {
  SourceFunctions<Json> fn;
  fn.load = [](std::string_view key) -> std::optional<Json> {
    return Json{{"from", "source"}, {"key", std::string(key)}};
  };
  return std::make_shared<FunctionSource<Json>>(std::move(fn));
}

TEST(HostileValues, DeeplyNestedValuesInRedisAreAMissCountedAsCorrupted) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_URL");
  RedisClient redis(url);
  const std::string prefix = testing::unique_prefix();
  auto envelope = CacheBuilder<Json>()
                      .remote(redis, {.ttl = 60s})
                      .source(json_source())
                      .key_prefix(prefix)
                      .build();
  auto plain = CacheBuilder<Json>()
                   .remote(redis, {.ttl = 60s})
                   .source(json_source())
                   .key_prefix(prefix)
                   .format(ValueFormat<Json>::plain_json())
                   .build();
  auto msgpack =
      CacheBuilder<testing::User>()
          .remote(redis, {.ttl = 60s})
          .source(std::make_shared<FunctionSource<testing::User>>(SourceFunctions<testing::User>{
              .load =
                  [](std::string_view) {
                    return std::optional<testing::User>(testing::make_user(5));
                  }}))
          .key_prefix(prefix)
          .format(ValueFormat<testing::User, MsgpackCodec<testing::User>>::envelope())
          .build();
  const Json expected{{"from", "source"}, {"key", "k"}};

  ASSERT_TRUE(redis.set(envelope.remote_key("k"), encode_envelope(kJsonCodecId, deep_json(), {})));
  EXPECT_EQ(envelope.get("k"), expected);
  EXPECT_EQ(envelope.stats().l2.corrupted, 1u);

  // Plain JSON: a value strata cannot decode may be another program's, so it is a miss counted
  // as foreign and left in place (strata/cache/cache.h, delete_foreign_values), never a crash.
  ASSERT_TRUE(redis.set(plain.remote_key("k"), deep_json()));
  EXPECT_EQ(plain.get("k"), expected);
  EXPECT_EQ(plain.stats().l2.foreign, 1u);
  EXPECT_EQ(redis.get(plain.remote_key("k")), deep_json());
  ASSERT_TRUE(redis.set(plain.remote_key("many"), deep_json()));
  const std::vector<std::string> keys = {"many"};
  EXPECT_EQ(plain.get_many(keys)[0], (Json{{"from", "source"}, {"key", "many"}}));
  EXPECT_EQ(plain.stats().l2.foreign, 2u);

  ASSERT_TRUE(
      redis.set(msgpack.remote_key("k"), encode_envelope(kMsgpackCodecId, deep_msgpack(), {})));
  EXPECT_EQ(msgpack.get("k"), testing::make_user(5));
  EXPECT_EQ(msgpack.stats().l2.corrupted, 1u);
}

TEST(HostileValues, DeeplyNestedDocumentInSqliteIsACorruptedErrorNotACrash) {
  tools::TempDir dir("strata-hostile");
  const SqliteOptions options{.path = (dir.path() / "docs.db").string()};
  auto mapping = TableMapping<Json>::document("docs").create_table_if_missing();
  {
    SqliteTable raw(options, mapping.schema());  // what another program wrote
    raw.write("deep", Row{SqlValue{deep_json()}});
  }
  auto source = std::make_shared<SqliteSource<Json>>(options, mapping);
  EXPECT_THROW((void)source->load("deep"), CorruptedError);
  auto cache = CacheBuilder<Json>().local({.maximum_size = 10}).source(source).build();
  EXPECT_THROW((void)cache.get("deep"), CorruptedError);
}

// Stores the JSON text it is given as it is (codec id of JSON): how a journal gets a record an
// application of another version (or a damaged disk that still checksums) left behind.
struct RawJsonText {
  static constexpr std::uint8_t id = kJsonCodecId;
  [[nodiscard]] std::string encode(const std::string& v) const { return v; }
  [[nodiscard]] std::string decode(std::string_view b) const { return std::string(b); }
};

TEST(HostileValues, DeeplyNestedJournalRecordIsDeadLetteredAtRecovery) {
  tools::TempDir dir("strata-hostile-wb");
  const WriteBehindOptions options{.directory = dir.path() / "wb",
                                   .max_attempts = 1,
                                   .initial_backoff = 1ms,
                                   .max_backoff = 1ms};
  {
    SourceFunctions<std::string> down;  // the source is down: everything stays in the journal
    down.load = [](std::string_view) { return std::optional<std::string>(); };
    down.write_batch = [](std::span<const KeyValue<std::string>>) {
      throw UnavailableError("source down (test)");
    };
    WriteBehind<std::string, RawJsonText> writer(
        options, std::make_shared<FunctionSource<std::string>>(std::move(down)));
    writer.put("deep", deep_json());
    writer.put("good", R"({"ok":true})");
    EXPECT_THROW(writer.close(50ms), TimeoutError);
  }
  auto mu = std::make_shared<std::mutex>();
  auto rows = std::make_shared<std::map<std::string, Json>>();
  SourceFunctions<Json> up;
  up.load = [](std::string_view) { return std::optional<Json>(); };
  up.write_batch = [mu, rows](std::span<const KeyValue<Json>> entries) {
    std::lock_guard lock(*mu);
    for (const auto& [k, v] : entries) (*rows)[k] = v;
  };
  WriteBehind<Json> recovered(options, std::make_shared<FunctionSource<Json>>(std::move(up)));
  recovered.flush(30s);
  EXPECT_EQ(recovered.stats().dead_lettered, 1u);
  {
    std::lock_guard lock(*mu);
    ASSERT_EQ(rows->count("good"), 1u);
    EXPECT_EQ(rows->at("good"), (Json{{"ok", true}}));
    EXPECT_EQ(rows->count("deep"), 0u);
  }
  const auto letters = recovered.dead_letters();
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0].key, "deep");
  EXPECT_FALSE(letters[0].value.has_value());  // undecodable: only encoded_value holds it
  EXPECT_EQ(letters[0].encoded_value.size(), 2 * kLevels);
  EXPECT_NE(letters[0].error.find("nesting deeper than 128"), std::string::npos)
      << letters[0].error;
  recovered.close();
}

}  // namespace
}  // namespace strata
