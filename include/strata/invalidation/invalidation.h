// strata/invalidation/invalidation.h: invalidation across processes: the InvalidationBus (pub/sub
// events that drop keys from every instance's L1), a typed registry of domain events (the
// textbook's CacheInvalidator), each entity's dependents, namespace generations, and
// SCAN-based pattern invalidation with glob escaping. docs/invalidation.md explains each guarantee.
//
//   auto bus = std::make_shared<strata::InvalidationBus>("redis://127.0.0.1:6379");
//   auto users = strata::CacheBuilder<User>().local({...}).remote(redis, {...})
//                    .coherence(strata::L1Coherence::kBus).invalidation_bus(bus).build();
//   users.put("42", u);          // every other instance drops "42" from its L1
//   bus->publish("user:42");     // drops the entity and its dependents everywhere
//
// Thread safety: every class here may be used from any thread (InvalidationRegistry: after its
// handlers are registered).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <typeindex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "strata/error.h"
#include "strata/redis/redis_client.h"
#include "strata/redis/redis_url.h"

namespace strata {

class RedisSubscriber;

// --- glob escaping ------------------------------------------------------------------------

// `text` with every glob metacharacter of Redis's MATCH (`*`, `?`, `[`, `]`, `\`) escaped by a
// backslash, so that user data put into a pattern matches only itself:
//   "ns:" + escape_glob(user_id) + ":*"   // a user id "a*" never matches "ns:ab:..."
[[nodiscard]] std::string escape_glob(std::string_view text);

// --- the bus's messages --------------------------------------------------------------------

// One message on the bus channel (JSON, docs/invalidation.md):
//   {"v":1,"sender":"4f..","ns":"app:user:","seq":17,"keys":["42"],"flush":false}
// `ns` is the key prefix of the caches concerned ("" for entities: every attached cache);
// `keys` are cache keys (what Cache<V>::get takes) in that namespace; `redis_keys` (optional)
// are Redis keys that were deleted (dependents, a SCAN pattern): each cache drops those under
// its prefix, whatever its prefix; `flush` drops every entry of the namespace's caches (a
// namespace bump). `sequence` counts the sender's messages in `ns` from 1, so that a receiver
// notices a lost message.
struct InvalidationMessage {
  std::string sender;
  std::string ns;
  std::uint64_t sequence = 0;
  std::vector<std::string> keys;
  bool flush = false;
  std::vector<std::string> redis_keys;
};

[[nodiscard]] std::string encode_invalidation(const InvalidationMessage& message);
// nullopt when the bytes are not a bus message (they are then ignored and counted).
[[nodiscard]] std::optional<InvalidationMessage> decode_invalidation(std::string_view bytes);

// --- the bus -------------------------------------------------------------------------------

// How an InvalidationBus's own messages travel (the entity channel is always classic pub/sub,
// so that any client may PUBLISH to it).
enum class BusPubSub {
  kAuto,     // sharded on a redis+cluster:// URL, classic otherwise
  kClassic,  // PUBLISH / SUBSCRIBE: on a cluster every message crosses the cluster bus to every
             // node
  kSharded,  // SPUBLISH / SSUBSCRIBE (Redis 7): only the channel's slot owner carries it
};

struct InvalidationBusOptions {
  // The channel strata's own messages travel on.
  std::string channel = "strata:invalidation";
  // Every instance on one channel must use the same mode: a classic subscriber does not hear
  // SPUBLISH, nor a sharded one PUBLISH. kAuto suits a cluster of Redis 7 or later; set
  // kClassic for a Redis 6 cluster.
  BusPubSub pubsub = BusPubSub::kAuto;
  // The textbook's channel: JSON {"entity": "user:123"} from any publisher drops the entity (L1
  // and L2 of every attached cache) and its dependents; {"keys": ["user:123", ...]} says that
  // a client deleted those Redis keys: every attached L1 drops them (under its key prefix).
  // Empty: not listened to.
  std::string entity_channel = "cache_invalidation";
  // This instance's id in the messages it sends (a receiver skips its own). Empty: random.
  std::string instance_id;
  // Where dependency sets live: dependency_prefix + entity (see DependencyIndex).
  std::string dependency_prefix = "deps:";
  // The subscriber's keep-alive (a silent connection is replaced after about twice this).
  std::chrono::milliseconds keepalive_interval{std::chrono::seconds(5)};
};

// Counters of an InvalidationBus; they only grow.
struct InvalidationBusStats {
  std::uint64_t published = 0;          // messages sent
  std::uint64_t publish_failures = 0;   // messages that could not be sent (Redis error)
  std::uint64_t received = 0;           // messages from other instances applied
  std::uint64_t own_skipped = 0;        // messages of this instance, ignored
  std::uint64_t entity_received = 0;    // {"entity": ...} messages applied
  std::uint64_t malformed = 0;          // messages that could not be decoded
  std::uint64_t keys_dropped = 0;       // L1 drops made for received messages (per cache)
  std::uint64_t sequence_gaps = 0;      // gaps seen in a sender's sequence (each flushed L1)
  std::uint64_t connection_losses = 0;  // subscriber connections lost (each flushed L1)
  std::uint64_t reconnects = 0;         // subscriber connections re-established after a loss
  std::uint64_t l1_flushes = 0;         // flush_local calls made (gaps, losses, namespace bumps)
};

// What a cache gives the bus: how to drop a key from its L1, flush its L1, and delete a key from
// its L2 (value and fill token). Cache<V> builds one when coherence is kBus.
struct BusParticipant {
  std::string ns;  // the cache's key prefix
  std::function<void(std::string_view key)> drop_local;
  std::function<void()> flush_local;
  std::function<void(std::string_view key)> remove_remote;
};

// strata's invalidation bus on a Redis channel. Each instance (process) builds one, attaches
// its caches, and publishes what it writes; its subscriber thread applies what the others send:
//  - a message from another instance drops its keys from the L1 of the attached caches of its
//    namespace (L2 is shared: the sender already deleted there);
//  - a gap in a sender's sequence for a namespace flushes the L1 of that namespace's caches, a
//    lost subscriber connection flushes every attached L1 (on loss and again on reconnect, since
//    messages sent meanwhile were missed);
//  - a textbook {"entity": "user:123"} message on entity_channel invalidates the entity as
//    publish() would (each receiver deletes it in L2 too: the publisher may not be strata).
// The destructor stops and joins the subscriber thread. Not copyable; share it (shared_ptr).
class InvalidationBus {
 public:
  // `redis_url`: any RedisClient URL, TLS included (on a cluster the bus subscribes on one node,
  // PUBLISH reaching every node; with Sentinel it follows the master). Connects in the
  // background; see wait_connected().
  explicit InvalidationBus(std::string_view redis_url, InvalidationBusOptions options = {});
  InvalidationBus(const InvalidationBus&) = delete;
  InvalidationBus& operator=(const InvalidationBus&) = delete;
  ~InvalidationBus();

  // Attaches a cache; returns its registration id (for detach). Cache<V> does this itself.
  [[nodiscard]] std::uint64_t attach(BusParticipant participant);
  void detach(std::uint64_t id) noexcept;

  // Tells every other instance (and the other attached caches of this instance, except
  // `origin`) to drop `keys` of namespace `ns` from their L1. Returns false when the message
  // could not be sent (counted; the others keep their entries until their local ttl).
  bool announce(std::string_view ns, std::span<const std::string> keys, std::uint64_t origin = 0);
  // Tells every instance (this one included, except `origin`) that these Redis keys were
  // deleted: every attached cache whose key prefix starts them drops the rest from its L1.
  bool announce_redis_keys(std::span<const std::string> redis_keys, std::uint64_t origin = 0);
  // Tells every instance (this one included) to flush the L1 of the caches of `ns`.
  bool announce_flush(std::string_view ns);

  // Invalidates an entity everywhere: deletes it (in the L2 of every attached cache) with its
  // dependents and its dependency set (DependencyIndex::invalidate), drops all of them from this
  // instance's L1s, and announces them. `entity` is a cache key, e.g. "user:123". Returns the
  // dependents' Redis keys that were deleted.
  std::vector<std::string> publish(std::string_view entity);
  // The same for several entities.
  void publish(std::span<const std::string> entities);

  // This instance's id, the client id of the subscriber connection (-1 while disconnected),
  // and whether it is subscribed.
  [[nodiscard]] const std::string& instance_id() const noexcept { return instance_id_; }
  [[nodiscard]] std::int64_t subscriber_client_id() const;
  [[nodiscard]] bool connected() const;
  // Waits until the subscriptions are confirmed (true) or `timeout` passes (false).
  bool wait_connected(std::chrono::milliseconds timeout) const;

  [[nodiscard]] InvalidationBusStats stats() const;
  [[nodiscard]] const InvalidationBusOptions& options() const noexcept { return options_; }
  [[nodiscard]] RedisClient& client() noexcept { return client_; }

  // Called (on the subscriber thread) after every flush the bus makes, e.g. for NamespaceVersions
  // to forget cached generations. Set before connecting anything that depends on it.
  void on_flush(std::function<void(std::string_view ns)> callback);
  // Called for every message of another instance (after it was applied), for extensions.
  void on_message(std::function<void(const InvalidationMessage&)> callback);

 private:
  struct Sequence {
    std::mutex mutex;
    std::uint64_t next = 1;
  };

  bool send(std::string_view ns, std::vector<std::string> keys, bool flush,
            std::vector<std::string> redis_keys = {});
  void drop_redis_keys(std::span<const std::string> redis_keys, std::uint64_t skip);
  void receive(std::string_view message) noexcept;
  void receive_entity_message(std::string_view message) noexcept;
  void apply(const InvalidationMessage& message, std::uint64_t skip);
  void flush_all(std::string_view reason) noexcept;
  void flush_namespace(std::string_view ns);
  [[nodiscard]] std::vector<std::pair<std::uint64_t, BusParticipant>> participants() const;

  InvalidationBusOptions options_;
  std::string instance_id_;
  RedisClient client_;
  bool sharded_ = false;  // options_.pubsub resolved for this URL
  mutable std::mutex mutex_;
  std::map<std::uint64_t, BusParticipant> participants_;
  std::uint64_t next_participant_ = 1;
  std::map<std::string, std::unique_ptr<Sequence>, std::less<>> sequences_;  // ns -> next
  std::map<std::pair<std::string, std::string>, std::uint64_t> last_seen_;   // (sender, ns)
  std::vector<std::function<void(std::string_view)>> flush_callbacks_;
  std::vector<std::function<void(const InvalidationMessage&)>> message_callbacks_;
  bool lost_ = false;
  struct Counters {
    std::atomic<std::uint64_t> published{0}, publish_failures{0}, received{0}, own_skipped{0},
        entity_received{0}, malformed{0}, keys_dropped{0}, sequence_gaps{0}, connection_losses{0},
        reconnects{0}, l1_flushes{0};
  } counters_;
  std::unique_ptr<RedisSubscriber> subscriber_;  // last: stopped first
};

// --- domain events (the textbook's CacheInvalidator) ---------------------------------------

// Maps domain events to the cache keys (entities) they invalidate, with typed payloads. Register
// handlers (on) before sharing the registry; lookups may then run from any thread.
//   struct UserUpdated { int id; };
//   registry.on<UserUpdated>("user_updated", [](const UserUpdated& e) {
//     auto id = std::to_string(e.id);
//     return std::vector<std::string>{"user:" + id, "user_profile:" + id, "user_list"};
//   });
//   registry.keys_for("user_updated", UserUpdated{7});  // user:7, user_profile:7, user_list
//   registry.dispatch(*bus, "user_updated", UserUpdated{7});  // publishes each of them
class InvalidationRegistry {
 public:
  template <typename Event>
  InvalidationRegistry& on(std::string name,
                           std::function<std::vector<std::string>(const Event&)> keys) {
    if (!keys) throw InvalidArgumentError("InvalidationRegistry: handler must not be empty");
    handlers_.insert_or_assign(
        std::move(name),
        Handler{std::type_index(typeid(Event)), [keys = std::move(keys)](const void* event) {
                  return keys(*static_cast<const Event*>(event));
                }});
    return *this;
  }

  // The keys `event` invalidates. Throws InvalidArgumentError for an unknown event name or an
  // event of another type than the one registered.
  template <typename Event>
  [[nodiscard]] std::vector<std::string> keys_for(std::string_view name, const Event& event) const {
    const Handler& handler = find(name);
    if (handler.type != std::type_index(typeid(Event))) {
      throw InvalidArgumentError("InvalidationRegistry: event '" + std::string(name) +
                                 "' registered with another payload type");
    }
    return handler.keys(&event);
  }

  // Publishes every key of the event on the bus (InvalidationBus::publish); returns them.
  template <typename Event>
  std::vector<std::string> dispatch(InvalidationBus& bus, std::string_view name,
                                    const Event& event) const {
    std::vector<std::string> keys = keys_for(name, event);
    bus.publish(keys);
    return keys;
  }

  [[nodiscard]] bool contains(std::string_view name) const {
    return handlers_.find(name) != handlers_.end();
  }

 private:
  struct Handler {
    std::type_index type;
    std::function<std::vector<std::string>(const void*)> keys;
  };
  [[nodiscard]] const Handler& find(std::string_view name) const {
    const auto it = handlers_.find(name);
    if (it == handlers_.end()) {
      throw InvalidArgumentError("InvalidationRegistry: no handler for event '" +
                                 std::string(name) + "'");
    }
    return it->second;
  }
  std::map<std::string, Handler, std::less<>> handlers_;
};

// --- entities and their dependents ------------------------------------------------------

// A Redis set per entity, `prefix + entity` ("deps:user:7"), records the Redis keys of the values
// that depend on it, as they are (`user_profile:7`, or `app:user_profile:7` under a prefix):
// the usual convention, so a dependent recorded by another client (SADD deps:user:7 <its key>)
// is invalidated by strata and the other way round.
//
// invalidate(): on a standalone server one Lua script deletes the entity's keys, every
// dependent and the set: all or nothing. On a cluster the keys live in many slots: a script on
// the set's slot reads and deletes the set at once (a dependent added afterwards starts a new
// set and is not lost), then the entity's keys and the dependents are deleted grouped per slot
// (each group atomic), pipelined per node. If that fails the members are put back in the set
// (best effort) and the error is thrown, so a retry finds them.
class DependencyIndex {
 public:
  explicit DependencyIndex(RedisClient client, std::string prefix = "deps:",
                           std::chrono::milliseconds ttl = std::chrono::hours(24));

  [[nodiscard]] std::string set_key(std::string_view entity) const;
  // Records that `redis_keys` depend on `entity` (SADD, and the set's ttl renewed).
  void add(std::string_view entity, std::span<const std::string> redis_keys);
  void add(std::string_view entity, std::string_view redis_key);
  // The dependents recorded now (SMEMBERS), sorted.
  [[nodiscard]] std::vector<std::string> dependents(std::string_view entity);
  // Deletes `entity_keys` (Redis keys of the entity itself, any slot), every dependent
  // and the set, as described above. Returns the dependents that were listed.
  std::vector<std::string> invalidate(std::string_view entity,
                                      std::span<const std::string> entity_keys = {});

 private:
  RedisClient client_;
  std::string prefix_;
  std::chrono::milliseconds ttl_;
};

// --- namespaces ----------------------------------------------------------------------------

// Namespace generations kept in Redis (`strata:ns:{name}` holds the number): keys are built as
// `name:v{gen}:key`, so bumping the generation makes every key of the namespace unreachable at
// once; the old keys age out by their TTL. With a bus, generations are cached in the process and
// a bump is broadcast: every instance forgets its cached numbers and flushes every attached L1
// (a namespaced key is a cache key and may sit in any cache). Bumps are meant to be rare.
class NamespaceVersions {
 public:
  explicit NamespaceVersions(RedisClient client, std::shared_ptr<InvalidationBus> bus = nullptr);

  // The current generation (1 for a namespace never bumped).
  [[nodiscard]] std::uint64_t generation(std::string_view name);
  // "name:v{gen}:key".
  [[nodiscard]] std::string key(std::string_view name, std::string_view key);
  // The prefix of the current generation, "name:v{gen}:" (e.g. for a Cache's keys).
  [[nodiscard]] std::string prefix(std::string_view name);
  // INCR the generation; returns the new one. Broadcast when there is a bus.
  std::uint64_t bump(std::string_view name);

 private:
  [[nodiscard]] std::string counter_key(std::string_view name) const;
  struct Generations {  // shared with the bus's flush callback, which may outlive this object
    std::mutex mutex;
    std::unordered_map<std::string, std::uint64_t> cached;
    void forget(std::string_view name);
  };

  RedisClient client_;
  std::shared_ptr<InvalidationBus> bus_;
  std::shared_ptr<Generations> generations_ = std::make_shared<Generations>();
};

// --- patterns ------------------------------------------------------------------------------

struct PatternInvalidationOptions {
  std::size_t batch = 500;  // keys per SCAN COUNT hint and per DEL
  bool dry_run = false;     // list what would go, delete nothing
  bool collect = false;     // also list the deleted keys (always listed in a dry run)
};

struct PatternInvalidationResult {
  std::uint64_t matched = 0;      // distinct keys SCAN reported
  std::uint64_t deleted = 0;      // keys DEL removed (0 in a dry run)
  std::uint64_t batches = 0;      // DEL batches sent
  std::vector<std::string> keys;  // sorted: the keys (dry run or collect)
};

// Deletes every key matching the glob `pattern` with SCAN (never KEYS) on the server or on every
// master of a cluster, in batches. A key created during the scan may or may not be deleted (as
// SCAN guarantees). Build patterns from user data with escape_glob(). With a bus, the deleted
// Cache<V> keys are announced so that every instance drops them from its L1.
PatternInvalidationResult invalidate_pattern(RedisClient& client, std::string_view pattern,
                                             const PatternInvalidationOptions& options = {},
                                             InvalidationBus* bus = nullptr);

}  // namespace strata
