// `strata inspect|get|put|del|invalidate --key` run as processes against real Redis (standalone
// and cluster), SQLite and PostgreSQL, checked against a Cache<Account> built as an application
// builds it: values written by the CLI read back in the application and the other way round.
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>

#include "common/temp_dir.h"
#include "strata/cache/cache.h"
#include "strata/codec/json.h"
#include "strata/codec/msgpack.h"
#include "strata/redis/redis_url.h"
#include "strata/source/postgres_source.h"
#include "strata/source/sqlite_source.h"
#include "support/test_servers.h"
#include "tools/ops/ops_test_support.h"

namespace strata::testing {
namespace {

using nlohmann::json;

struct RedisParam {
  const char* name;
  const char* variable;
  const char* flag;
};

class KeyCommands : public ::testing::TestWithParam<RedisParam> {
 protected:
  void SetUp() override {
    STRATA_SERVER_URL(url, GetParam().variable);
    url_ = url;
    prefix_ = unique_name("ops") + ":";
  }
  // The connection flags of the CLI for this cache.
  [[nodiscard]] std::string flags() const {
    return std::string(" ") + GetParam().flag + " " + url_ + " --key-prefix " + prefix_;
  }
  template <typename C = JsonCodec<Account>>
  [[nodiscard]] Cache<Account> app(
      ValueFormat<Account, C> format = ValueFormat<Account>::envelope(),
      std::chrono::milliseconds ttl = std::chrono::minutes(10)) const {
    return CacheBuilder<Account>()
        .remote(RedisClient(url_), {.ttl = ttl, .ttl_jitter = 0})
        .format(std::move(format))
        .key_prefix(prefix_)
        .build();
  }

  std::string url_;
  std::string prefix_;
};

TEST_P(KeyCommands, PutByCliReadsBackInTheApplication) {
  const auto put =
      strata_run("put acc1 '{\"name\":\"ada\",\"version\":3,\"balance\":1.5}'" + flags());
  ASSERT_EQ(put.exit_code, 0) << put.output;
  EXPECT_EQ(put.output, "stored acc1 (write mode around)\n");
  auto cache = app();
  EXPECT_EQ(cache.get("acc1"), (Account{"ada", 3, 1.5}));
}

TEST_P(KeyCommands, PutByApplicationReadsBackInCli) {
  auto cache = app();
  cache.put("acc2", Account{"grace", 7, -2.25});
  const json got = strata_json("get acc2" + flags());
  EXPECT_EQ(got["found"], true);
  EXPECT_EQ(got["value"], json(Account{"grace", 7, -2.25}));
  const auto text = strata_run("get acc2" + flags());
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_EQ(text.output, json(Account{"grace", 7, -2.25}).dump() + "\n");
  const auto missing = strata_run("get nobody" + flags());
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.output, "(not found)\n");
}

TEST_P(KeyCommands, MsgpackCodecBothWays) {
  const auto format = ValueFormat<Account, MsgpackCodec<Account>>::envelope();
  // MSGPACK_DEFINE packs an Account as an array: the CLI shows and takes it as a JSON array.
  const auto put = strata_run("put m1 '[\"bob\",4,2.5]' --codec msgpack" + flags());
  ASSERT_EQ(put.exit_code, 0) << put.output;
  auto cache = app(format);
  EXPECT_EQ(cache.get("m1"), (Account{"bob", 4, 2.5}));

  cache.put("m2", Account{"carol", 5, 0.25});
  const json got = strata_json("get m2 --codec msgpack" + flags());
  EXPECT_EQ(got["value"], json::parse(R"(["carol",5,0.25])"));
  const json inspected = strata_json("inspect m2 --codec msgpack" + flags());
  EXPECT_EQ(inspected["l2"]["envelope"]["codec"], "msgpack");
  EXPECT_FALSE(inspected["l2"].contains("warning"));
  // Read with the wrong codec, inspect warns that the library would not read it.
  const json wrong = strata_json("inspect m2" + flags());
  EXPECT_TRUE(wrong["l2"].contains("warning"));
}

TEST_P(KeyCommands, PlainFormatBothWays) {
  auto cache = app(ValueFormat<Account>::plain_json());
  const auto put = strata_run(
      "put p1 '{\"name\":\"dan\",\"version\":1,\"balance\":0}' --format plain" + flags());
  ASSERT_EQ(put.exit_code, 0) << put.output;
  RedisClient redis(url_);
  EXPECT_EQ(redis.get(cache.remote_key("p1")), R"({"balance":0,"name":"dan","version":1})");
  EXPECT_EQ(cache.get("p1"), (Account{"dan", 1, 0}));
  cache.put("p2", Account{"eve", 2, 3});
  const json got = strata_json("get p2 --format plain" + flags());
  EXPECT_EQ(got["value"], json(Account{"eve", 2, 3}));
  const json inspected = strata_json("inspect p2 --format plain" + flags());
  EXPECT_EQ(inspected["l2"]["kind"], "plain");
}

TEST_P(KeyCommands, InspectShowsEnvelopeTtlAndValue) {
  auto cache = app(ValueFormat<Account>::envelope(), std::chrono::seconds(60));
  cache.put("i1", Account{"ivy", 9, 4.5});
  const json r = strata_json("inspect i1" + flags());
  EXPECT_EQ(r["key"], "i1");
  const json& l2 = r["l2"];
  EXPECT_EQ(l2["redis_key"], cache.remote_key("i1"));
  EXPECT_EQ(l2["present"], true);
  EXPECT_EQ(l2["kind"], "envelope");
  RedisClient redis(url_);
  EXPECT_EQ(l2["bytes"], redis.get(cache.remote_key("i1"))->size());
  EXPECT_GT(l2["ttl_ms"].get<long long>(), 0);
  EXPECT_LE(l2["ttl_ms"].get<long long>(), 60'000);
  EXPECT_EQ(l2["envelope"]["version"], 1);
  EXPECT_EQ(l2["envelope"]["codec"], "json");
  EXPECT_EQ(l2["envelope"]["compression"], "none");
  EXPECT_GT(l2["envelope"]["computed_at"]["unix_us"].get<long long>(), 0);
  ASSERT_FALSE(l2["envelope"]["hard_expiry"].is_null());
  EXPECT_GT(l2["envelope"]["hard_expiry"]["unix_us"].get<long long>(),
            l2["envelope"]["computed_at"]["unix_us"].get<long long>());
  EXPECT_TRUE(l2["envelope"].contains("soft_expiry"));
  EXPECT_TRUE(l2["envelope"].contains("compute_time_us"));
  EXPECT_EQ(l2["value"], json(Account{"ivy", 9, 4.5}));
  EXPECT_EQ(l2["fill_placeholder"], false);
  EXPECT_EQ(l2["refresh_lease"], false);

  const auto text = strata_run("inspect i1" + flags());
  ASSERT_EQ(text.exit_code, 0);
  EXPECT_NE(text.output.find("envelope   v1, codec json, compression none"), std::string::npos)
      << text.output;
  EXPECT_NE(text.output.find("value      " + json(Account{"ivy", 9, 4.5}).dump()),
            std::string::npos);

  // A value above the compression threshold is stored compressed (zstd by default).
  const std::string big(5000, 'x');
  ASSERT_EQ(strata_run("put big '{\"name\":\"" + big + "\",\"version\":1,\"balance\":0}'" + flags())
                .exit_code,
            0);
  const json b = strata_json("inspect big" + flags());
  EXPECT_EQ(b["l2"]["envelope"]["compression"], "zstd");
  EXPECT_LT(b["l2"]["bytes"].get<std::size_t>(),
            b["l2"]["envelope"]["payload_bytes"].get<std::size_t>());
  EXPECT_EQ(cache.get("big")->name, big);
}

TEST_P(KeyCommands, InspectReportsCorruptedBytesAndMissingKeys) {
  auto cache = app();
  RedisClient redis(url_);
  redis.set(cache.remote_key("short"), std::string("STRV") + std::string(20, '\x01'));
  cache.put("flipped", Account{"fay", 1, 1});
  std::string bytes = *redis.get(cache.remote_key("flipped"));
  bytes[bytes.size() - 3] ^= 0x20;
  redis.set(cache.remote_key("flipped"), bytes);
  redis.set(cache.remote_key("garbage"), std::string("\xff\x00\x13not json", 11));

  for (const char* key : {"short", "flipped", "garbage"}) {
    SCOPED_TRACE(key);
    const json r = strata_json(std::string("inspect ") + key + flags());
    EXPECT_EQ(r["l2"]["present"], true);
    ASSERT_TRUE(r["l2"].contains("error"));
    EXPECT_NE(r["l2"]["error"].get<std::string>().find("corrupted"), std::string::npos)
        << r["l2"]["error"];
    EXPECT_FALSE(r["l2"].contains("value"));
    const auto text = strata_run(std::string("inspect ") + key + flags());
    EXPECT_EQ(text.exit_code, 0);
    EXPECT_NE(text.output.find("ERROR"), std::string::npos) << text.output;
  }
  const json missing = strata_json("inspect nothing-here" + flags());
  EXPECT_EQ(missing["l2"]["present"], false);
  EXPECT_TRUE(missing["source"].is_null());
}

TEST_P(KeyCommands, DelAndInvalidateByKey) {
  auto cache = app();
  RedisClient redis(url_);
  cache.put("d1", Account{"del", 1, 1});
  cache.put("v1", Account{"inv", 1, 1});
  const json del = strata_json("del d1" + flags());
  EXPECT_EQ(del["l2_had_value"], true);
  EXPECT_FALSE(redis.exists(cache.remote_key("d1")));
  EXPECT_EQ(cache.get("d1"), std::nullopt);

  const json inv = strata_json("invalidate --key v1 --key v2" + flags());
  EXPECT_EQ(inv["invalidated"], 2);
  EXPECT_EQ(inv["present"], 1);
  EXPECT_FALSE(redis.exists(cache.remote_key("v1")));
  const auto text = strata_run("invalidate --key v1" + flags());
  EXPECT_EQ(text.output,
            "invalidated 1 key(s) by key (0 held a value in L2); broadcast on the bus\n");
}

TEST_P(KeyCommands, BadOptionsAreReported) {
  const auto r = strata_run("get x --format plain --codec msgpack" + flags() + " 2>&1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--format plain"), std::string::npos) << r.output;
  const auto v = strata_run("put x 'not json'" + flags() + " 2>&1");
  EXPECT_EQ(v.exit_code, 2);
  EXPECT_NE(v.output.find("--string"), std::string::npos) << v.output;
  const auto s = strata_run("put s 'plain words' --string" + flags());
  EXPECT_EQ(s.exit_code, 0);
  EXPECT_EQ(strata_json("get s" + flags())["value"], "plain words");
}

INSTANTIATE_TEST_SUITE_P(
    Redis, KeyCommands,
    ::testing::Values(RedisParam{"standalone", "STRATA_TEST_REDIS_URL", "--redis"},
                      RedisParam{"cluster", "STRATA_TEST_REDIS_CLUSTER_URL", "--redis-cluster"}),
    [](const auto& p) { return std::string(p.param.name); });

// Over TLS: the --tls-* flags mean what the URL's tls_* options mean.
TEST(KeyCommandsTls, PutAndGetOverTlsWithTheCliFlags) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_TLS_URL");
  const RedisUrl parsed = parse_redis_url(url);
  const std::string base = "rediss://127.0.0.1:" + std::to_string(parsed.nodes.at(0).port);
  const std::string prefix = unique_name("ops") + ":";
  const std::string flags =
      " --redis " + base + " --tls-ca " + parsed.tls.ca_file + " --key-prefix " + prefix;
  const auto put =
      strata_run("put acc1 '{\"name\":\"ada\",\"version\":3,\"balance\":1.5}'" + flags);
  ASSERT_EQ(put.exit_code, 0) << put.output;
  auto app = CacheBuilder<Account>()
                 .remote(RedisClient(url), {.ttl = std::chrono::minutes(10), .ttl_jitter = 0})
                 .key_prefix(prefix)
                 .build();
  EXPECT_EQ(app.get("acc1"), (Account{"ada", 3, 1.5}));
  const auto get = strata_run("get acc1" + flags);
  ASSERT_EQ(get.exit_code, 0) << get.output;
  EXPECT_NE(get.output.find("ada"), std::string::npos) << get.output;
  // A TLS flag with a plaintext URL is a usage error, not a silent plaintext connection.
  const auto plain =
      strata_run("get acc1 --redis redis://127.0.0.1:" + std::to_string(parsed.nodes.at(0).port) +
                 " --tls-ca " + parsed.tls.ca_file + " 2>&1");
  EXPECT_NE(plain.exit_code, 0) << plain.output;
  EXPECT_NE(plain.output.find("rediss://"), std::string::npos) << plain.output;
}

// A TLS Sentinel setup through the CLI flags: they reach the sentinels and the data nodes.
TEST(KeyCommandsTls, PutAndGetThroughTlsSentinelsWithTheCliFlags) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_TLS_SENTINEL_URL");
  const RedisUrl parsed = parse_redis_url(url);
  const std::string bare = url.substr(0, url.find('?'));  // rediss+sentinel://.../strata-master
  const std::string prefix = unique_name("ops") + ":";
  const std::string flags =
      " --redis '" + bare + "' --tls-ca " + parsed.tls.ca_file + " --key-prefix " + prefix;
  const auto put = strata_run("put acc2 '{\"name\":\"bo\",\"version\":1,\"balance\":2}'" + flags);
  ASSERT_EQ(put.exit_code, 0) << put.output;
  auto app = CacheBuilder<Account>()
                 .remote(RedisClient(url), {.ttl = std::chrono::minutes(10), .ttl_jitter = 0})
                 .key_prefix(prefix)
                 .build();
  EXPECT_EQ(app.get("acc2"), (Account{"bo", 1, 2}));
  // Without the CA the same command fails (and says so), it does not fall back to plaintext.
  const auto untrusted =
      strata_run("get acc2 --redis '" + bare + "' --key-prefix " + prefix + " 2>&1");
  EXPECT_NE(untrusted.exit_code, 0) << untrusted.output;
}

// The same commands with a source of record (a typed table mapping).
class SourceCommands : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    STRATA_SERVER_URL(redis, "STRATA_TEST_REDIS_URL");
    redis_ = redis;
    table_ = unique_name("ops_accounts");
    prefix_ = unique_name("opss") + ":";
    if (std::string(GetParam()) == "sqlite") {
      const std::string path = (dir_.path() / "app.db").string();
      sqlite_ = std::make_shared<SqliteSource<Account>>(SqliteOptions{.path = path},
                                                        account_mapping(table_));
      source_flags_ = " --sqlite " + path;
    } else {
      STRATA_SERVER_URL(pg, "STRATA_TEST_POSTGRES_URL");
      postgres_ = std::make_shared<PostgresSource<Account>>(PostgresOptions{.url = pg},
                                                            account_mapping(table_));
      source_flags_ = " --postgres " + pg;
    }
    source_flags_ += account_flags(table_);
  }
  [[nodiscard]] std::string flags() const {
    return " --redis " + redis_ + " --key-prefix " + prefix_ + source_flags_;
  }
  std::optional<Account> load(const std::string& key) {
    return sqlite_ ? sqlite_->load(key) : postgres_->load(key);
  }
  void write(const std::string& key, const Account& a) {
    if (sqlite_) {
      sqlite_->write(key, a);
    } else {
      postgres_->write(key, a);
    }
  }
  [[nodiscard]] Cache<Account> app() const {
    CacheBuilder<Account> b;
    b.remote(RedisClient(redis_)).key_prefix(prefix_);
    if (sqlite_) {
      b.source(sqlite_);
    } else {
      b.source(postgres_);
    }
    return b.build();
  }

  tools::TempDir dir_{"strata-ops"};
  std::string redis_, table_, prefix_, source_flags_;
  std::shared_ptr<SqliteSource<Account>> sqlite_;
  std::shared_ptr<PostgresSource<Account>> postgres_;
};

TEST_P(SourceCommands, WriteThroughPutReachesTheSourceAndTheApplication) {
  const auto put = strata_run("put a1 '{\"name\":\"ada\",\"version\":3,\"balance\":1.5}'" +
                              flags() + " --write-mode through");
  ASSERT_EQ(put.exit_code, 0) << put.output;
  EXPECT_EQ(load("a1"), (Account{"ada", 3, 1.5}));
  auto cache = app();
  EXPECT_EQ(cache.get("a1"), (Account{"ada", 3, 1.5}));

  const json r = strata_json("inspect a1" + flags());
  EXPECT_EQ(r["l2"]["value"], json(Account{"ada", 3, 1.5}));
  EXPECT_EQ(r["source"]["table"], table_);
  EXPECT_EQ(r["source"]["found"], true);
  EXPECT_EQ(r["source"]["row"],
            json::parse(R"({"id":"a1","name":"ada","version":3,"balance":1.5})"));
  const auto text = strata_run("inspect a1" + flags());
  EXPECT_NE(text.output.find("source       " + table_ + ": {"), std::string::npos) << text.output;
  const json none = strata_json("inspect a-none" + flags());
  EXPECT_EQ(none["source"]["found"], false);
}

TEST_P(SourceCommands, GetLoadsFromTheSourceAndFillsL2) {
  write("a2", Account{"bea", 2, 8});
  const json got = strata_json("get a2" + flags());
  EXPECT_EQ(got["value"], json(Account{"bea", 2, 8}));
  auto cache = app();
  RedisClient redis(redis_);
  EXPECT_TRUE(redis.exists(cache.remote_key("a2")));  // the read-through fill
  // The application's write-around put updates the source and invalidates L2: the CLI sees it.
  cache.put("a2", Account{"bea", 3, 9});
  EXPECT_EQ(strata_json("get a2" + flags())["value"], json(Account{"bea", 3, 9}));
}

TEST_P(SourceCommands, DelThroughTheSource) {
  write("a3", Account{"cy", 1, 1});
  auto cache = app();
  ASSERT_TRUE(cache.get("a3"));  // cached in L2
  const json del = strata_json("del a3 --write-mode through" + flags());
  EXPECT_EQ(del["l2_had_value"], true);
  EXPECT_EQ(load("a3"), std::nullopt);
  EXPECT_EQ(cache.get("a3"), std::nullopt);
}

TEST_P(SourceCommands, WriteBehindPutIsInTheSourceWhenTheCommandReturns) {
  const auto journal = (dir_.path() / "wb").string();
  const auto put = strata_run("put a4 '{\"name\":\"dee\",\"version\":4,\"balance\":0.5}'" +
                              flags() + " --write-mode behind --journal " + journal);
  ASSERT_EQ(put.exit_code, 0) << put.output;
  EXPECT_EQ(load("a4"), (Account{"dee", 4, 0.5}));
  EXPECT_EQ(app().get("a4"), (Account{"dee", 4, 0.5}));
  // The typed mapping refuses a value that is not an object, naming the problem.
  const auto bad = strata_run("put a5 '[1,2]'" + flags() + " --write-mode through 2>&1");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("JSON object"), std::string::npos) << bad.output;
}

// Concurrent `strata put --write-mode behind` on one journal directory: one owner at a time, so
// each put either succeeds (its value is in the source) or fails cleanly naming the directory's
// owner; the journal verifies clean afterwards.
TEST_P(SourceCommands, ConcurrentWriteBehindPutsOnOneJournalNeverCorruptIt) {
  const auto journal = (dir_.path() / "wb").string();
  std::string script;
  for (int i = 0; i < 6; ++i) {
    const std::string n = std::to_string(i);
    script += "(" + strata_cli() + " put c" + n + " '{\"name\":\"c" + n + "\",\"version\":" + n +
              ",\"balance\":0}'" + flags() + " --write-mode behind --journal " + journal + " > " +
              journal + "." + n + ".out 2>&1; echo \"exit " + n + " $?\") & ";
  }
  script += "wait";
  const CommandResult all = run_command(script);
  std::size_t stored = 0;
  for (int i = 0; i < 6; ++i) {
    const std::string n = std::to_string(i);
    const auto at = all.output.find("exit " + n + " ");
    ASSERT_NE(at, std::string::npos) << all.output;
    const int code = std::stoi(all.output.substr(at + 6 + n.size()));
    std::ifstream in(journal + "." + n + ".out");
    const std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (code == 0) {
      ++stored;
      EXPECT_EQ(load("c" + n), (Account{"c" + n, i, 0})) << out;
    } else {
      EXPECT_NE(out.find("in use by another writer (pid "), std::string::npos) << out;
    }
  }
  EXPECT_GE(stored, 1u);
  const auto verify = strata_run("journal verify " + journal);
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_NE(verify.output.find(", 0 after the checkpoint"), std::string::npos) << verify.output;
}

INSTANTIATE_TEST_SUITE_P(Sources, SourceCommands, ::testing::Values("sqlite", "postgres"),
                         [](const auto& p) { return std::string(p.param); });

}  // namespace
}  // namespace strata::testing
