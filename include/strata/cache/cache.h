// strata/cache/cache.h: Cache<V>, strata's composed cache: an in-process L1 (LocalCache), a Redis
// or Redis Cluster L2, and a source of record, with every textbook pattern (cache-aside,
// read-through, write-through, a write-behind seam, refresh-ahead), guarded fills, negative
// caching, a circuit breaker on L2 and per-layer stats. Use it between a service and its database.
//
//   auto users = strata::CacheBuilder<User>()
//                    .local({.maximum_size = 100'000, .ttl = 1min})
//                    .remote(strata::RedisClient("redis://127.0.0.1:6379"), {.ttl = 10min})
//                    .source(strata::SqliteSource<User>({.path = "app.db"}, mapping))
//                    .key_prefix("app:user:").build();
//   std::optional<User> u = users.get("42");   // L1 -> L2 -> SQLite, filling on the way back
//   users.put("42", updated);                   // per write mode (default: write, invalidate)
//
// docs/patterns.md states each pattern's consistency guarantee and failure behaviour.
// Thread safety: every method may be called from any thread. L2 errors never reach callers
// (the read goes to the source and the breaker counts them); source errors do.
#pragma once

#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "strata/cache/bulk_result.h"
#include "strata/cache/circuit_breaker.h"
#include "strata/cache/internal/cache_state.h"
#include "strata/cache/internal/tiered_core.h"
#include "strata/cache/key_layout.h"
#include "strata/cache/tiered_stats.h"
#include "strata/cache/write_mode.h"
#include "strata/clock.h"
#include "strata/codec/codec.h"
#include "strata/codec/envelope.h"
#include "strata/coherence/coherence.h"
#include "strata/coherence/redis_tracking.h"
#include "strata/error.h"
#include "strata/executor.h"
#include "strata/invalidation/invalidation.h"
#include "strata/local/cache_stats.h"
#include "strata/local/local_cache.h"
#include "strata/metrics/latency_summary.h"
#include "strata/metrics/metrics.h"
#include "strata/redis/redis_client.h"
#include "strata/source/source.h"
#include "strata/stampede/stampede.h"

namespace strata {

// The L1 of a Cache<V> (a LocalCache built for it). Set exactly one of the two bounds.
struct LocalTierOptions {
  std::uint64_t maximum_size = 0;    // entries
  std::uint64_t maximum_weight = 0;  // bytes (key + value, see default_weight)
  std::chrono::nanoseconds ttl{0};   // zero: no expiry (refresh-ahead needs one)
  double ttl_jitter = 0;             // each TTL shortened by a random share in [0, ttl_jitter)
  PolicyKind policy = PolicyKind::kWindowTinyLfu;

  // Throws InvalidArgumentError naming the option.
  void validate() const {
    if ((maximum_size == 0) == (maximum_weight == 0)) {
      throw InvalidArgumentError(
          "CacheBuilder: local: set exactly one of maximum_size, maximum_weight");
    }
    if (ttl < std::chrono::nanoseconds::zero()) {
      throw InvalidArgumentError("CacheBuilder: local: ttl must be >= 0");
    }
    if (!(ttl_jitter >= 0.0 && ttl_jitter < 1.0)) {
      throw InvalidArgumentError("CacheBuilder: local: ttl_jitter must be within [0, 1)");
    }
  }
};

// The L2 of a Cache<V>: how long values live in Redis.
struct RemoteTierOptions {
  std::chrono::milliseconds ttl{std::chrono::minutes(10)};  // every value expires (> 0)
  double ttl_jitter = 0.1;  // each TTL shortened by a random share in [0, ttl_jitter)
  // How long a fill token (guarded fills) and a refresh lease live: longer than a source load.
  std::chrono::milliseconds fill_lease{std::chrono::seconds(10)};

  // Throws InvalidArgumentError naming the option.
  void validate() const {
    if (ttl <= std::chrono::milliseconds::zero()) {
      throw InvalidArgumentError("CacheBuilder: remote: ttl must be > 0");
    }
    if (!(ttl_jitter >= 0.0 && ttl_jitter < 1.0)) {
      throw InvalidArgumentError("CacheBuilder: remote: ttl_jitter must be within [0, 1)");
    }
    if (fill_lease <= std::chrono::milliseconds::zero()) {
      throw InvalidArgumentError("CacheBuilder: remote: fill_lease must be > 0");
    }
  }
};

template <typename V>
class CacheBuilder;

namespace internal {
struct MemoAccess;
}  // namespace internal

namespace internal {

// A Cache<V>'s link to the invalidation bus (coherence kBus) and its dependency sets: detaches
// from the bus when the last handle goes.
struct InvalidationLink {
  std::shared_ptr<InvalidationBus> bus;
  std::uint64_t id = 0;
  std::string ns;
  std::optional<DependencyIndex> dependencies;
  InvalidationLink() = default;
  InvalidationLink(const InvalidationLink&) = delete;
  InvalidationLink& operator=(const InvalidationLink&) = delete;
  ~InvalidationLink() {
    if (bus) bus->detach(id);
  }
};

// The refresh pool a Cache<V> owns when no executor() was given: stopped (joined) when the
// handle goes or is assigned over, before the layers it refreshes are released.
class OwnedExecutor {
 public:
  OwnedExecutor() = default;
  explicit OwnedExecutor(std::shared_ptr<ThreadPoolExecutor> pool) noexcept
      : pool_(std::move(pool)) {}
  OwnedExecutor(OwnedExecutor&&) noexcept = default;
  OwnedExecutor& operator=(OwnedExecutor&& other) noexcept {
    if (this != &other) {
      stop();
      pool_ = std::move(other.pool_);
    }
    return *this;
  }
  OwnedExecutor(const OwnedExecutor&) = delete;
  OwnedExecutor& operator=(const OwnedExecutor&) = delete;
  ~OwnedExecutor() { stop(); }

 private:
  void stop() noexcept {
    if (pool_) pool_->shutdown();
  }
  std::shared_ptr<ThreadPoolExecutor> pool_;
};

// Everything a CacheBuilder<V> is told; build() turns it into layers.
template <typename V>
struct BuilderConfig {
  std::optional<LocalTierOptions> local;
  std::optional<RedisClient> client;
  std::optional<RemoteTierOptions> remote;
  std::string prefix;
  BreakerOptions breaker;
  std::shared_ptr<InvalidationBus> bus;
  std::function<std::vector<std::string>(const V&)> depends_on;
  std::shared_ptr<const Clock> clock;
  std::shared_ptr<Executor> executor;
  CoreOptions core;        // what does not depend on V (the compiled engine's options)
  TypedSettings<V> typed;  // source, loader, format, write mode, sink, coherence
};

}  // namespace internal

// The composed cache. Build it with CacheBuilder<V>. Movable, not copyable; one type whatever
// layers and source it has. Values are returned by copy.
template <typename V>
class Cache {
 public:
  Cache(Cache&&) noexcept = default;
  Cache& operator=(Cache&&) noexcept = default;
  Cache(const Cache&) = delete;
  Cache& operator=(const Cache&) = delete;
  ~Cache() = default;  // owned_executor_ (declared last) stops the refresh pool first

  // Read-through: L1, then L2, then the source (or loader) on a miss, filling L2 (guarded) and
  // L1 on the way back; concurrent misses of one key share one load. nullopt when the source
  // has no value (or, without a source, on a cache miss). Throws what the source throws.
  //   std::optional<User> u = cache.get("42");
  [[nodiscard]] std::optional<V> get(std::string_view key) { return state_->get(key); }

  // Values for many keys, in request order: L1, then one MGET for the rest (one per node of a
  // cluster), then ONE load_many of the source (the function loader: once per key) for the true
  // misses, filling L2 (guarded) and L1. Single-flight per key with get() and get_or_load*()
  // (a key already loading is waited for, and the keys this call loads are waited for by
  // them). Throws the load's error if a key failed (after every key's load ended); use
  // get_or_load_many() to get the other keys' values anyway.
  //   auto users = cache.get_many(std::vector<std::string>{"1", "2", "3"});
  [[nodiscard]] std::vector<std::optional<V>> get_many(std::span<const std::string> keys) {
    return state_->get_many(keys);
  }

  // get_many() with a result per key: a failed batch load fails only the keys it was loading
  // (BulkResult::failed(), with its error); keys found in L1 or L2, or loaded by another
  // caller, keep their values. Without a source or loader: a cache-only read (misses are not
  // found).
  [[nodiscard]] std::vector<BulkResult<V>> get_or_load_many(std::span<const std::string> keys) {
    if (!state_->has_loader()) return results(state_->read_many(keys, nullptr, false));
    return results(state_->read_many(
        keys, [this](std::span<const std::string> ks) { return state_->owned_load_many(ks); },
        true));
  }

  // Cache-aside in bulk with your batch loader: L1, one MGET per node, then batch_loader ONCE
  // with the true misses (the keys no one in this process is loading already), which returns
  // one std::optional<V> per key in the order given (nullopt: not found, negative-cached if
  // configured). Single-flight per key with get(), get_or_load() and the other bulk calls, in
  // both directions. Refresh-ahead does not reuse this loader.
  //   auto r = cache.get_or_load_many(ids, [&](std::span<const std::string> misses) {
  //     return db.load_users(misses);  // std::vector<std::optional<User>>
  //   });
  template <typename BatchLoader>
  requires std::is_invocable_r_v<
      std::vector<std::optional<V>>, BatchLoader&,
      std::span<const std::string>> [[nodiscard]] std::vector<BulkResult<V>>
  get_or_load_many(std::span<const std::string> keys, BatchLoader&& batch_loader) {
    auto batch = [&](std::span<const std::string> ks) -> std::vector<std::optional<V>> {
      return batch_loader(ks);
    };
    return results(state_->read_many(keys, batch, false));
  }

  // Cache-aside with your loader: the cached value, or loader(key)'s, cached on the way back
  // (single-flight per key). A loader returning V makes this return V; one returning
  // std::optional<V> makes it return std::optional<V> (nullopt: not found, negative-cached if
  // configured). Refresh-ahead does not reuse this loader.
  //   User u = cache.get_or_load("42", [&](std::string_view id) { return db.load_user(id); });
  template <typename Loader>
  auto get_or_load(std::string_view key, Loader&& loader) {
    using Result = std::remove_cvref_t<std::invoke_result_t<Loader&, std::string_view>>;
    if constexpr (std::is_same_v<Result, std::optional<V>>) {
      return state_->read(key, loader, false);
    } else {
      static_assert(std::is_convertible_v<Result, V>, "the loader must return V or optional<V>");
      auto wrapped = [&](std::string_view k) { return std::optional<V>(loader(k)); };
      std::optional<V> value = state_->read(key, wrapped, false);
      if (!value) return V(loader(key));  // a negative marker left by another path
      return std::move(*value);
    }
  }

  // Writes per the write mode (CacheBuilder::write_mode): kWriteAround writes the source and
  // invalidates (without a source: stores in the caches); kWriteThrough writes the source in a
  // transaction, then L2, then L1; kWriteBehind hands the write to the sink, then updates L2
  // and L1. A source or sink error is thrown and leaves the caches unchanged.
  // With coherence kBus, every other instance then drops the key from its L1.
  void put(std::string_view key, const V& value) {
    if (link_ && link_->dependencies && depends_on_) record_dependencies(key, depends_on_(value));
    state_->put(key, value);
    announce(key);
  }
  // The same, recording first that the key depends on each of `entities` (DependencyIndex): a
  // later invalidate_entity(entity) or InvalidationBus::publish(entity) deletes it. Needs L2.
  //   cache.put("user_profile:7", profile, {"user:7"});
  void put(std::string_view key, const V& value, std::span<const std::string> entities) {
    record_dependencies(key, std::vector<std::string>(entities.begin(), entities.end()));
    put(key, value);
  }
  void put(std::string_view key, const V& value, std::initializer_list<std::string> entities) {
    put(key, value, std::span<const std::string>(entities.begin(), entities.size()));
  }

  // put() for many entries (docs/patterns.md, "Bulk reads and writes"): kWriteAround one
  // write_batch of the source, then an invalidation per key; kWriteThrough one source
  // transaction, then L2 and L1 per key; kWriteBehind each entry to the sink, then L2 and L1.
  // Every value is encoded before anything is written (an oversized one refuses the batch). A
  // source error leaves the caches unchanged; a sink refusal stops at that entry (the entries
  // before it are written). With entities (dependencies()), each value's are recorded.
  //   cache.put_many(std::vector<strata::KeyValue<User>>{{"1", a}, {"2", b}});
  void put_many(std::span<const KeyValue<V>> entries) {
    if (link_ && link_->dependencies && depends_on_) {
      for (const auto& [key, value] : entries) record_dependencies(key, depends_on_(value));
    }
    state_->put_many(entries);
    if (link_ && link_->bus && !entries.empty()) {
      std::vector<std::string> keys;
      keys.reserve(entries.size());
      for (const auto& entry : entries) keys.push_back(entry.first);
      (void)link_->bus->announce(link_->ns, keys, link_->id);
    }
  }

  // Deletes per the write mode: from the source (or through the sink), then from the caches.
  void erase(std::string_view key) {
    state_->erase(key);
    announce(key);
  }

  // Drops the key from L2 (with its fill token) and from L1; never writes a value. Call it after
  // writing your database yourself (cache-aside).
  void invalidate(std::string_view key) {
    state_->invalidate(key);
    announce(key);
  }

  // Invalidates an entity and everything recorded as depending on it (put with entities): with a
  // bus, InvalidationBus::publish (every instance, every attached cache); without, this cache's
  // L2 and L1 only. Needs L2.
  void invalidate_entity(std::string_view entity) {
    if (!link_ || !link_->dependencies) {
      throw InvalidArgumentError("Cache::invalidate_entity needs remote()");
    }
    if (link_->bus) {
      (void)link_->bus->publish(entity);
      return;
    }
    const std::string own[] = {remote_key(entity)};
    const std::vector<std::string> dependents = link_->dependencies->invalidate(entity, own);
    state_->drop_local(entity);
    for (const auto& redis_key : dependents) {
      if (redis_key.starts_with(link_->ns)) {
        state_->drop_local(std::string_view(redis_key).substr(link_->ns.size()));
      }
    }
  }

  // Per-layer counters, breaker state, refreshes.
  [[nodiscard]] TieredCacheStats stats() const { return state_->stats(); }

  // stats() with the get and load latency summaries (strata/metrics/metrics.h).
  [[nodiscard]] CacheMetrics metrics() const { return {state_->stats(), state_->latencies()}; }
  // What MetricsRegistry::add_cache keeps: reads metrics() while the cache lives, then nullopt.
  [[nodiscard]] MetricsRegistry::CacheReader metrics_reader() const {
    return [weak = std::weak_ptr<const internal::CacheState<V>>(
                state_)]() -> std::optional<CacheMetrics> {
      const auto state = weak.lock();
      if (!state) return std::nullopt;
      return CacheMetrics{state->stats(), state->latencies()};
    };
  }

  // The Redis key of `key` (key_prefix + key; fill placeholders and the lease on a miss live in
  // it too: strata/cache/key_layout.h), and of its refresh-ahead lease. Empty without remote().
  [[nodiscard]] std::string remote_key(std::string_view key) const {
    return state_->remote() ? state_->remote()->value_key(key) : std::string();
  }
  [[nodiscard]] std::string remote_refresh_key(std::string_view key) const {
    return state_->remote() ? state_->remote()->refresh_key(key) : std::string();
  }
  // L1Coherence::kTracking's invalidation side (nullptr in other modes): its invalidation
  // connections and counters, for tests and tools.
  [[nodiscard]] RedisTracking* redis_tracking() const { return state_->redis_tracking(); }

 private:
  friend class CacheBuilder<V>;
  friend struct internal::MemoAccess;  // strata/cache/memoize.h
  Cache(std::shared_ptr<internal::CacheState<V>> state, std::shared_ptr<Executor> executor,
        std::shared_ptr<ThreadPoolExecutor> owned_executor)
      : state_(std::move(state)),
        executor_(std::move(executor)),
        owned_executor_(std::move(owned_executor)) {}
  void announce(std::string_view key) {
    if (link_ && link_->bus) {
      const std::string k(key);
      (void)link_->bus->announce(link_->ns, std::span<const std::string>(&k, 1), link_->id);
    }
  }
  static std::vector<BulkResult<V>> results(
      std::vector<typename internal::CacheState<V>::BulkSlot> slots) {
    std::vector<BulkResult<V>> out;
    out.reserve(slots.size());
    for (auto& slot : slots) {
      out.push_back(slot.error ? BulkResult<V>(std::move(slot.error))
                               : BulkResult<V>(std::move(slot.value)));
    }
    return out;
  }
  void record_dependencies(std::string_view key, const std::vector<std::string>& entities) {
    if (!link_ || !link_->dependencies) {
      throw InvalidArgumentError("Cache::put with entities needs remote()");
    }
    const std::string redis_key = remote_key(key);
    for (const auto& entity : entities) link_->dependencies->add(entity, redis_key);
  }

  // Destroyed in reverse order: the owned pool is stopped (joined) before anything else goes.
  std::shared_ptr<internal::CacheState<V>> state_;
  std::shared_ptr<Executor> executor_;                // the state only holds it weakly
  std::shared_ptr<internal::InvalidationLink> link_;  // with remote(): bus and dependency sets
  std::function<std::vector<std::string>(const V&)> depends_on_;
  internal::OwnedExecutor owned_executor_;  // last
};

// Configuration for a Cache<V>. Each setter validates its argument at once and throws
// InvalidArgumentError naming the option; build() checks the combination and assembles.
template <typename V>
class CacheBuilder {
 public:
  // Adds an L1: an in-process LocalCache with these bounds and TTL.
  CacheBuilder& local(LocalTierOptions options) {
    options.validate();
    config_.local = options;
    return *this;
  }
  // Adds an L2 on this Redis server or Redis Cluster (the client is shared, not copied).
  // Values are stored as JSON in the envelope (default_format, strata/codec/json.h) unless
  // format() says otherwise; without that header, give the format here instead.
  CacheBuilder& remote(RedisClient client, RemoteTierOptions options = {}) {
    static_assert(
        requires { default_format(FormatTag<V>{}); },
        "CacheBuilder<V>::remote(client, options): V has no default format: include "
        "<strata/codec/json.h> (V with nlohmann to_json/from_json), or pass the format: "
        "remote(client, options, format)");
    options.validate();
    config_.client = std::move(client);
    config_.remote = options;
    if (!config_.typed.encode)
      format(default_format(FormatTag<V>{}));  // format() may come before remote()
    return *this;
  }
  // The same with the format values are stored in (as format() sets it), e.g.
  //   .remote(client, {}, strata::ValueFormat<User, strata::MsgpackCodec<User>>::envelope())
  template <typename C>
  CacheBuilder& remote(RedisClient client, RemoteTierOptions options, ValueFormat<V, C> format) {
    options.validate();
    config_.client = std::move(client);
    config_.remote = options;
    return this->format(std::move(format));
  }
  // The source of record (read-through, write-through); kept and shared by the cache.
  template <Source S>
  requires std::same_as<typename S::value_type, V> CacheBuilder& source(std::shared_ptr<S> source) {
    if (!source) throw InvalidArgumentError("CacheBuilder: source must not be null");
    if (config_.typed.loader)
      throw InvalidArgumentError("CacheBuilder: source conflicts with loader");
    config_.typed.source = std::make_shared<internal::SourceModel<V, S>>(std::move(source));
    return *this;
  }
  // The same, taking the source by value (moved into a shared_ptr the cache keeps).
  template <Source S>
  requires std::same_as<typename S::value_type, V> CacheBuilder& source(S source) {
    return this->source(std::make_shared<S>(std::move(source)));
  }
  // Read-through without a Source: the cache calls `loader` on a miss (nullopt: not found).
  CacheBuilder& loader(std::function<std::optional<V>(std::string_view key)> loader) {
    if (!loader) throw InvalidArgumentError("CacheBuilder: loader must not be empty");
    if (config_.typed.source)
      throw InvalidArgumentError("CacheBuilder: loader conflicts with source");
    config_.typed.loader = std::move(loader);
    return *this;
  }
  // How values are stored in L2 (default: JSON in the envelope, strata/codec/json.h). Called
  // before or after remote().
  template <typename C>
  CacheBuilder& format(ValueFormat<V, C> format) {
    auto shared = std::make_shared<const ValueFormat<V, C>>(std::move(format));
    config_.core.plain = shared->plain();
    config_.typed.encode = [shared](const V& value, const EnvelopeTimes& times) {
      return shared->encode(value, times);
    };
    config_.typed.decode = [shared](std::string_view bytes) { return shared->decode(bytes); };
    return *this;
  }
  // Prepended to every L2 key (a namespace), e.g. "app:user:" -> "app:user:42": the Redis key is
  // exactly prefix + key (strata/cache/key_layout.h).
  CacheBuilder& key_prefix(std::string prefix) {
    config_.prefix = std::move(prefix);
    return *this;
  }
  // How put() and erase() reach the source (default kWriteAround).
  CacheBuilder& write_mode(WriteMode mode) {
    config_.typed.mode = mode;
    return *this;
  }
  // The write-behind seam: where kWriteBehind hands writes (see WriteBehindSink).
  CacheBuilder& write_behind_sink(std::shared_ptr<WriteBehindSink<V>> sink) {
    if (!sink) throw InvalidArgumentError("CacheBuilder: write_behind_sink must not be null");
    config_.typed.sink = std::move(sink);
    return *this;
  }
  // Guarded fills (default on): a value loaded after a miss is written to L2 only if no
  // invalidation of the key happened since the miss. Turn off only to show the race.
  CacheBuilder& guarded_fills(bool on) {
    config_.core.guarded_fills = on;
    return *this;
  }
  // Caches "not found" from the source for `ttl` (L1 and L2), so misses do not hammer it.
  CacheBuilder& negative_ttl(std::chrono::milliseconds ttl) {
    if (ttl <= std::chrono::milliseconds::zero()) {
      throw InvalidArgumentError("CacheBuilder: negative_ttl must be > 0");
    }
    config_.core.negative_ttl = ttl;
    return *this;
  }
  // Refresh-ahead: a value read more than `after` after it was loaded is reloaded in the
  // background (one reload per key at a time); the old value is served meanwhile.
  CacheBuilder& refresh_after(std::chrono::nanoseconds after) {
    if (after <= std::chrono::nanoseconds::zero()) {
      throw InvalidArgumentError("CacheBuilder: refresh_after must be > 0");
    }
    config_.core.refresh_after = after;
    return *this;
  }
  // Stampede protection (docs/stampede.md). The lease on a miss: one source load per key across
  // processes; the others wait for its value up to wait_deadline, then load. Needs remote().
  CacheBuilder& lease(LeaseOptions options) {
    options.validate();
    config_.core.lease = std::move(options);
    return *this;
  }
  // XFetch: an L2 read recomputes early (in the background, one process through the refresh
  // lease) with probability exp(-(expiry - now) / (compute_time * beta)). Needs remote() with
  // the envelope format and a source or loader.
  CacheBuilder& xfetch(XFetchOptions options = {}) {
    options.validate();
    config_.core.xfetch = std::move(options);
    return *this;
  }
  // Stale-if-error: L2 keeps values `bound` past their hard TTL; a read past it is a miss, but
  // if the source then fails the stale value is served (stats().stampede.stale_if_error_served).
  // Needs remote() with the envelope format.
  CacheBuilder& stale_if_error(std::chrono::milliseconds bound) {
    if (bound <= std::chrono::milliseconds::zero()) {
      throw InvalidArgumentError("CacheBuilder: stale_if_error must be > 0");
    }
    config_.core.stale_if_error = bound;
    return *this;
  }
  // Plain JSON format only: a value L2 holds that does not decode (another program's, of another
  // shape) is a miss counted in stats().l2.foreign and left in place (no fill over it); with
  // `on`, it is deleted instead. Envelope values that do not decode are always deleted
  // (stats().l2.corrupted).
  CacheBuilder& delete_foreign_values(bool on) {
    config_.core.delete_foreign = on;
    return *this;
  }
  // The breaker in front of L2 (default: open after 5 consecutive failures, probe after 1 s).
  CacheBuilder& circuit_breaker(BreakerOptions options) {
    options.validate();
    config_.breaker = options;
    return *this;
  }
  // How this L1 learns of other instances' writes and invalidations (default kNone: it keeps
  // an entry until its local ttl). kBus and kTracking need local() and remote().
  CacheBuilder& coherence(L1Coherence mode) {
    config_.typed.coherence = mode;
    return *this;
  }
  // The bus kBus coherence uses (one per process, shared by its caches;
  // strata/invalidation/invalidation.h).
  CacheBuilder& invalidation_bus(std::shared_ptr<InvalidationBus> bus) {
    if (!bus) throw InvalidArgumentError("CacheBuilder: invalidation_bus must not be null");
    config_.bus = std::move(bus);
    return *this;
  }
  // The entities a value depends on, recorded at each put (as put(key, value, entities) does)
  // and whenever a read fills L2 with a loaded value (get, get_or_load, the bulk reads,
  // refreshes), before the fill.
  CacheBuilder& dependencies(std::function<std::vector<std::string>(const V&)> extract) {
    if (!extract) throw InvalidArgumentError("CacheBuilder: dependencies must not be empty");
    config_.depends_on = std::move(extract);
    return *this;
  }
  // kTracking with options (BCAST and its prefixes, the health-check interval), e.g.
  //   .coherence(L1Coherence::kTracking, {.bcast = true})  // prefixes: the key_prefix
  // The RedisClient given to remote() must serve no other tracking cache (docs/coherence.md).
  CacheBuilder& coherence(L1Coherence mode, TrackingOptions options) {
    if (mode != L1Coherence::kTracking) {
      throw InvalidArgumentError("CacheBuilder: TrackingOptions need L1Coherence::kTracking");
    }
    options.validate();
    config_.typed.coherence = mode;
    config_.typed.tracking = std::move(options);
    return *this;
  }
  // The clock for L1 expiry, the breaker's cool-down and the envelope's timestamps (default:
  // steady clock for L1 and breaker, system clock for envelope times).
  CacheBuilder& clock(std::shared_ptr<const Clock> clock) {
    if (!clock) throw InvalidArgumentError("CacheBuilder: clock must not be null");
    config_.clock = std::move(clock);
    return *this;
  }
  // The longest key accepted, in bytes (default and at most 65535; also the L1's limit). A longer
  // key, or an empty one, is an InvalidArgumentError from every call naming it.
  CacheBuilder& max_key_size(std::size_t bytes) {
    if (bytes < 1 || bytes > 65535) {
      throw InvalidArgumentError("CacheBuilder: max_key_size must be within [1, 65535]");
    }
    config_.core.max_key_size = bytes;
    return *this;
  }
  // The largest value stored in L2, in encoded bytes (default 16 MiB): put() of a larger value
  // throws InvalidArgumentError before writing anything; a larger value loaded from the source
  // is served (and kept in L1) but not stored in L2.
  CacheBuilder& max_value_size(std::size_t bytes) {
    if (bytes < 1) throw InvalidArgumentError("CacheBuilder: max_value_size must be > 0");
    config_.core.max_value_size = bytes;
    return *this;
  }
  // Where background refreshes run (default: a one-thread pool owned by the cache).
  CacheBuilder& executor(std::shared_ptr<Executor> executor) {
    if (!executor) throw InvalidArgumentError("CacheBuilder: executor must not be null");
    config_.executor = std::move(executor);
    return *this;
  }

  // REQUIRES: local() or remote(); kWriteThrough needs a source, kWriteBehind a sink;
  // refresh_after needs a source or loader, a TTL longer than it on every layer, and the
  // envelope format for L2.
  [[nodiscard]] Cache<V> build() const {
    if (!config_.local && !config_.remote) {
      throw InvalidArgumentError("CacheBuilder: configure local() or remote() (or both)");
    }
    if (config_.typed.mode == WriteMode::kWriteThrough && !config_.typed.source) {
      throw InvalidArgumentError("CacheBuilder: write_mode kWriteThrough needs a source");
    }
    if (config_.typed.mode == WriteMode::kWriteBehind && !config_.typed.sink) {
      throw InvalidArgumentError("CacheBuilder: write_mode kWriteBehind needs write_behind_sink");
    }
    if (config_.typed.coherence != L1Coherence::kNone && !(config_.local && config_.remote)) {
      throw InvalidArgumentError("CacheBuilder: coherence needs both local() and remote()");
    }
    if (config_.typed.coherence == L1Coherence::kBus && !config_.bus) {
      throw InvalidArgumentError("CacheBuilder: coherence kBus needs invalidation_bus()");
    }
    if (config_.depends_on && !config_.remote) {
      throw InvalidArgumentError("CacheBuilder: dependencies needs remote()");
    }
    if (config_.core.refresh_after) {
      if (!config_.typed.source && !config_.typed.loader) {
        throw InvalidArgumentError("CacheBuilder: refresh_after needs a source or a loader");
      }
      if (config_.local && config_.local->ttl <= *config_.core.refresh_after) {
        throw InvalidArgumentError("CacheBuilder: refresh_after must be shorter than local ttl");
      }
      if (config_.remote && config_.remote->ttl <= *config_.core.refresh_after) {
        throw InvalidArgumentError("CacheBuilder: refresh_after must be shorter than remote ttl");
      }
      if (config_.remote && config_.typed.encode && config_.core.plain) {
        throw InvalidArgumentError(
            "CacheBuilder: refresh_after with remote() needs the envelope format (plain JSON has "
            "no soft expiry)");
      }
    }
    validate_stampede();
    const internal::BuilderConfig<V>& c = config_;
    internal::CoreOptions core = c.core;
    core.clock_injected = c.clock != nullptr;
    core.clock = c.clock ? c.clock : std::shared_ptr<const Clock>(std::make_shared<SteadyClock>());
    std::optional<LocalCache<L1Value>> l1;
    std::chrono::nanoseconds l1_ttl{0};
    if (c.local) {
      l1_ttl = c.local->ttl;
      // With an L2, an L1 without TTL keeps entries no longer than L2 does (so that an entry
      // never outlives its hard expiry: each fill from L2 gets the value's remaining time).
      if (c.remote && l1_ttl <= std::chrono::nanoseconds::zero()) l1_ttl = c.remote->ttl;
      l1.emplace(build_local(*c.local, l1_ttl, core.clock));
    }
    std::unique_ptr<internal::RemoteStore> l2;
    if (c.remote) {
      l2 = std::make_unique<internal::RemoteStore>(*c.client, c.prefix, c.breaker, core.clock);
      core.l2_ttl = c.remote->ttl;
      core.l2_ttl_jitter = c.remote->ttl_jitter;
      core.fill_lease = c.remote->fill_lease;
    }
    internal::TypedSettings<V> typed = c.typed;
    if (typed.tracking.bcast && typed.tracking.prefixes.empty() && !c.prefix.empty()) {
      typed.tracking.prefixes.push_back(c.prefix);
    }
    std::shared_ptr<ThreadPoolExecutor> owned;
    std::shared_ptr<Executor> executor = c.executor;
    if (!executor && (c.core.refresh_after || c.core.xfetch)) {
      owned = std::make_shared<ThreadPoolExecutor>(1);
      executor = owned;
    }
    auto state = std::make_shared<internal::CacheState<V>>(
        std::move(typed), std::move(core), std::move(l1), l1_ttl, std::move(l2), executor);
    Cache<V> cache(state, std::move(executor), std::move(owned));
    if (c.remote) {
      auto link = std::make_shared<internal::InvalidationLink>();
      link->ns = c.prefix;
      link->dependencies.emplace(*c.client,
                                 c.bus ? c.bus->options().dependency_prefix : std::string("deps:"));
      if (c.typed.coherence == L1Coherence::kBus) {
        std::weak_ptr<internal::CacheState<V>> weak = state;
        BusParticipant participant;
        participant.ns = c.prefix;
        participant.drop_local = [weak](std::string_view key) {
          if (auto s = weak.lock()) s->drop_local(key);
        };
        participant.flush_local = [weak] {
          if (auto s = weak.lock()) s->flush_local();
        };
        participant.remove_remote = [weak](std::string_view key) {
          if (auto s = weak.lock()) s->invalidate(key);
        };
        link->id = c.bus->attach(std::move(participant));
        link->bus = c.bus;
      }
      if (c.depends_on) {
        // Recorded when a read fills L2 too, not only at put (issue 18 item 8).
        std::weak_ptr<internal::InvalidationLink> weak_link = link;
        state->record_dependencies_on_fill(
            [weak_link, extract = c.depends_on](const std::string& redis_key, const V& value) {
              const auto held = weak_link.lock();
              if (!held || !held->dependencies) return;
              for (const auto& entity : extract(value)) held->dependencies->add(entity, redis_key);
            });
      }
      cache.link_ = std::move(link);
      cache.depends_on_ = c.depends_on;
    }
    return cache;
  }

 private:
  using L1Value = std::optional<V>;

  void validate_stampede() const {
    const bool envelope = !(config_.typed.encode && config_.core.plain);
    if (config_.core.lease && !config_.remote)
      throw InvalidArgumentError("CacheBuilder: lease needs remote()");
    if (config_.core.xfetch) {
      if (!config_.remote || !envelope) {
        throw InvalidArgumentError(
            "CacheBuilder: xfetch needs remote() with the envelope format (compute time)");
      }
      if (!config_.typed.source && !config_.typed.loader) {
        throw InvalidArgumentError("CacheBuilder: xfetch needs a source or a loader");
      }
    }
    if (config_.core.stale_if_error > std::chrono::milliseconds::zero() &&
        (!config_.remote || !envelope)) {
      throw InvalidArgumentError(
          "CacheBuilder: stale_if_error needs remote() with the envelope format (hard expiry)");
    }
  }

  // `ttl`: the L1's TTL (the option's, or L2's when the option has none).
  LocalCache<L1Value> build_local(const LocalTierOptions& o, std::chrono::nanoseconds ttl,
                                  const std::shared_ptr<const Clock>& clock) const {
    LocalCacheBuilder<L1Value> b;
    if (o.maximum_size > 0) {
      b.maximum_size(o.maximum_size);
    } else {
      b.maximum_weight(o.maximum_weight);
      b.weigher([](std::string_view key, const L1Value& value) -> std::uint64_t {
        return value ? default_weight(key, *value) : key.size() + 1;
      });
    }
    if (ttl > std::chrono::nanoseconds::zero()) {
      b.expire_after_write(ttl);
      if (o.ttl_jitter > 0) b.ttl_jitter(o.ttl_jitter);
      if (config_.core.refresh_after && o.ttl > std::chrono::nanoseconds::zero()) {
        b.stale_window(o.ttl - *config_.core.refresh_after);
      }
    }
    b.policy(o.policy);
    b.max_key_size(config_.core.max_key_size);
    b.clock(clock);
    return b.build();
  }

  internal::BuilderConfig<V> config_;
};

}  // namespace strata
