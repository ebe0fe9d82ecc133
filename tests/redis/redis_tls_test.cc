// TLS to Redis through strata's own transport (src/redis/connection.cc, OpenSSL), against the
// TLS-only servers of `make test` (scripts/test-servers.sh makes their certificates with openssl
// at start) and private servers for an expired certificate. Each failure is a TlsError that
// says which; the conformance suite also runs over TLS (redis_conformance_test.cc).
#include <gtest/gtest.h>

#include <string>

#include "strata/cache/cache.h"
#include "strata/error.h"
#include "strata/redis/redis_client.h"
#include "strata/redis/redis_subscriber.h"
#include "strata/redis/redis_url.h"
#include "support/eventually.h"
#include "support/redis_process.h"
#include "support/test_servers.h"
#include "support/unique.h"

namespace strata {
namespace {

using namespace std::chrono_literals;

// The TLS failure `connect` throws (fails the test when it throws nothing or something else).
template <typename F>
TlsFailure tls_failure_of(F&& connect) {
  try {
    connect();
  } catch (const TlsError& error) {
    return error.failure();
  }
  ADD_FAILURE() << "no TlsError";
  return TlsFailure::kHandshake;
}

std::string tls_dir() {
  const auto dir = testing::find_server("STRATA_TEST_TLS_DIR");
  return dir ? *dir : std::string();
}

// "rediss://127.0.0.1:PORT" of a TLS URL, without its options.
std::string base_of(const RedisUrl& url) {
  return "rediss://127.0.0.1:" + std::to_string(url.nodes.at(0).port);
}

TEST(RedisTls, CommandsAndPipelinesOverTls) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_TLS_URL");
  RedisClient redis(url);
  const std::string key = testing::unique_prefix() + "k";
  // A value larger than one TLS record (16 KiB) and a binary one.
  std::string big(200'000, 'x');
  big[7] = '\0';
  big[100'000] = '\r';
  redis.set(key, big);
  EXPECT_EQ(redis.get(key), big);
  std::vector<std::string> keys;
  for (int i = 0; i < 300; ++i) {
    keys.push_back(key + ":" + std::to_string(i));
    redis.set(keys.back(), std::to_string(i));
  }
  const auto values = redis.mget(std::vector<std::string_view>(keys.begin(), keys.end()));
  ASSERT_EQ(values.size(), keys.size());
  for (int i = 0; i < 300; ++i) EXPECT_EQ(values[i], std::to_string(i));
}

TEST(RedisTls, SubscriberOverTls) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_TLS_URL");
  const std::string channel = testing::unique_prefix() + "ch";
  std::mutex mutex;
  std::vector<std::string> received;
  RedisSubscriber subscriber(parse_redis_url(url));
  (void)subscriber.subscribe(channel, [&](std::string_view, std::string_view message) {
    std::lock_guard lock(mutex);
    received.emplace_back(message);
  });
  RedisClient redis(url);
  ASSERT_TRUE(testing::eventually(10s, [&] {
    (void)redis.publish(channel, "hello");
    std::lock_guard lock(mutex);
    return !received.empty();
  }));
  std::lock_guard lock(mutex);
  EXPECT_EQ(received.front(), "hello");
}

TEST(RedisTls, CacheServesFromL2OverTls) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_TLS_URL");
  const std::string prefix = testing::unique_prefix();
  int loads = 0;
  auto build = [&] {
    return CacheBuilder<std::string>()
        .remote(RedisClient(url), {.ttl = 1min}, ValueFormat<std::string, BytesCodec>::envelope())
        .loader([&](std::string_view key) {
          ++loads;
          return std::optional<std::string>("v:" + std::string(key));
        })
        .key_prefix(prefix)
        .build();
  };
  auto first = build();
  EXPECT_EQ(first.get("a"), "v:a");
  auto second = build();  // a fresh cache: only L2 can answer without a load
  EXPECT_EQ(second.get("a"), "v:a");
  EXPECT_EQ(loads, 1);
  EXPECT_EQ(second.stats().l2.hits, 1u);
}

TEST(RedisTls, MutualTlsNeedsTheClientCertificate) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_MTLS_URL");
  RedisClient with_certificate(url);
  EXPECT_EQ(with_certificate.command({"PING"}).str, "PONG");
  const RedisUrl parsed = parse_redis_url(url);
  const std::string without = base_of(parsed) + "?tls_ca=" + parsed.tls.ca_file;
  EXPECT_EQ(tls_failure_of([&] { (void)RedisClient(without).command({"PING"}); }),
            TlsFailure::kClientCertificateRequired);
}

TEST(RedisTls, AnUntrustedCaIsRefused) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_TLS_URL");
  const std::string wrong_ca =
      base_of(parse_redis_url(url)) + "?tls_ca=" + tls_dir() + "/other-ca.crt";
  EXPECT_EQ(tls_failure_of([&] { (void)RedisClient(wrong_ca).command({"PING"}); }),
            TlsFailure::kUntrustedCertificate);
  // The explicit, loudly named opt-out accepts it.
  RedisClient insecure(wrong_ca + "&tls_insecure_skip_verify=true");
  EXPECT_EQ(insecure.command({"PING"}).str, "PONG");
}

TEST(RedisTls, AWrongHostNameIsRefused) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_TLS_URL");
  // The certificate is for localhost and 127.0.0.1.
  EXPECT_EQ(tls_failure_of([&] {
              (void)RedisClient(url + "&tls_server_name=cache.example.com").command({"PING"});
            }),
            TlsFailure::kHostnameMismatch);
  RedisClient by_name(url + "&tls_server_name=localhost");
  EXPECT_EQ(by_name.command({"PING"}).str, "PONG");
}

TEST(RedisTls, AnExpiredCertificateIsRefused) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_TLS_URL");
  const std::string dir = tls_dir();
  const auto tls_port = testing::free_port();
  testing::RedisProcess server({"--tls-port", std::to_string(tls_port), "--tls-cert-file",
                                dir + "/expired.crt", "--tls-key-file", dir + "/server.key",
                                "--tls-ca-cert-file", dir + "/ca.crt", "--tls-auth-clients", "no"});
  const std::string expired =
      "rediss://127.0.0.1:" + std::to_string(tls_port) + "?tls_ca=" + dir + "/ca.crt";
  EXPECT_EQ(tls_failure_of([&] { (void)RedisClient(expired).command({"PING"}); }),
            TlsFailure::kCertificateExpired);
}

TEST(RedisTls, PlaintextAndTlsPortsMixedUpSayWhich) {
  STRATA_SERVER_URL(tls_url, "STRATA_TEST_REDIS_TLS_URL");
  STRATA_SERVER_URL(plain_url, "STRATA_TEST_REDIS_URL");
  const RedisUrl tls = parse_redis_url(tls_url);
  const RedisUrl plain = parse_redis_url(plain_url);
  // A plaintext client on the TLS-only port.
  const std::string plaintext_on_tls = "redis://127.0.0.1:" + std::to_string(tls.nodes[0].port);
  EXPECT_EQ(tls_failure_of([&] { (void)RedisClient(plaintext_on_tls).command({"PING"}); }),
            TlsFailure::kPeerRequiresTls);
  // A TLS client on the plaintext port.
  const std::string tls_on_plaintext =
      "rediss://127.0.0.1:" + std::to_string(plain.nodes[0].port) + "?tls_ca=" + tls.tls.ca_file;
  EXPECT_EQ(tls_failure_of([&] { (void)RedisClient(tls_on_plaintext).command({"PING"}); }),
            TlsFailure::kPeerNotTls);
}

TEST(RedisTls, UnreadableTlsFilesAreInvalidArguments) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_TLS_URL");
  const std::string base = base_of(parse_redis_url(url));
  EXPECT_THROW((void)RedisClient(base + "?tls_ca=/nonexistent/ca.crt").command({"PING"}),
               InvalidArgumentError);
  EXPECT_THROW(
      (void)RedisClient(base + "?tls_ca=" + tls_dir() + "/ca.crt&tls_cert=/nonexistent/client.crt")
          .command({"PING"}),
      InvalidArgumentError);
}

TEST(RedisTlsUrl, SchemesAndOptions) {
  const RedisUrl url = parse_redis_url(
      "rediss://u:p@host:6380?tls_ca=/a/ca.pem&tls_cert=/a/c.pem&tls_key=/a/k.pem"
      "&tls_server_name=cache.example.com&tls_ca_dir=/etc/ssl/certs");
  EXPECT_TRUE(url.tls.enabled);
  EXPECT_FALSE(url.cluster);
  EXPECT_EQ(url.tls.ca_file, "/a/ca.pem");
  EXPECT_EQ(url.tls.ca_dir, "/etc/ssl/certs");
  EXPECT_EQ(url.tls.cert_file, "/a/c.pem");
  EXPECT_EQ(url.tls.key_file, "/a/k.pem");
  EXPECT_EQ(url.tls.server_name, "cache.example.com");
  EXPECT_FALSE(url.tls.insecure_skip_verify);
  EXPECT_EQ(url.redacted(), "rediss://u:***@host:6380");
  const RedisUrl cluster =
      parse_redis_url("rediss+cluster://a:1,b:2?tls_insecure_skip_verify=true");
  EXPECT_TRUE(cluster.tls.enabled);
  EXPECT_TRUE(cluster.cluster);
  EXPECT_TRUE(cluster.tls.insecure_skip_verify);
  EXPECT_EQ(cluster.redacted(), "rediss+cluster://a:1,b:2");
  EXPECT_FALSE(parse_redis_url("redis://h").tls.enabled);
  // TLS options need the rediss scheme; values are checked.
  EXPECT_THROW((void)parse_redis_url("redis://h?tls_ca=/x"), InvalidArgumentError);
  EXPECT_THROW((void)parse_redis_url("rediss://h?tls_insecure_skip_verify=yes"),
               InvalidArgumentError);
  EXPECT_THROW((void)parse_redis_url("rediss://h?tls_bogus=1"), InvalidArgumentError);
}

}  // namespace
}  // namespace strata
