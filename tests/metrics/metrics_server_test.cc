// MetricsServer: scraped over HTTP on loopback, as Prometheus would, and checked against the
// registry's snapshot.
#include "strata/metrics/metrics_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <vector>

#include "strata/cache/cache.h"
#include "strata/codec/json.h"
#include "strata/metrics/metrics.h"

namespace strata {
namespace {

// The value of the sample line `series` (name and labels, exactly as written) in `text`.
std::optional<double> sample(const std::string& text, const std::string& series) {
  const std::string prefix = series + " ";
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = text.find('\n', pos);
    const std::string line = text.substr(pos, end - pos);
    if (line.rfind(prefix, 0) == 0) return std::stod(line.substr(prefix.size()));
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  return std::nullopt;
}

TEST(MetricsServer, ServesTheSnapshotAtMetrics) {
  MetricsRegistry registry;
  std::atomic<int> loads{0};
  Cache<int> cache = CacheBuilder<int>()
                         .local({.maximum_size = 100})
                         .loader([&](std::string_view key) -> std::optional<int> {
                           ++loads;
                           return static_cast<int>(key.size());
                         })
                         .build();
  registry.add_cache("users", cache);
  for (int i = 0; i < 50; ++i) (void)cache.get("key" + std::to_string(i % 20));

  MetricsServer server(registry, {.port = 0});
  ASSERT_NE(server.port(), 0);
  EXPECT_EQ(server.url(), "http://127.0.0.1:" + std::to_string(server.port()) + "/metrics");

  httplib::Client client("127.0.0.1", server.port());
  const auto res = client.Get("/metrics");
  ASSERT_TRUE(res) << "no answer from " << server.url();
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; version=0.0.4");

  const MetricsSnapshot snapshot = registry.snapshot();  // no gets since the scrape
  const CacheMetrics& m = *snapshot.cache("users");
  const std::string& body = res->body;
  EXPECT_EQ(sample(body, R"(strata_cache_requests_total{cache="users",layer="l1",result="hit"})"),
            double(m.stats.l1.hits));
  EXPECT_EQ(sample(body, R"(strata_cache_requests_total{cache="users",layer="l1",result="miss"})"),
            double(m.stats.l1.misses));
  EXPECT_EQ(
      sample(body, R"(strata_cache_requests_total{cache="users",layer="source",result="hit"})"),
      double(m.stats.source.loads));
  EXPECT_EQ(m.stats.l1.hits, 30u);
  EXPECT_EQ(m.stats.source.loads, 20u);
  EXPECT_EQ(sample(body, R"(strata_cache_load_latency_seconds_count{cache="users"})"),
            double(m.latency.load.count));
  EXPECT_DOUBLE_EQ(
      *sample(body,
              R"(strata_cache_get_latency_seconds{cache="users",layer="source",quantile="0.99"})"),
      m.latency.get_source.p99);
  EXPECT_EQ(sample(body, R"(strata_cache_l1_entries{cache="users"})"),
            double(m.stats.l1.cache.entries));

  EXPECT_EQ(client.Get("/nothing")->status, 404);
}

TEST(MetricsServer, StopsInItsDestructorAndReportsABusyPort) {
  MetricsRegistry registry;
  std::uint16_t port = 0;
  {
    MetricsServer server(registry, {.port = 0});
    port = server.port();
    EXPECT_THROW(MetricsServer(registry, {.port = port}), UnavailableError);
  }
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(std::chrono::seconds(1));
  EXPECT_FALSE(client.Get("/metrics")) << "the server still answers after its destructor";
  // The port is free again.
  MetricsServer again(registry, {.port = port});
  EXPECT_EQ(again.port(), port);
}

// Idle connections (opened, never sending a request) each hold one of httplib's workers until
// its read timeout; with the default pool of 8 a scrape queued behind 200 of them waited minutes.
TEST(MetricsServer, AnswersAScrapeWhile200IdleConnectionsAreHeldOpen) {
  MetricsRegistry registry;
  MetricsServer server(registry, {.port = 0, .alert_check_interval = std::chrono::milliseconds(0)});
  std::vector<int> idle;
  for (int i = 0; i < 200; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(server.port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
    idle.push_back(fd);
  }
  httplib::Client client("127.0.0.1", server.port());
  client.set_read_timeout(std::chrono::seconds(60));  // a liveness bound, not a threshold
  const auto res = client.Get("/metrics");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  for (const int fd : idle) ::close(fd);
  EXPECT_THROW((void)MetricsServer(registry, {.max_connections = 0}), InvalidArgumentError);
}

}  // namespace
}  // namespace strata
