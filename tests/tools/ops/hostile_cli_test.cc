// The operator commands against refusing servers, careless operators and hostile data (issue
// 16): put/del/invalidate exit 0 only when the write happened (a read-only replica, a server out
// of memory, an unreachable port, no L2 at all, a dead-lettered write-behind put); get with Redis
// unreachable fails loudly; bad usage exits 2 whatever CLI11 thinks; negative numbers never wrap
// into unsigned options; text from servers is escaped before the terminal; URL credentials are
// redacted; deeply nested values are reported as corrupted, never a crash.
#include <gtest/gtest.h>
#include <httplib.h>

#include <string>
#include <thread>

#include "common/temp_dir.h"
#include "source/sqlite_db.h"
#include "strata/codec/envelope.h"
#include "strata/redis/redis_client.h"
#include "strata/source/sqlite_source.h"
#include "support/redis_process.h"
#include "support/test_servers.h"
#include "tools/ops/ops_test_support.h"

namespace strata::testing {
namespace {

using nlohmann::json;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A port nothing listens on: a private server started and stopped.
std::uint16_t dead_port() {
  RedisProcess p;
  const std::uint16_t port = p.port();
  p.stop();
  return port;
}

TEST(HostileCli, PutDelInvalidateOnAReadOnlyReplicaFailNamingTheRefusal) {
  RedisProcess replica({"--replicaof", "127.0.0.1", std::to_string(dead_port())});
  const std::string flags = " --redis " + replica.url() + " --key-prefix " + unique_name("ro");
  const auto put = strata_run("put k1 '{\"a\":1}'" + flags + " 2>&1");
  EXPECT_NE(put.exit_code, 0) << put.output;
  EXPECT_FALSE(contains(put.output, "stored")) << put.output;
  EXPECT_TRUE(contains(put.output, "put k1 failed: L2")) << put.output;
  EXPECT_TRUE(contains(put.output, "Redis call(s) failed")) << put.output;
  EXPECT_TRUE(contains(put.output, "READONLY")) << "the server's own words: " << put.output;
  const auto del = strata_run("del k1" + flags + " 2>&1");
  EXPECT_NE(del.exit_code, 0) << del.output;
  EXPECT_FALSE(contains(del.output, "deleted")) << del.output;
  const auto inval = strata_run("invalidate --key k1" + flags + " 2>&1");
  EXPECT_NE(inval.exit_code, 0) << inval.output;
  EXPECT_FALSE(contains(inval.output, "invalidated 1")) << inval.output;
}

TEST(HostileCli, PutIntoAServerOutOfMemoryFails) {
  RedisProcess full({"--maxmemory", "1", "--maxmemory-policy", "noeviction"});
  const std::string flags = " --redis " + full.url() + " --key-prefix " + unique_name("oom");
  const auto put = strata_run("put k1 '{\"a\":1}'" + flags + " 2>&1");
  EXPECT_NE(put.exit_code, 0) << put.output;
  EXPECT_FALSE(contains(put.output, "stored")) << put.output;
  EXPECT_TRUE(contains(put.output, "put k1 failed: L2 (1 Redis call(s) failed")) << put.output;
  EXPECT_TRUE(contains(put.output, "OOM")) << "the server's own words: " << put.output;
}

TEST(HostileCli, UnreachableRedisOrNoL2AtAllIsAFailureNotSuccessOrNotFound) {
  const std::string flags = " --redis redis://127.0.0.1:" + std::to_string(dead_port());
  const auto put = strata_run("put k1 '{\"a\":1}'" + flags + " 2>&1");
  EXPECT_NE(put.exit_code, 0) << put.output;
  EXPECT_FALSE(contains(put.output, "stored")) << put.output;
  const auto get_out = strata_run("get k1" + flags);  // stdout only
  const auto get_all = strata_run("get k1" + flags + " 2>&1");
  EXPECT_NE(get_all.exit_code, 0);
  EXPECT_FALSE(contains(get_out.output, "(not found)")) << get_out.output;
  EXPECT_TRUE(contains(get_all.output, "get k1 failed: L2")) << get_all.output;
  const auto inval = strata_run("invalidate --key k1" + flags + " 2>&1");
  EXPECT_NE(inval.exit_code, 0) << inval.output;

  const auto none = strata_run("put k1 '{\"a\":1}' 2>&1");  // no --redis, no source
  EXPECT_EQ(none.exit_code, 2) << none.output;
  EXPECT_TRUE(contains(none.output, "nothing to write to")) << none.output;
  EXPECT_FALSE(contains(none.output, "stored")) << none.output;
  EXPECT_EQ(strata_run("del k1 2>&1").exit_code, 2);
  EXPECT_EQ(strata_run("invalidate --key k1 2>&1").exit_code, 2);
}

TEST(HostileCli, WriteBehindPutThatIsDeadLetteredIsNotStored) {
  tools::TempDir dir("strata-hostile-cli");
  const std::string db = (dir.path() / "app.db").string();
  const std::string table = unique_name("acc");
  // A table that refuses negative versions: such a put can never be written.
  (void)SqliteSource<Account>(SqliteOptions{.path = db}, account_mapping(table));
  sqlite::Database(db).exec("CREATE TRIGGER " + table + "_guard BEFORE INSERT ON " + table +
                            " WHEN NEW.version < 0 BEGIN SELECT RAISE(ABORT, 'negative'); END");
  const std::string flags = account_flags(table) + " --sqlite " + db +
                            " --write-mode behind --journal " + (dir.path() / "wb").string();
  const auto put = strata_run("put k1 '{\"name\":\"x\",\"version\":-1}'" + flags + " 2>&1");
  EXPECT_NE(put.exit_code, 0) << put.output;
  EXPECT_FALSE(contains(put.output, "stored")) << put.output;
  EXPECT_TRUE(contains(put.output, "dead-lettered")) << put.output;
  const auto ok = strata_run("put k2 '{\"name\":\"ada\",\"version\":1}'" + flags);
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_EQ(ok.output, "stored k2 (write mode behind)\n");
}

TEST(HostileCli, BadUsageExitsTwoNegativeAndFractionalNumbersAreRefused) {
  EXPECT_EQ(strata_run("get 2>&1").exit_code, 2);                   // missing KEY
  EXPECT_EQ(strata_run("get k --no-such-flag 2>&1").exit_code, 2);  // unknown option
  EXPECT_EQ(strata_run("get k --format 2>&1").exit_code, 2);        // missing argument
  EXPECT_EQ(strata_run("no-such-command 2>&1").exit_code, 2);
  EXPECT_EQ(strata_run("--help").exit_code, 0);
  EXPECT_EQ(strata_run("get --help").exit_code, 0);
  const auto negative = strata_run("put k 1 --compression-threshold -1 2>&1");
  EXPECT_EQ(negative.exit_code, 2) << negative.output;
  EXPECT_TRUE(contains(negative.output, "must not be negative")) << negative.output;
  EXPECT_EQ(strata_run("put k 1 --compression-threshold ' -5' 2>&1").exit_code, 2);
  EXPECT_EQ(strata_run("put k 1 --compression-threshold 1.5 2>&1").exit_code, 2);
  EXPECT_EQ(strata_run("invalidate --pattern 'x*' --batch -1 2>&1").exit_code, 2);
  EXPECT_EQ(strata_run("invalidate --pattern 'x*' --batch 2.5 2>&1").exit_code, 2);
  EXPECT_EQ(
      strata_run("stats --metrics http://127.0.0.1:1/metrics --count -3 --watch 2>&1").exit_code,
      2);
}

TEST(HostileCli, TextFromServersIsEscapedBeforeTheTerminal) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_URL");
  const std::string prefix = unique_name("esc") + ":";
  RedisClient redis(url);
  const std::string evil =
      "k\x1b]0;owned\x07\x1b[2J\r\x9b"
      "31m\x7f";
  ASSERT_TRUE(redis.set(prefix + "{" + evil + "}", "garbage"));
  const std::string flags = " --redis " + url + " --key-prefix " + prefix;
  const auto listed = strata_run("invalidate --pattern '" + prefix + "*' --dry-run" + flags);
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_FALSE(contains(listed.output, "\x1b")) << listed.output;
  EXPECT_FALSE(contains(listed.output, "\x07")) << listed.output;
  EXPECT_FALSE(contains(listed.output, "\r")) << listed.output;
  EXPECT_FALSE(contains(listed.output, "\x9b")) << listed.output;
  EXPECT_FALSE(contains(listed.output, "\x7f")) << listed.output;
  EXPECT_TRUE(contains(listed.output, "k\\e]0;owned\\x07\\e[2J\\r\\x9b31m\\x7f")) << listed.output;
  // The JSON output carries the key exactly (JSON escapes), bytes that are not UTF-8 replaced.
  const json j = strata_json("invalidate --pattern '" + prefix + "*' --dry-run" + flags);
  ASSERT_EQ(j["keys"].size(), 1u);
  EXPECT_TRUE(contains(j["keys"][0].get<std::string>(), "owned")) << j.dump();
}

// A metrics endpoint with a label that is not UTF-8 and one with an escape sequence, behind
// basic auth.
TEST(HostileCli, StatsSurvivesNonUtf8LabelsAndRedactsTheUrlPassword) {
  httplib::Server server;
  server.Get("/metrics", [](const httplib::Request& req, httplib::Response& res) {
    if (!req.has_header("Authorization")) {
      res.status = 401;
      return;
    }
    res.set_content(
        "strata_cache_requests_total{cache=\"bad\xff\xfe\",layer=\"l1\",result=\"hit\"} 3\n"
        "strata_cache_requests_total{cache=\"esc\x1b[2J\",layer=\"l1\",result=\"hit\"} 4\n",
        "text/plain");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::yield();
  const std::string url =
      "http://operator:s3cret-pw@127.0.0.1:" + std::to_string(port) + "/metrics";
  const auto text = strata_run("stats --metrics '" + url + "' 2>&1");
  EXPECT_EQ(text.exit_code, 0) << text.output;
  EXPECT_FALSE(contains(text.output, "s3cret-pw")) << text.output;
  EXPECT_TRUE(contains(text.output, "operator:***@")) << text.output;
  EXPECT_FALSE(contains(text.output, "\x1b")) << text.output;
  EXPECT_TRUE(contains(text.output, "bad\\xff\\xfe")) << text.output;
  const auto js = strata_run("stats --json --metrics '" + url + "' 2>&1");
  EXPECT_EQ(js.exit_code, 0) << js.output;
  EXPECT_FALSE(contains(js.output, "s3cret-pw")) << js.output;
  EXPECT_FALSE(json::parse(js.output, nullptr, false).is_discarded()) << js.output;
  const auto watch =
      strata_run("stats --watch --count 2 --interval 0.01 --json --metrics '" + url + "' 2>&1");
  EXPECT_EQ(watch.exit_code, 0) << watch.output;
  EXPECT_FALSE(contains(watch.output, "s3cret-pw")) << watch.output;
  // Unreachable: the message names the endpoint without the password.
  const auto down = strata_run("stats --metrics 'http://operator:s3cret-pw@127.0.0.1:" +
                               std::to_string(dead_port()) + "/metrics' 2>&1");
  EXPECT_NE(down.exit_code, 0);
  EXPECT_FALSE(contains(down.output, "s3cret-pw")) << down.output;
  server.stop();
  serving.join();
}

TEST(HostileCli, DeeplyNestedValuesAreReportedAsCorruptedNeverACrash) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_URL");
  const std::string prefix = unique_name("deep") + ":";
  RedisClient redis(url);
  const std::string deep = std::string(300'000, '[') + std::string(300'000, ']');
  const std::string deep_msgpack = std::string(300'000, '\x91') + "\xc0";
  ASSERT_TRUE(redis.set(prefix + "env", encode_envelope(kJsonCodecId, deep, {})));
  ASSERT_TRUE(redis.set(prefix + "mp", encode_envelope(kMsgpackCodecId, deep_msgpack, {})));
  ASSERT_TRUE(redis.set(prefix + "plain", deep));
  const std::string flags = " --redis " + url + " --key-prefix " + prefix;
  for (const std::string key : {"env", "mp", "plain"}) {
    SCOPED_TRACE(key);
    const std::string codec = key == "mp" ? " --codec msgpack" : "";
    const std::string format = key == "plain" ? " --format plain" : "";
    const json inspected = strata_json("inspect " + key + flags + codec + format);
    EXPECT_TRUE(contains(inspected["l2"].value("error", ""), "nesting deeper than 128"))
        << inspected.dump().substr(0, 2000);
    const auto got = strata_run("get " + key + flags + codec + format + " 2>&1");
    EXPECT_EQ(got.exit_code, 1) << got.output.substr(0, 2000);  // a miss (counted, deleted)
  }
  const std::string deep_arg = std::string(1000, '[') + std::string(1000, ']');  // ARG_MAX
  const auto put = strata_run("put k '" + deep_arg + "'" + flags + " 2>&1");
  EXPECT_EQ(put.exit_code, 2) << put.output.substr(0, 2000);
}

}  // namespace
}  // namespace strata::testing
