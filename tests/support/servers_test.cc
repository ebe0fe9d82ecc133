// The first integration suite: proves that each real server `make test` starts is reachable and
// really used from C++, with round trips through the client libraries strata builds on
// (hiredis, libpq, SQLite).
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/temp_dir.h"
#include "source/sqlite_db.h"
#include "strata/redis/key_slot.h"
#include "strata/redis/redis_url.h"
#include "support/test_servers.h"
#include "support/unique.h"

namespace strata {
namespace {

struct ContextDeleter {
  void operator()(redisContext* c) const noexcept { redisFree(c); }
};
struct ReplyDeleter {
  void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
};
using Context = std::unique_ptr<redisContext, ContextDeleter>;
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

Context connect(const RedisEndpoint& endpoint) {
  const timeval timeout{2, 0};
  Context context(redisConnectWithTimeout(endpoint.host.c_str(), endpoint.port, timeout));
  EXPECT_TRUE(context && context->err == 0)
      << "connect to " << endpoint.host << ":" << endpoint.port << ": "
      << (context ? context->errstr : "out of memory");
  if (context) redisSetTimeout(context.get(), timeout);
  return context;
}

template <typename... Args>
Reply command(redisContext* c, const char* format, Args... args) {
  return Reply(static_cast<redisReply*>(redisCommand(c, format, args...)));
}

TEST(RedisStandalone, PingAndBinarySafeSetGet) {
  STRATA_SERVER_URL(url_text, "STRATA_TEST_REDIS_URL");
  const auto url = parse_redis_url(url_text);
  auto c = connect(url.nodes[0]);
  ASSERT_TRUE(c && c->err == 0);

  auto pong = command(c.get(), "PING");
  ASSERT_TRUE(pong);
  ASSERT_EQ(pong->type, REDIS_REPLY_STATUS);
  EXPECT_STREQ(pong->str, "PONG");

  const std::string key = "strata-it:standalone:" + testing::unique_name("s");
  const std::string value("bytes\0with\xffNUL", 14);
  auto set =
      command(c.get(), "SET %b %b PX 60000", key.data(), key.size(), value.data(), value.size());
  ASSERT_TRUE(set);
  EXPECT_EQ(set->type, REDIS_REPLY_STATUS);
  auto get = command(c.get(), "GET %b", key.data(), key.size());
  ASSERT_TRUE(get);
  ASSERT_EQ(get->type, REDIS_REPLY_STRING);
  EXPECT_EQ(std::string(get->str, get->len), value);
  auto del = command(c.get(), "DEL %b", key.data(), key.size());
  ASSERT_TRUE(del);
  EXPECT_EQ(del->integer, 1);
}

TEST(RedisStandalone, AuthServerRequiresThePasswordAndAcceptsTheAclUser) {
  STRATA_SERVER_URL(auth_text, "STRATA_TEST_REDIS_AUTH_URL");
  STRATA_SERVER_URL(acl_text, "STRATA_TEST_REDIS_ACL_URL");
  const auto auth = parse_redis_url(auth_text);
  const auto acl = parse_redis_url(acl_text);

  auto anonymous = connect(auth.nodes[0]);
  ASSERT_TRUE(anonymous && anonymous->err == 0);
  auto denied = command(anonymous.get(), "GET somekey");
  ASSERT_TRUE(denied);
  ASSERT_EQ(denied->type, REDIS_REPLY_ERROR);
  EXPECT_NE(std::string(denied->str).find("NOAUTH"), std::string::npos) << denied->str;

  auto with_password = connect(auth.nodes[0]);
  auto ok = command(with_password.get(), "AUTH %b", auth.password.data(), auth.password.size());
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->type, REDIS_REPLY_STATUS);

  auto as_user = connect(acl.nodes[0]);
  auto user_ok = command(as_user.get(), "AUTH %b %b", acl.user.data(), acl.user.size(),
                         acl.password.data(), acl.password.size());
  ASSERT_TRUE(user_ok);
  EXPECT_EQ(user_ok->type, REDIS_REPLY_STATUS);
  auto whoami = command(as_user.get(), "ACL WHOAMI");
  ASSERT_TRUE(whoami);
  ASSERT_EQ(whoami->type, REDIS_REPLY_STRING);
  EXPECT_EQ(std::string(whoami->str, whoami->len), acl.user);
}

// SET/GET on every master, each through the node that owns the key's slot; the other masters
// redirect with MOVED to that node.
TEST(RedisCluster, EveryMasterServesTheKeysOfItsSlots) {
  STRATA_SERVER_URL(url_text, "STRATA_TEST_REDIS_CLUSTER_URL");
  const auto url = parse_redis_url(url_text);
  ASSERT_TRUE(url.cluster);
  auto seed = connect(url.nodes[0]);
  ASSERT_TRUE(seed && seed->err == 0);

  auto info = command(seed.get(), "CLUSTER INFO");
  ASSERT_TRUE(info);
  ASSERT_EQ(info->type, REDIS_REPLY_STRING);
  EXPECT_NE(std::string(info->str, info->len).find("cluster_state:ok"), std::string::npos);

  struct Master {
    long long first_slot, last_slot;
    RedisEndpoint endpoint;
  };
  std::vector<Master> masters;
  auto slots = command(seed.get(), "CLUSTER SLOTS");
  ASSERT_TRUE(slots);
  ASSERT_EQ(slots->type, REDIS_REPLY_ARRAY);
  for (std::size_t i = 0; i < slots->elements; ++i) {
    const redisReply* range = slots->element[i];
    ASSERT_GE(range->elements, 3u);
    const redisReply* node = range->element[2];  // the master: [host, port, id, ...]
    masters.push_back({range->element[0]->integer,
                       range->element[1]->integer,
                       {std::string(node->element[0]->str, node->element[0]->len),
                        static_cast<std::uint16_t>(node->element[1]->integer)}});
  }
  std::vector<RedisEndpoint> distinct;
  for (const auto& m : masters) {
    if (std::find(distinct.begin(), distinct.end(), m.endpoint) == distinct.end()) {
      distinct.push_back(m.endpoint);
    }
  }
  ASSERT_EQ(distinct.size(), 3u) << "the test cluster has three masters";

  const std::string suffix = testing::unique_name("s");
  for (const auto& master : masters) {
    std::string key;
    for (int i = 0;; ++i) {  // find a key whose slot this master owns
      key = "strata-it:cluster:" + suffix + ":" + std::to_string(i);
      const int slot = key_slot(key);
      if (slot >= master.first_slot && slot <= master.last_slot) break;
    }
    auto owner = connect(master.endpoint);
    ASSERT_TRUE(owner && owner->err == 0);
    auto set = command(owner.get(), "SET %b %s PX 60000", key.data(), key.size(), "v");
    ASSERT_TRUE(set);
    ASSERT_EQ(set->type, REDIS_REPLY_STATUS) << (set->str ? set->str : "");
    auto get = command(owner.get(), "GET %b", key.data(), key.size());
    ASSERT_TRUE(get);
    ASSERT_EQ(get->type, REDIS_REPLY_STRING);
    EXPECT_STREQ(get->str, "v");

    for (const auto& other : distinct) {
      if (other == master.endpoint) continue;
      auto c = connect(other);
      auto moved = command(c.get(), "GET %b", key.data(), key.size());
      ASSERT_TRUE(moved);
      ASSERT_EQ(moved->type, REDIS_REPLY_ERROR);
      const std::string expected = "MOVED " + std::to_string(key_slot(key)) + " " +
                                   master.endpoint.host + ":" +
                                   std::to_string(master.endpoint.port);
      EXPECT_EQ(std::string(moved->str, moved->len), expected);
    }
    auto del = command(owner.get(), "DEL %b", key.data(), key.size());
    ASSERT_TRUE(del);
  }
}

struct PgConnDeleter {
  void operator()(PGconn* c) const noexcept { PQfinish(c); }
};
struct PgResultDeleter {
  void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, PgResultDeleter>;

// Every sentinel of the plaintext Sentinel setup names the same master, which says it is one
// and has its replica connected, and knows the replica and the two other sentinels.
TEST(RedisSentinelSetup, EverySentinelNamesTheMasterWhichHasItsReplica) {
  STRATA_SERVER_URL(url_text, "STRATA_TEST_REDIS_SENTINEL_URL");
  const auto url = parse_redis_url(url_text);
  ASSERT_TRUE(url.sentinel);
  ASSERT_EQ(url.nodes.size(), 3u);
  std::string master_port;
  for (const auto& sentinel : url.nodes) {
    auto c = connect(sentinel);
    ASSERT_TRUE(c && c->err == 0);
    auto address = command(c.get(), "SENTINEL GET-MASTER-ADDR-BY-NAME %s", url.master_name.c_str());
    ASSERT_TRUE(address);
    ASSERT_EQ(address->type, REDIS_REPLY_ARRAY);
    ASSERT_EQ(address->elements, 2u);
    if (master_port.empty()) master_port = address->element[1]->str;
    EXPECT_EQ(master_port, address->element[1]->str);
    auto master = command(c.get(), "SENTINEL MASTER %s", url.master_name.c_str());
    ASSERT_TRUE(master);
    ASSERT_EQ(master->type, REDIS_REPLY_ARRAY);
    std::map<std::string, std::string> fields;
    for (std::size_t i = 0; i + 1 < master->elements; i += 2) {
      fields[master->element[i]->str] = master->element[i + 1]->str;
    }
    EXPECT_EQ(fields["num-slaves"], "1");
    EXPECT_EQ(fields["num-other-sentinels"], "2");
  }
  auto m = connect(RedisEndpoint{"127.0.0.1", static_cast<std::uint16_t>(std::stoi(master_port))});
  ASSERT_TRUE(m && m->err == 0);
  auto info = command(m.get(), "INFO replication");
  ASSERT_TRUE(info);
  const std::string text(info->str, info->len);
  EXPECT_NE(text.find("role:master"), std::string::npos) << text;
  EXPECT_NE(text.find("connected_slaves:1"), std::string::npos) << text;
}

TEST(PostgreSQL, SelectOneAndARoundTripThroughATable) {
  STRATA_SERVER_URL(url, "STRATA_TEST_POSTGRES_URL");
  std::unique_ptr<PGconn, PgConnDeleter> conn(PQconnectdb(url.c_str()));
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());

  PgResult one(PQexec(conn.get(), "SELECT 1"));
  ASSERT_EQ(PQresultStatus(one.get()), PGRES_TUPLES_OK);
  EXPECT_STREQ(PQgetvalue(one.get(), 0, 0), "1");

  PgResult version(PQexec(conn.get(), "SHOW server_version_num"));
  ASSERT_EQ(PQresultStatus(version.get()), PGRES_TUPLES_OK);
  EXPECT_GE(std::stoi(PQgetvalue(version.get(), 0, 0)), 150000);

  const std::string table = "strata_it_" + std::to_string(std::random_device{}() % 1000000);
  PgResult create(
      PQexec(conn.get(), ("CREATE TABLE " + table + " (k text PRIMARY KEY, v bytea)").c_str()));
  ASSERT_EQ(PQresultStatus(create.get()), PGRES_COMMAND_OK) << PQerrorMessage(conn.get());

  const std::string value("\x00\x01\xfe\xff", 4);
  const char* params[] = {"user:1", value.data()};
  const int lengths[] = {6, static_cast<int>(value.size())};
  const int formats[] = {0, 1};  // text key, binary value
  PgResult insert(PQexecParams(conn.get(), ("INSERT INTO " + table + " VALUES ($1, $2)").c_str(), 2,
                               nullptr, params, lengths, formats, 0));
  ASSERT_EQ(PQresultStatus(insert.get()), PGRES_COMMAND_OK) << PQerrorMessage(conn.get());
  PgResult select(PQexecParams(conn.get(), ("SELECT v FROM " + table + " WHERE k = $1").c_str(), 1,
                               nullptr, params, lengths, formats, 1));
  ASSERT_EQ(PQresultStatus(select.get()), PGRES_TUPLES_OK) << PQerrorMessage(conn.get());
  ASSERT_EQ(PQntuples(select.get()), 1);
  EXPECT_EQ(std::string(PQgetvalue(select.get(), 0, 0), PQgetlength(select.get(), 0, 0)), value);
  PgResult drop(PQexec(conn.get(), ("DROP TABLE " + table).c_str()));
  EXPECT_EQ(PQresultStatus(drop.get()), PGRES_COMMAND_OK);
}

TEST(SQLite, OpensInWalModeAndSharesDataAcrossConnections) {
  tools::TempDir dir("strata-it");
  const std::string path = (dir.path() / "it.db").string();
  sqlite::Database writer(path);
  EXPECT_EQ(writer.journal_mode(), "wal");
  writer.exec("CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB)");
  auto insert = writer.prepare("INSERT INTO kv VALUES (?, ?)");
  const std::string value("\x00zero\xff", 6);
  insert.bind_text(1, "user:1").bind_blob(2, value).run();
  EXPECT_TRUE(std::filesystem::exists(path + "-wal"));

  sqlite::Database reader(path);
  auto select = reader.prepare("SELECT v FROM kv WHERE k = ?");
  select.bind_text(1, "user:1");
  ASSERT_TRUE(select.step());
  EXPECT_EQ(select.column_blob(0), value);
  EXPECT_FALSE(select.step());
}

}  // namespace
}  // namespace strata
