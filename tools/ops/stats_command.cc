#include "ops/stats_command.h"

#include <httplib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>

#include "ops/ops_context.h"
#include "strata/error.h"

namespace strata::ops {

namespace {

constexpr const char* kLayers[] = {"l1", "l2", "source"};
constexpr const char* kResults[] = {"hit", "miss", "error"};
constexpr const char* kResultFields[] = {"hits", "misses", "errors"};
constexpr const char* kQuantiles[] = {"0.5", "0.9", "0.99", "0.999"};
constexpr const char* kQuantileNames[] = {"p50", "p90", "p99", "p999"};
constexpr const char* kEvictionCauses[] = {"size", "expired", "explicit", "replaced"};

Json opt(std::optional<double> v) {
  return v && std::isfinite(*v) ? Json(*v) : Json();
}

// {p50, p90, p99, p999, mean, count} of a summary, null where missing.
Json summary_json(const Exposition& e, const std::string& name, Labels labels) {
  Json out = Json::object();
  for (std::size_t i = 0; i < std::size(kQuantiles); ++i) {
    Labels q = labels;
    q["quantile"] = kQuantiles[i];
    out[kQuantileNames[i]] = opt(e.value(name, q));
  }
  const auto sum = e.value(name + "_sum", labels);
  const auto count = e.value(name + "_count", labels);
  out["count"] = opt(count);
  out["mean"] = (sum && count && *count > 0) ? Json(*sum / *count) : Json();
  return out;
}

double requests(const Exposition& e, const std::string& cache, const char* layer) {
  double total = 0;
  for (const char* result : kResults) {
    total += e.value("strata_cache_requests_total",
                     {{"cache", cache}, {"layer", layer}, {"result", result}})
                 .value_or(0);
  }
  return total;
}

std::string fmt_seconds(const Json& v) {
  if (v.is_null()) return "-";
  const double s = v.get<double>();
  char buf[32];
  if (s < 1e-3) {
    std::snprintf(buf, sizeof buf, "%.1fus", s * 1e6);
  } else if (s < 1) {
    std::snprintf(buf, sizeof buf, "%.2fms", s * 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.2fs", s);
  }
  return buf;
}

std::string fmt_count(const Json& v) {
  if (v.is_null()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f", v.get<double>());
  return buf;
}

std::string fmt_ratio(const Json& v) {
  if (v.is_null()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", v.get<double>() * 100);
  return buf;
}

std::string fmt_bytes(const Json& v) {
  if (v.is_null()) return "-";
  const double b = v.get<double>();
  char buf[32];
  if (b < 1024) {
    std::snprintf(buf, sizeof buf, "%.0f B", b);
  } else if (b < 1024.0 * 1024) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024);
  } else if (b < 1024.0 * 1024 * 1024) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1024.0 * 1024));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f GiB", b / (1024.0 * 1024 * 1024));
  }
  return buf;
}

// A label value for a terminal (control bytes and bytes that are not UTF-8 escaped).
std::string printable(const std::string& s) {
  return escape_terminal(s);
}

std::string pad(std::string s, std::size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

}  // namespace

std::string fetch_metrics(const std::string& full_url, std::chrono::milliseconds timeout) {
  const std::string url = redact_url(full_url);  // what messages may show
  std::string rest = full_url;
  std::string scheme = "http";
  if (const auto p = rest.find("://"); p != std::string::npos) {
    scheme = rest.substr(0, p);
    rest = rest.substr(p + 3);
  }
  if (scheme != "http") {
    throw InvalidArgumentError("--metrics: only http:// URLs are supported, got " + url);
  }
  std::string path = "/metrics";
  if (const auto slash = rest.find('/'); slash != std::string::npos) {
    if (slash + 1 < rest.size()) path = rest.substr(slash);
    rest = rest.substr(0, slash);
  }
  std::string user;
  std::string password;
  if (const auto at = rest.rfind('@'); at != std::string::npos) {  // http://user:password@host
    const std::string info = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const auto colon = info.find(':');
    user = info.substr(0, colon);
    if (colon != std::string::npos) password = info.substr(colon + 1);
  }
  if (rest.empty()) throw InvalidArgumentError("--metrics: no host in " + url);
  httplib::Client client("http://" + rest);
  if (!user.empty() || !password.empty()) client.set_basic_auth(user, password);
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(timeout);
  const auto usecs = std::chrono::duration_cast<std::chrono::microseconds>(timeout - secs);
  client.set_connection_timeout(secs.count(), usecs.count());
  client.set_read_timeout(secs.count(), usecs.count());
  auto response = client.Get(path);
  if (!response) {
    throw UnavailableError("GET " + url + ": " + httplib::to_string(response.error()));
  }
  if (response->status != 200) {
    throw UnavailableError("GET " + url + ": HTTP " + std::to_string(response->status));
  }
  return response->body;
}

Json summarize_metrics(const Exposition& e, const Exposition* previous, double seconds) {
  std::set<std::string> caches;
  std::set<std::string> writers;
  for (const auto& s : e.samples) {
    if (s.name.rfind("strata_cache_", 0) == 0) {
      if (auto it = s.labels.find("cache"); it != s.labels.end()) caches.insert(it->second);
    } else if (s.name.rfind("strata_write_behind_", 0) == 0) {
      if (auto it = s.labels.find("writer"); it != s.labels.end()) writers.insert(it->second);
    }
  }
  Json out{{"caches", Json::array()},
           {"writers", Json::array()},
           {"samples", e.samples.size()},
           {"skipped_lines", e.skipped_lines}};
  if (!e.first_error.empty()) out["parse_error"] = e.first_error;
  for (const auto& cache : caches) {
    const Labels c{{"cache", cache}};
    Json layers = Json::object();
    for (const char* layer : kLayers) {
      Json l = Json::object();
      bool any = false;
      double total = 0;
      for (std::size_t i = 0; i < std::size(kResults); ++i) {
        const auto v = e.value("strata_cache_requests_total",
                               {{"cache", cache}, {"layer", layer}, {"result", kResults[i]}});
        any = any || v.has_value();
        total += v.value_or(0);
        l[kResultFields[i]] = opt(v);
      }
      const double hits = l["hits"].is_null() ? 0 : l["hits"].get<double>();
      const double misses = l["misses"].is_null() ? 0 : l["misses"].get<double>();
      l["hit_ratio"] = hits + misses > 0 ? Json(hits / (hits + misses)) : Json();
      if (previous != nullptr && seconds > 0) {
        l["requests_per_sec"] = std::max(0.0, total - requests(*previous, cache, layer)) / seconds;
      }
      l["latency"] =
          summary_json(e, "strata_cache_get_latency_seconds", {{"cache", cache}, {"layer", layer}});
      if (!any && l["latency"]["count"].is_null()) continue;  // the cache has no such layer
      layers[layer] = std::move(l);
    }
    Json evictions = Json::object();
    for (const char* cause : kEvictionCauses) {
      evictions[cause] =
          opt(e.value("strata_cache_evictions_total", {{"cache", cache}, {"cause", cause}}));
    }
    Json breaker;
    if (const auto b = e.value("strata_cache_l2_breaker_state", c)) {
      breaker = *b == 0 ? "closed" : *b == 1 ? "half-open" : *b == 2 ? "open" : "unknown";
    }
    out["caches"].push_back(
        Json{{"cache", cache},
             {"layers", std::move(layers)},
             {"load_latency", summary_json(e, "strata_cache_load_latency_seconds", c)},
             {"l1_entries", opt(e.value("strata_cache_l1_entries", c))},
             {"l1_bytes", opt(e.value("strata_cache_l1_bytes", c))},
             {"breaker", breaker},
             {"stale_served", opt(e.value("strata_cache_stale_served_total", c))},
             {"lease_waits", opt(e.value("strata_cache_lease_waits_total", c))},
             {"evictions", std::move(evictions)}});
  }
  for (const auto& writer : writers) {
    const Labels w{{"writer", writer}};
    out["writers"].push_back(
        Json{{"writer", writer},
             {"queue_depth", opt(e.value("strata_write_behind_queue_depth", w))},
             {"oldest_age_seconds", opt(e.value("strata_write_behind_oldest_age_seconds", w))},
             {"dead_letters", opt(e.value("strata_write_behind_dead_letters", w))}});
  }
  return out;
}

std::string render_stats(const Json& s) {
  std::ostringstream out;
  if (s.contains("url")) out << "strata stats  " << printable(s["url"].get<std::string>()) << '\n';
  if (s["caches"].empty() && s["writers"].empty()) {
    out << "no strata_cache_* or strata_write_behind_* metrics found (" << s["samples"].get<int>()
        << " samples)\n";
  }
  for (const auto& c : s["caches"]) {
    out << "\ncache " << printable(c["cache"].get<std::string>()) << '\n';
    out << "  " << pad("layer", 8) << pad("hits", 12) << pad("misses", 12) << pad("errors", 9)
        << pad("hit ratio", 11);
    const bool rates = !c["layers"].empty() && c["layers"].begin()->contains("requests_per_sec");
    if (rates) out << pad("req/s", 10);
    out << pad("p50", 10) << pad("p90", 10) << pad("p99", 10) << "p99.9\n";
    for (const auto& [layer, l] : c["layers"].items()) {
      out << "  " << pad(layer, 8) << pad(fmt_count(l["hits"]), 12)
          << pad(fmt_count(l["misses"]), 12) << pad(fmt_count(l["errors"]), 9)
          << pad(fmt_ratio(l["hit_ratio"]), 11);
      if (rates) out << pad(fmt_count(l.value("requests_per_sec", Json())), 10);
      const Json& lat = l["latency"];
      out << pad(fmt_seconds(lat["p50"]), 10) << pad(fmt_seconds(lat["p90"]), 10)
          << pad(fmt_seconds(lat["p99"]), 10) << fmt_seconds(lat["p999"]) << '\n';
    }
    const Json& load = c["load_latency"];
    out << "  loads    " << fmt_count(load["count"]) << "  p50 " << fmt_seconds(load["p50"])
        << "  p99 " << fmt_seconds(load["p99"]) << "  p99.9 " << fmt_seconds(load["p999"]) << '\n';
    out << "  L1       " << fmt_count(c["l1_entries"]) << " entries, " << fmt_bytes(c["l1_bytes"])
        << "   breaker " << (c["breaker"].is_null() ? "-" : c["breaker"].get<std::string>())
        << "   stale served " << fmt_count(c["stale_served"]) << "   lease waits "
        << fmt_count(c["lease_waits"]) << '\n';
    out << "  evicted ";
    for (const auto& [cause, n] : c["evictions"].items())
      out << " " << cause << " " << fmt_count(n);
    out << '\n';
  }
  if (!s["writers"].empty()) {
    out << "\nwrite-behind\n  " << pad("writer", 16) << pad("queue", 10) << pad("oldest", 12)
        << "dead letters\n";
    for (const auto& w : s["writers"]) {
      out << "  " << pad(printable(w["writer"].get<std::string>()), 16)
          << pad(fmt_count(w["queue_depth"]), 10) << pad(fmt_seconds(w["oldest_age_seconds"]), 12)
          << fmt_count(w["dead_letters"]) << '\n';
    }
  }
  if (s["skipped_lines"].get<std::size_t>() > 0) {
    out << "\n(" << s["skipped_lines"].get<std::size_t>()
        << " malformed lines skipped; first: " << s.value("parse_error", std::string()) << ")\n";
  }
  return out.str();
}

}  // namespace strata::ops
