// `strata stats --metrics URL` against a real HTTP server (cpp-httplib, in the test) serving a
// fixed Prometheus exposition; and the exposition parser on the format's corner cases.
#include <gtest/gtest.h>
#include <httplib.h>

#include <cmath>
#include <string>
#include <thread>

#include "ops/prometheus_text.h"
#include "strata/codec/json.h"
#include "tools/ops/ops_test_support.h"

namespace strata::testing {
namespace {

using nlohmann::json;

// Two caches (one with a label value that needs escapes), one writer, comments, a timestamp,
// a malformed line, and no l1 metrics for "orders" (a cache without L1).
constexpr const char* kExposition =
    R"(# HELP strata_cache_requests_total Requests per layer and result.
# TYPE strata_cache_requests_total counter
strata_cache_requests_total{cache="users",layer="l1",result="hit"} 900
strata_cache_requests_total{cache="users",layer="l1",result="miss"} 100
strata_cache_requests_total{cache="users",layer="l1",result="error"} 0
strata_cache_requests_total{cache="users",layer="l2",result="hit"} 60
strata_cache_requests_total{cache="users",layer="l2",result="miss"} 40
strata_cache_requests_total{cache="users",layer="source",result="hit"} 38
strata_cache_requests_total{cache="users",layer="source",result="miss"} 2
strata_cache_requests_total{cache="users",layer="source",result="error"} 1 1795689011920
# TYPE strata_cache_get_latency_seconds summary
strata_cache_get_latency_seconds{cache="users",layer="l1",quantile="0.5"} 2.5e-07
strata_cache_get_latency_seconds{cache="users",layer="l1",quantile="0.9"} 4e-07
strata_cache_get_latency_seconds{cache="users",layer="l1",quantile="0.99"} 1.2e-06
strata_cache_get_latency_seconds{cache="users",layer="l1",quantile="0.999"} NaN
strata_cache_get_latency_seconds_sum{cache="users",layer="l1"} 0.0005
strata_cache_get_latency_seconds_count{cache="users",layer="l1"} 1000
strata_cache_get_latency_seconds{cache="users",layer="l2",quantile="0.5"} 0.00021
strata_cache_get_latency_seconds{cache="users",layer="l2",quantile="0.99"} 0.0013
strata_cache_load_latency_seconds{cache="users",quantile="0.5"} 0.0021
strata_cache_load_latency_seconds{cache="users",quantile="0.99"} 0.035
strata_cache_load_latency_seconds_sum{cache="users"} 0.12
strata_cache_load_latency_seconds_count{cache="users"} 40
strata_cache_evictions_total{cache="users",cause="size"} 17
strata_cache_evictions_total{cache="users",cause="expired"} 3
strata_cache_l1_entries{cache="users"} 1234
strata_cache_l1_bytes{cache="users"} 5242880
strata_cache_l2_breaker_state{cache="users"} 0
strata_cache_stale_served_total{cache="users"} 5
strata_cache_lease_waits_total{cache="users"} 2
strata_cache_requests_total{cache="or\"ders\\eu\n",layer="l2",result="hit"} 3
strata_cache_requests_total{cache="or\"ders\\eu\n",layer="l2",result="miss"} 1
strata_cache_l2_breaker_state{cache="or\"ders\\eu\n"} 2
this line is { not valid
# TYPE strata_write_behind_queue_depth gauge
strata_write_behind_queue_depth{writer="users-wb"} 12
strata_write_behind_oldest_age_seconds{writer="users-wb"} 0.035
strata_write_behind_dead_letters{writer="users-wb"} 1
)";

// A cpp-httplib server on a free loopback port, serving `body` at /metrics.
class MetricsServer {
 public:
  explicit MetricsServer(std::string body) : body_(std::move(body)) {
    server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(body_, "text/plain; version=0.0.4");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // bind_to_any_port already listens: connections queue until the accept loop runs.
  }
  ~MetricsServer() {
    while (!server_.is_running()) std::this_thread::yield();  // stop() before listen is lost
    server_.stop();
    thread_.join();
  }
  [[nodiscard]] std::string url(const std::string& path = "/metrics") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  std::string body_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

TEST(PrometheusText, ParsesLabelsEscapesValuesAndSkipsBadLines) {
  const ops::Exposition e = ops::parse_exposition(kExposition);
  EXPECT_EQ(e.skipped_lines, 1u);
  EXPECT_EQ(e.first_error, "line 34: bad value for this");
  EXPECT_EQ(e.types.at("strata_cache_requests_total"), "counter");
  EXPECT_EQ(e.value("strata_cache_requests_total",
                    {{"cache", "users"}, {"layer", "source"}, {"result", "error"}}),
            1.0);  // the timestamp is not the value
  EXPECT_TRUE(std::isnan(*e.value("strata_cache_get_latency_seconds",
                                  {{"cache", "users"}, {"layer", "l1"}, {"quantile", "0.999"}})));
  EXPECT_EQ(e.value("strata_cache_l2_breaker_state", {{"cache", "or\"ders\\eu\n"}}), 2.0);
  EXPECT_EQ(e.value("strata_cache_l1_entries", {{"cache", "nope"}}), std::nullopt);
  EXPECT_EQ(e.label_values("strata_cache_l2_breaker_state", "cache"),
            (std::vector<std::string>{"or\"ders\\eu\n", "users"}));

  const ops::Exposition odd = ops::parse_exposition(
      "a 1\r\n  b{x=\"1\",} +Inf\nc{x=\"unterminated} 1\nd{} -Inf 12\ne 1 2 3\nf\n\n#\n");
  EXPECT_EQ(odd.value("a", {}), 1.0);
  EXPECT_EQ(odd.value("b", {{"x", "1"}}), std::numeric_limits<double>::infinity());
  EXPECT_EQ(odd.value("d", {}), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(odd.samples.size(), 3u);
  EXPECT_EQ(odd.skipped_lines, 3u);  // c (unterminated), e (trailing), f (no value)
}

TEST(StatsCommand, SummarisesTheEndpointAsJson) {
  MetricsServer server(kExposition);
  const json s = strata_json("stats --metrics " + server.url());
  EXPECT_EQ(s["url"], server.url());
  EXPECT_EQ(s["skipped_lines"], 1);
  ASSERT_EQ(s["caches"].size(), 2u);
  const json& orders = s["caches"][0];  // sorted by name
  EXPECT_EQ(orders["cache"], "or\"ders\\eu\n");
  EXPECT_EQ(orders["breaker"], "open");
  EXPECT_FALSE(orders["layers"].contains("l1"));
  EXPECT_DOUBLE_EQ(orders["layers"]["l2"]["hit_ratio"].get<double>(), 0.75);
  EXPECT_TRUE(orders["l1_entries"].is_null());

  const json& users = s["caches"][1];
  EXPECT_EQ(users["cache"], "users");
  EXPECT_DOUBLE_EQ(users["layers"]["l1"]["hit_ratio"].get<double>(), 0.9);
  EXPECT_DOUBLE_EQ(users["layers"]["l2"]["hit_ratio"].get<double>(), 0.6);
  EXPECT_DOUBLE_EQ(users["layers"]["source"]["hit_ratio"].get<double>(), 0.95);
  EXPECT_EQ(users["layers"]["source"]["errors"], 1);
  EXPECT_DOUBLE_EQ(users["layers"]["l1"]["latency"]["p99"].get<double>(), 1.2e-6);
  EXPECT_TRUE(users["layers"]["l1"]["latency"]["p999"].is_null());  // NaN: no observation
  EXPECT_DOUBLE_EQ(users["layers"]["l1"]["latency"]["mean"].get<double>(), 5e-7);
  EXPECT_TRUE(users["layers"]["l2"]["latency"]["p90"].is_null());  // missing metric
  EXPECT_DOUBLE_EQ(users["load_latency"]["p99"].get<double>(), 0.035);
  EXPECT_EQ(users["l1_entries"], 1234);
  EXPECT_EQ(users["l1_bytes"], 5242880);
  EXPECT_EQ(users["breaker"], "closed");
  EXPECT_EQ(users["stale_served"], 5);
  EXPECT_EQ(users["lease_waits"], 2);
  EXPECT_EQ(users["evictions"]["size"], 17);
  EXPECT_TRUE(users["evictions"]["explicit"].is_null());

  ASSERT_EQ(s["writers"].size(), 1u);
  EXPECT_EQ(s["writers"][0]["writer"], "users-wb");
  EXPECT_EQ(s["writers"][0]["queue_depth"], 12);
  EXPECT_DOUBLE_EQ(s["writers"][0]["oldest_age_seconds"].get<double>(), 0.035);
  EXPECT_EQ(s["writers"][0]["dead_letters"], 1);
}

TEST(StatsCommand, PrintsATableAndRefreshesWithWatch) {
  MetricsServer server(kExposition);
  const auto once = strata_run("stats --metrics " + server.url());
  ASSERT_EQ(once.exit_code, 0) << once.output;
  EXPECT_NE(once.output.find("cache users"), std::string::npos) << once.output;
  EXPECT_NE(once.output.find("l1      900         100         0        90.0%"), std::string::npos)
      << once.output;
  EXPECT_NE(once.output.find("1234 entries, 5.0 MiB"), std::string::npos) << once.output;
  EXPECT_NE(once.output.find("users-wb        12        35.00ms     1"), std::string::npos)
      << once.output;
  EXPECT_NE(once.output.find("1 malformed lines skipped"), std::string::npos);

  const auto watched =
      strata_run("stats --metrics " + server.url() + " --watch --interval 0.05 --count 3");
  ASSERT_EQ(watched.exit_code, 0) << watched.output;
  std::size_t tables = 0;
  for (std::size_t p = 0; (p = watched.output.find("cache users", p)) != std::string::npos; ++p) {
    ++tables;
  }
  EXPECT_EQ(tables, 3u);
  EXPECT_NE(watched.output.find("req/s"), std::string::npos);  // rates from the 2nd refresh
}

TEST(StatsCommand, ReportsAnUnreachableOrWrongEndpoint) {
  MetricsServer server(kExposition);
  const auto wrong = strata_run("stats --metrics " + server.url("/nothing") + " 2>&1");
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.output.find("HTTP 404"), std::string::npos) << wrong.output;
  const auto empty = strata_run("stats --metrics " + server.url("/") + " 2>&1");
  // "/" means the default path /metrics.
  EXPECT_EQ(empty.exit_code, 0) << empty.output;
  const auto https = strata_run("stats --metrics https://127.0.0.1:1/metrics 2>&1");
  EXPECT_EQ(https.exit_code, 2);
}

}  // namespace
}  // namespace strata::testing
