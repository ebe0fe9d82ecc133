#include "bench/redis/redis_bench.h"

#include <hiredis/hiredis.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "common/rounds.h"
#include "common/stats.h"
#include "common/text_table.h"
#include "strata/codec/json.h"
#include "strata/error.h"
#include "strata/redis/key_slot.h"
#include "strata/redis/redis_client.h"
#include "strata/redis/redis_url.h"

namespace strata::bench {
namespace {

using Clock = std::chrono::steady_clock;

// --- raw hiredis, as a careful user would write it -----------------------------------------

struct ContextDeleter {
  void operator()(redisContext* c) const noexcept { redisFree(c); }
};
using Context = std::unique_ptr<redisContext, ContextDeleter>;
struct ReplyDeleter {
  void operator()(void* r) const noexcept { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

Reply take_reply(redisContext* c) {
  void* raw = nullptr;
  if (redisGetReply(c, &raw) != REDIS_OK || raw == nullptr) {
    throw UnavailableError(std::string("raw hiredis: ") + c->errstr);
  }
  Reply reply(static_cast<redisReply*>(raw));
  if (reply->type == REDIS_REPLY_ERROR) throw ReplyError(std::string("raw hiredis: ") + reply->str);
  return reply;
}

Reply raw_command(redisContext* c, std::initializer_list<std::string_view> args) {
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  for (auto a : args) {
    ptrs.push_back(a.data());
    lens.push_back(a.size());
  }
  redisAppendCommandArgv(c, static_cast<int>(ptrs.size()), ptrs.data(), lens.data());
  return take_reply(c);
}

Context raw_connect(const RedisEndpoint& endpoint, const RedisUrl& url) {
  timeval connect{static_cast<time_t>(url.connect_timeout.count() / 1000),
                  static_cast<suseconds_t>(url.connect_timeout.count() % 1000 * 1000)};
  Context c(redisConnectWithTimeout(endpoint.host.c_str(), endpoint.port, connect));
  if (!c || c->err) {
    throw UnavailableError("raw hiredis: cannot connect to " + endpoint.host + ":" +
                           std::to_string(endpoint.port));
  }
  timeval command{static_cast<time_t>(url.command_timeout.count() / 1000),
                  static_cast<suseconds_t>(url.command_timeout.count() % 1000 * 1000)};
  redisSetTimeout(c.get(), command);
  if (!url.password.empty()) {
    if (url.user.empty()) {
      (void)raw_command(c.get(), {"AUTH", url.password});
    } else {
      (void)raw_command(c.get(), {"AUTH", url.user, url.password});
    }
  }
  if (url.db != 0) (void)raw_command(c.get(), {"SELECT", std::to_string(url.db)});
  return c;
}

// One hiredis context per node; a slot table for a cluster (loaded once, before measuring).
class RawRedis {
 public:
  explicit RawRedis(const RedisUrl& url) {
    contexts_.push_back(raw_connect(url.nodes.front(), url));
    slot_owner_.assign(kClusterSlots, contexts_.front().get());
    if (!url.cluster) return;
    const Reply slots = raw_command(contexts_.front().get(), {"CLUSTER", "SLOTS"});
    std::map<std::pair<std::string, long long>, redisContext*> by_address;
    for (std::size_t i = 0; i < slots->elements; ++i) {
      const redisReply* range = slots->element[i];
      const redisReply* master = range->element[2];
      const std::pair<std::string, long long> address(master->element[0]->str,
                                                      master->element[1]->integer);
      auto& context = by_address[address];
      if (context == nullptr) {
        contexts_.push_back(
            raw_connect({address.first, static_cast<std::uint16_t>(address.second)}, url));
        context = contexts_.back().get();
      }
      for (long long s = range->element[0]->integer; s <= range->element[1]->integer; ++s) {
        slot_owner_[static_cast<std::size_t>(s)] = context;
      }
    }
    cluster_ = true;
  }

  redisContext* for_key(std::string_view key) const {
    return cluster_ ? slot_owner_[static_cast<std::size_t>(key_slot(key))] : slot_owner_[0];
  }

  void get(std::string_view key) {
    const char* argv[] = {"GET", key.data()};
    const size_t lens[] = {3, key.size()};
    Reply reply(static_cast<redisReply*>(redisCommandArgv(for_key(key), 2, argv, lens)));
    if (!reply || reply->type != REDIS_REPLY_STRING)
      throw UnavailableError("raw hiredis: GET failed");
  }

  void set(std::string_view key, std::string_view value) {
    const char* argv[] = {"SET", key.data(), value.data()};
    const size_t lens[] = {3, key.size(), value.size()};
    Reply reply(static_cast<redisReply*>(redisCommandArgv(for_key(key), 3, argv, lens)));
    if (!reply || reply->type != REDIS_REPLY_STATUS)
      throw UnavailableError("raw hiredis: SET failed");
  }

  // A pipeline of GETs: appended per node, every node written, then every reply read.
  void get_pipeline(std::span<const std::string_view> keys) {
    pending_.clear();
    for (const auto key : keys) {
      const char* argv[] = {"GET", key.data()};
      const size_t lens[] = {3, key.size()};
      redisContext* c = for_key(key);
      redisAppendCommandArgv(c, 2, argv, lens);
      add_pending(c, 1);
    }
    drain();
  }

  // MGET: one per slot (one in all for a standalone server), pipelined per node.
  void mget(std::span<const std::string_view> keys) {
    pending_.clear();
    if (!cluster_) {
      send_mget(keys);
    } else {
      sorted_.clear();
      for (const auto key : keys) sorted_.emplace_back(key_slot(key), key);
      std::sort(sorted_.begin(), sorted_.end());
      std::size_t first = 0;
      for (std::size_t i = 1; i <= sorted_.size(); ++i) {
        if (i == sorted_.size() || sorted_[i].first != sorted_[first].first) {
          group_.clear();
          for (std::size_t k = first; k < i; ++k) group_.push_back(sorted_[k].second);
          send_mget(group_);
          first = i;
        }
      }
    }
    drain();
  }

 private:
  void send_mget(std::span<const std::string_view> keys) {
    argv_.assign(1, "MGET");
    lens_.assign(1, 4);
    for (const auto key : keys) {
      argv_.push_back(key.data());
      lens_.push_back(key.size());
    }
    redisContext* c = for_key(keys.front());
    redisAppendCommandArgv(c, static_cast<int>(argv_.size()), argv_.data(), lens_.data());
    add_pending(c, 1);
  }
  void add_pending(redisContext* c, int n) {
    for (auto& [context, count] : pending_) {
      if (context == c) {
        count += n;
        return;
      }
    }
    pending_.emplace_back(c, n);
  }
  void drain() {
    for (auto& [c, count] : pending_) {
      int done = 0;
      while (!done) {
        if (redisBufferWrite(c, &done) != REDIS_OK)
          throw UnavailableError("raw hiredis: write failed");
      }
    }
    for (auto& [c, count] : pending_) {
      for (int i = 0; i < count; ++i) (void)take_reply(c);
    }
  }

  std::vector<Context> contexts_;
  std::vector<redisContext*> slot_owner_;
  bool cluster_ = false;
  std::vector<std::pair<redisContext*, int>> pending_;
  std::vector<std::pair<int, std::string_view>> sorted_;
  std::vector<std::string_view> group_;
  std::vector<const char*> argv_;
  std::vector<size_t> lens_;
};

// --- measuring ------------------------------------------------------------------------------

template <typename Op>
double ops_per_sec(int count, Op&& op) {
  const auto start = Clock::now();
  for (int i = 0; i < count; ++i) op(i);
  const std::chrono::duration<double> elapsed = Clock::now() - start;
  return count / std::max(elapsed.count(), 1e-9);
}

struct Samples {
  std::vector<double> strata, raw, ratio;
};

// One round of two contenders in the order of tools::round_order (side 0 first in even
// rounds): measure(side) gives a side's ops/s; both and their ratio go into `s`.
template <typename Measure>
void measure_round(Samples& s, std::size_t round, Measure&& measure) {
  double ops[2] = {0, 0};
  for (const std::size_t side : tools::round_order(round, 2)) ops[side] = measure(side);
  s.strata.push_back(ops[0]);
  s.raw.push_back(ops[1]);
  s.ratio.push_back(ops[0] / ops[1]);
}

// measure_round of `count` calls of a (side 0) against `count` calls of b (side 1).
template <typename A, typename B>
void pair_round(Samples& s, int count, const A& a, const B& b, std::size_t round) {
  measure_round(s, round, [&](std::size_t side) {
    return side == 0 ? ops_per_sec(count, a) : ops_per_sec(count, b);
  });
}

// The keys a section writes (and deletes at the end), under its own tag.
std::vector<std::string> bench_keys(const std::string& tag, int count) {
  const std::string prefix = "strata-bench:redis:" + std::to_string(::getpid()) + ":" + tag + ":";
  std::vector<std::string> keys;
  for (int i = 0; i < count; ++i) keys.push_back(prefix + std::to_string(i));
  return keys;
}

void fill(RedisClient& client, const std::vector<std::string>& keys, const std::string& value) {
  std::vector<KeyValueView> items;
  for (const auto& k : keys) items.emplace_back(k, value);
  client.set_many(items, std::chrono::minutes(10));
}

void drop(RedisClient& client, const std::vector<std::string>& keys) {
  std::vector<std::string_view> views(keys.begin(), keys.end());
  (void)client.del(views);
}

RedisBenchTarget run_target(const std::string& name, const std::string& url_text,
                            const RedisBenchOptions& options) {
  RedisUrl url = parse_redis_url(url_text);
  url.pool_size = 1;  // one connection per node, like the raw side
  RedisBenchTarget target{name, url.redacted(), {}};
  RedisClient strata(url);
  RawRedis raw(url);

  const std::vector<std::string> keys = bench_keys("ops", options.keyspace);
  const std::string value(static_cast<std::size_t>(options.value_size), 'v');
  fill(strata, keys, value);

  // 16 distinct MGET key sets, cycled.
  std::vector<std::vector<std::string_view>> batches(16);
  for (std::size_t b = 0; b < batches.size(); ++b) {
    for (int j = 0; j < options.mget_keys; ++j) {
      batches[b].push_back(keys[(b * 37 + static_cast<std::size_t>(j) * 7) % keys.size()]);
    }
  }
  auto key_of = [&](int i) -> const std::string& {
    return keys[static_cast<std::size_t>(i) % keys.size()];
  };
  const auto strata_get = [&](int i) {
    if (!strata.get(key_of(i))) throw InternalError("bench: missing key");
  };
  const auto raw_get = [&](int i) { raw.get(key_of(i)); };
  const auto strata_set = [&](int i) { strata.set(key_of(i), value); };
  const auto raw_set = [&](int i) { raw.set(key_of(i), value); };
  const auto strata_mget = [&](int i) {
    (void)strata.mget(batches[static_cast<std::size_t>(i) % batches.size()]);
  };
  const auto raw_pipeline = [&](int i) {
    raw.get_pipeline(batches[static_cast<std::size_t>(i) % batches.size()]);
  };
  const auto raw_mget = [&](int i) {
    raw.mget(batches[static_cast<std::size_t>(i) % batches.size()]);
  };

  // Warm up both sides (connections, slot maps, caches).
  const int warm = std::max(1, options.operations / 10);
  ops_per_sec(warm, strata_get), ops_per_sec(warm, raw_get);
  ops_per_sec(std::max(1, options.mget_batches / 10), strata_mget);
  ops_per_sec(std::max(1, options.mget_batches / 10), raw_pipeline);

  Samples get, set, pipeline, mget;
  // strata and raw in the order of tools::round_order (strata first in even rounds); the MGET
  // comparisons pass round + 1, so they do not both start with strata.
  for (std::size_t round = 0; round < static_cast<std::size_t>(options.rounds); ++round) {
    pair_round(get, options.operations, strata_get, raw_get, round);
    pair_round(set, options.operations, strata_set, raw_set, round);
    pair_round(pipeline, options.mget_batches, strata_mget, raw_pipeline, round);
    pair_round(mget, options.mget_batches, strata_mget, raw_mget, round + 1);
  }
  drop(strata, keys);

  auto row = [](std::string op, std::string baseline, const Samples& s, bool like_for_like) {
    return RedisBenchRow{std::move(op),        std::move(baseline),    tools::median(s.strata),
                         tools::median(s.raw), tools::median(s.ratio), like_for_like};
  };
  const std::string n = std::to_string(options.mget_keys);
  target.rows.push_back(row("GET", "hiredis GET", get, true));
  target.rows.push_back(row("SET", "hiredis SET", set, true));
  target.rows.push_back(row("MGET",
                            name == "cluster" ? "hiredis pipeline of " + n + " GETs, per node"
                                              : "hiredis pipeline of " + n + " GETs",
                            pipeline, false));
  target.rows.push_back(
      row("MGET", name == "cluster" ? "hiredis MGET per slot, pipelined per node" : "hiredis MGET",
          mget, true));
  return target;
}

// Each of `threads` threads runs op(thread, i) for i in [0, count); returns the total ops/s.
template <typename Op>
double threaded_ops_per_sec(int threads, int count, const Op& op) {
  std::vector<std::thread> workers;
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      try {
        for (int i = 0; i < count; ++i) op(t, i);
      } catch (...) {
        std::lock_guard lock(failure_mutex);
        if (!failure) failure = std::current_exception();
      }
    });
  }
  while (ready.load() < threads) std::this_thread::yield();
  const auto start = Clock::now();
  go.store(true, std::memory_order_release);
  for (auto& w : workers) w.join();
  const std::chrono::duration<double> elapsed = Clock::now() - start;
  if (failure) std::rethrow_exception(failure);
  return static_cast<double>(threads) * count / std::max(elapsed.count(), 1e-9);
}

RedisThreadedRow run_threaded(const std::string& name, const std::string& url_text,
                              const RedisBenchOptions& options) {
  RedisUrl url = parse_redis_url(url_text);
  url.pool_size = options.threads;  // the pooled client: a connection per caller at most
  url.multiplex = true;
  RedisClient multiplexed(url);
  RedisUrl pooled_url = url;
  pooled_url.multiplex = false;
  RedisClient pooled(pooled_url);
  std::vector<std::unique_ptr<RawRedis>> raw;
  for (int t = 0; t < options.threads; ++t) raw.push_back(std::make_unique<RawRedis>(url));

  const std::vector<std::string> keys = bench_keys("threads", options.keyspace);
  fill(multiplexed, keys, std::string(static_cast<std::size_t>(options.value_size), 'v'));
  // Thread t reads keys t, t + threads, ...: the threads do not share a key order.
  auto key_of = [&](int t, int i) -> const std::string& {
    return keys[static_cast<std::size_t>(t + i * options.threads) % keys.size()];
  };
  const auto strata_get = [&](RedisClient& client) {
    return [&](int t, int i) {
      if (!client.get(key_of(t, i))) throw InternalError("bench: missing key");
    };
  };
  const auto multiplexed_get = strata_get(multiplexed);
  const auto pooled_get = strata_get(pooled);
  const auto raw_get = [&](int t, int i) { raw[static_cast<std::size_t>(t)]->get(key_of(t, i)); };
  const int warm = std::max(1, options.operations / 10);
  (void)threaded_ops_per_sec(options.threads, warm, multiplexed_get);
  (void)threaded_ops_per_sec(options.threads, warm, pooled_get);
  (void)threaded_ops_per_sec(options.threads, warm, raw_get);

  // The three sides in turn, in an order that rotates every round (tools::round_order).
  std::vector<double> ops[3], ratio, pooled_ratio;
  tools::alternate_rounds(
      static_cast<std::size_t>(options.rounds), 3,
      [&](std::size_t, std::size_t side) {
        const int n = options.operations;
        ops[side].push_back(side == 0   ? threaded_ops_per_sec(options.threads, n, multiplexed_get)
                            : side == 1 ? threaded_ops_per_sec(options.threads, n, pooled_get)
                                        : threaded_ops_per_sec(options.threads, n, raw_get));
      },
      [&](std::size_t round) {
        ratio.push_back(ops[0][round] / ops[2][round]);
        pooled_ratio.push_back(ops[1][round] / ops[2][round]);
      });
  drop(multiplexed, keys);
  RedisThreadedRow row;
  row.target = name;
  row.threads = options.threads;
  row.multiplexed_ops_per_sec = tools::median(ops[0]);
  row.strata_pooled_ops_per_sec = tools::median(ops[1]);
  row.pool_ops_per_sec = tools::median(ops[2]);
  row.ratio = tools::median(ratio);
  row.pooled_ratio = tools::median(pooled_ratio);
  return row;
}

// INFO server's run_id (empty when absent): tells whether two URLs reach one server.
std::string run_id(RedisClient& client) {
  const RedisReply reply = client.command({"INFO", "server"});
  const std::string& text = reply.str;
  const auto at = text.find("run_id:");
  if (at == std::string::npos) return {};
  const auto end = text.find_first_of("\r\n", at);
  return text.substr(at + 7, end == std::string::npos ? std::string::npos : end - at - 7);
}

RedisTlsSection run_tls(const RedisBenchOptions& options) {
  RedisUrl tls_url = parse_redis_url(options.tls_url);
  RedisUrl plain_url = parse_redis_url(options.redis_url);
  if (!tls_url.tls.enabled || tls_url.cluster || tls_url.sentinel) {
    throw InvalidArgumentError("--tls takes one server's rediss:// URL (compared with --redis)");
  }
  tls_url.pool_size = 1;
  plain_url.pool_size = 1;
  RedisClient tls(tls_url);
  RedisClient plain(plain_url);
  RedisTlsSection section;
  section.tls_url = tls_url.redacted();
  section.plain_url = plain_url.redacted();
  const std::string id = run_id(tls);
  section.same_server = !id.empty() && id == run_id(plain);

  const std::vector<std::string> keys = bench_keys("tls", options.keyspace);
  const std::string value(static_cast<std::size_t>(options.value_size), 'v');
  fill(plain, keys, value);
  if (!section.same_server) fill(tls, keys, value);
  std::vector<std::vector<std::string_view>> batches(16);
  for (std::size_t b = 0; b < batches.size(); ++b) {
    for (int j = 0; j < options.mget_keys; ++j) {
      batches[b].push_back(keys[(b * 37 + static_cast<std::size_t>(j) * 7) % keys.size()]);
    }
  }
  auto key_of = [&](int i) -> const std::string& {
    return keys[static_cast<std::size_t>(i) % keys.size()];
  };
  auto get = [&](RedisClient& c) {
    return [&c, &key_of](int i) {
      if (!c.get(key_of(i))) throw InternalError("bench: missing key");
    };
  };
  auto set = [&](RedisClient& c) {
    return [&c, &key_of, &value](int i) { c.set(key_of(i), value); };
  };
  auto mget = [&](RedisClient& c) {
    return [&c, &batches](int i) {
      (void)c.mget(batches[static_cast<std::size_t>(i) % batches.size()]);
    };
  };
  const int warm = std::max(1, options.operations / 10);
  ops_per_sec(warm, get(tls)), ops_per_sec(warm, get(plain));

  Samples g, st, m;
  for (std::size_t round = 0; round < static_cast<std::size_t>(options.rounds); ++round) {
    pair_round(g, options.operations, get(tls), get(plain), round);
    pair_round(st, options.operations, set(tls), set(plain), round);
    pair_round(m, options.mget_batches, mget(tls), mget(plain), round + 1);
  }
  drop(plain, keys);
  if (!section.same_server) drop(tls, keys);
  auto row = [](std::string op, const Samples& s) {
    return RedisBenchRow{std::move(op),        "strata over plaintext", tools::median(s.strata),
                         tools::median(s.raw), tools::median(s.ratio),  true};
  };
  section.rows = {row("GET", g), row("SET", st), row("MGET", m)};
  return section;
}

}  // namespace

void RedisBenchOptions::validate() const {
  auto positive = [](int value, const char* option) {
    if (value < 1) throw InvalidArgumentError(std::string(option) + " must be at least 1");
  };
  positive(rounds, "--rounds");
  positive(operations, "--operations");
  positive(mget_batches, "--mget-batches");
  positive(mget_keys, "--mget-keys");
  positive(value_size, "--value-size");
  positive(keyspace, "--keys");
  if (redis_url.empty() && cluster_url.empty()) {
    throw InvalidArgumentError("give --redis URL and/or --redis-cluster URL");
  }
  if (threads != 0 && (threads < 2 || threads > 256)) {
    throw InvalidArgumentError("--threads must be between 2 and 256 (or 0: no threaded section)");
  }
  if (!tls_url.empty() && redis_url.empty()) {
    throw InvalidArgumentError("--tls is compared with --redis (the same server's plaintext port)");
  }
}

const RedisBenchRow& RedisBenchTarget::row(const std::string& op,
                                           const std::string& baseline) const {
  for (const auto& r : rows) {
    if (r.op == op && r.baseline.find(baseline) != std::string::npos) return r;
  }
  throw InternalError("redis bench: no row " + op + " vs " + baseline);
}

RedisBenchReport run_redis_bench(const RedisBenchOptions& options) {
  options.validate();
  RedisBenchReport report;
  report.options = options;
  if (!options.redis_url.empty())
    report.targets.push_back(run_target("standalone", options.redis_url, options));
  if (!options.cluster_url.empty())
    report.targets.push_back(run_target("cluster", options.cluster_url, options));
  if (options.threads != 0) {
    if (!options.redis_url.empty())
      report.threaded.push_back(run_threaded("standalone", options.redis_url, options));
    if (!options.cluster_url.empty())
      report.threaded.push_back(run_threaded("cluster", options.cluster_url, options));
  }
  if (!options.tls_url.empty()) report.tls = run_tls(options);
  return report;
}

void print_redis_bench(std::ostream& out, const RedisBenchReport& report) {
  const auto& o = report.options;
  out << "strata bench redis: " << o.rounds
      << " rounds, strata and raw hiredis alternating (medians); " << o.operations
      << " GET/SET and " << o.mget_batches << " MGET of " << o.mget_keys
      << " keys per round and side; " << o.value_size << "-byte values, " << o.keyspace
      << " keys; one connection per node on both sides\n";
  for (const auto& target : report.targets)
    out << "  " << target.name << ": " << target.url << '\n';
  out << '\n';
  // Like for like: the same commands on both sides, so the ratio is strata's overhead.
  tools::TextTable same({"target", "op", "strata ops/s", "hiredis ops/s", "ratio", "baseline"},
                        {true, true, false, false, false, true});
  // Different commands for the same result: how the two compare, not an overhead.
  tools::TextTable different(
      {"target", "op", "strata calls/s", "hiredis calls/s", "strata/hiredis", "hiredis did"},
      {true, true, false, false, false, true});
  for (const auto& target : report.targets) {
    for (const auto& r : target.rows) {
      (r.like_for_like ? same : different)
          .add({target.name, r.op, tools::fixed(r.strata_ops_per_sec, 0),
                tools::fixed(r.raw_ops_per_sec, 0), tools::fixed(r.ratio, 2), r.baseline});
    }
  }
  same.print(out);
  out << "\nratio = strata ops/s / hiredis ops/s, the same commands on both sides (median of "
         "per-round ratios): strata's overhead; MGET ops are calls of "
      << o.mget_keys << " keys.\n";
  out << "\nNot like for like (strata's MGET against a raw pipeline of the same GETs: different "
         "commands, so not an overhead ratio):\n";
  different.print(out);
  if (!report.threaded.empty()) {
    out << "\nGET from " << o.threads
        << " threads: one shared strata RedisClient, multiplexed (one "
           "connection per node, automatic pipelining) and pooled (multiplex=false, a connection "
           "per caller), against "
        << o.threads << " raw hiredis connections, one per thread (" << o.operations
        << " GETs per thread and round; ratios are medians of per-round ratios):\n";
    tools::TextTable threaded({"target", "threads", "multiplexed ops/s", "strata pooled ops/s",
                               "hiredis pool ops/s", "multiplexed/pool", "strata pooled/pool"},
                              {true, false, false, false, false, false, false});
    for (const auto& r : report.threaded) {
      threaded.add({r.target, std::to_string(r.threads), tools::fixed(r.multiplexed_ops_per_sec, 0),
                    tools::fixed(r.strata_pooled_ops_per_sec, 0),
                    tools::fixed(r.pool_ops_per_sec, 0), tools::fixed(r.ratio, 2),
                    tools::fixed(r.pooled_ratio, 2)});
    }
    threaded.print(out);
  }
  if (report.tls) {
    const auto& t = *report.tls;
    out << "\nTLS: strata over " << t.tls_url << " against strata over " << t.plain_url << " ("
        << (t.same_server ? "the same server, by run_id" : "NOT the same server: different run_id")
        << "):\n";
    tools::TextTable tls({"op", "TLS ops/s", "plaintext ops/s", "TLS/plaintext"},
                         {true, false, false, false});
    for (const auto& r : t.rows) {
      tls.add({r.op, tools::fixed(r.strata_ops_per_sec, 0), tools::fixed(r.raw_ops_per_sec, 0),
               tools::fixed(r.ratio, 2)});
    }
    tls.print(out);
  }
}

nlohmann::json to_json(const RedisBenchReport& report) {
  const auto& o = report.options;
  nlohmann::json json = {
      {"rounds", o.rounds},       {"operations", o.operations}, {"mget_batches", o.mget_batches},
      {"mget_keys", o.mget_keys}, {"value_size", o.value_size}, {"keys", o.keyspace}};
  nlohmann::json targets = nlohmann::json::object();
  for (const auto& target : report.targets) {
    nlohmann::json t = {{"url", target.url},
                        {"get_ratio_vs_hiredis", target.row("GET", "hiredis GET").ratio},
                        {"set_ratio_vs_hiredis", target.row("SET", "hiredis SET").ratio},
                        {"mget_ratio_vs_hiredis_pipeline", target.row("MGET", "pipeline").ratio},
                        {"mget_ratio_vs_hiredis_mget", target.row("MGET", "hiredis MGET").ratio}};
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& r : target.rows) {
      rows.push_back({{"op", r.op},
                      {"baseline", r.baseline},
                      {"like_for_like", r.like_for_like},
                      {"strata_ops_per_sec", r.strata_ops_per_sec},
                      {"hiredis_ops_per_sec", r.raw_ops_per_sec},
                      {"ratio", r.ratio}});
    }
    t["rows"] = rows;
    targets[target.name] = t;
  }
  if (!report.targets.empty()) {
    const auto& first = targets[report.targets.front().name];
    json["target"] = report.targets.front().name;
    for (const char* field : {"get_ratio_vs_hiredis", "set_ratio_vs_hiredis",
                              "mget_ratio_vs_hiredis_pipeline", "mget_ratio_vs_hiredis_mget"}) {
      json[field] = first[field];
    }
  }
  json["mget_baselines"] =
      "mget: raw hiredis MGET (one per slot, pipelined per node, in a cluster), like for like: "
      "mget_ratio_vs_hiredis_mget is strata's overhead; pipeline: raw hiredis pipeline of the "
      "same GETs (per node in a cluster), different commands: mget_ratio_vs_hiredis_pipeline "
      "compares MGET with a GET pipeline and is not an overhead ratio";
  json["targets"] = targets;
  if (!report.threaded.empty()) {
    const auto& first = report.threaded.front();
    json["threads"] = first.threads;
    json["multiplexed_get_ops_per_sec"] = first.multiplexed_ops_per_sec;
    json["strata_pooled_get_ops_per_sec"] = first.strata_pooled_ops_per_sec;
    json["pool_get_ops_per_sec"] = first.pool_ops_per_sec;
    json["multiplexed_ratio_vs_pool"] = first.ratio;
    json["strata_pooled_ratio_vs_pool"] = first.pooled_ratio;
    nlohmann::json rows = nlohmann::json::object();
    for (const auto& r : report.threaded) {
      rows[r.target] = {{"threads", r.threads},
                        {"multiplexed_get_ops_per_sec", r.multiplexed_ops_per_sec},
                        {"strata_pooled_get_ops_per_sec", r.strata_pooled_ops_per_sec},
                        {"pool_get_ops_per_sec", r.pool_ops_per_sec},
                        {"multiplexed_ratio_vs_pool", r.ratio},
                        {"strata_pooled_ratio_vs_pool", r.pooled_ratio}};
    }
    json["threaded"] = rows;
  }
  if (report.tls) {
    const auto& t = *report.tls;
    json["tls_url"] = t.tls_url;
    json["tls_same_server"] = t.same_server;
    for (const auto& r : t.rows) {
      std::string op = r.op;
      std::transform(op.begin(), op.end(), op.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      json["tls_" + op + "_ratio_vs_plain"] = r.ratio;
      json["tls_" + op + "_ops_per_sec"] = r.strata_ops_per_sec;
      json["plain_" + op + "_ops_per_sec"] = r.raw_ops_per_sec;
    }
  }
  return json;
}

}  // namespace strata::bench
