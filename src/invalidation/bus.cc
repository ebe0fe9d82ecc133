// InvalidationBus: strata's pub/sub invalidation bus (strata/invalidation/invalidation.h).
//
// Sending: one sequence counter per namespace, held (with its mutex) across the PUBLISH so that
// messages of one namespace leave in sequence order. PUBLISH runs inside a one-line script whose
// only key is pinned to the channel's slot, so in a cluster every message of this instance goes
// through one node and reaches the subscribers' node in order over one cluster-bus link (a
// plain PUBLISH is spread over the masters and could overtake itself: a spurious gap). With
// sharded pub/sub (the default on a cluster) SPUBLISH goes to the channel's slot owner, the only
// node that delivers it: no cluster bus on the way, and still one node, so still in order.
//
// Receiving (the subscriber thread): messages of this instance are skipped; for the others the
// (sender, namespace) pair's last sequence is kept; anything but last + 1 after the first message
// seen is a gap: the namespace's L1s are flushed. Losing the connection flushes every L1, and so
// does re-establishing it (whatever was read meanwhile may predate a missed message).
#include <algorithm>
#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "strata/invalidation/invalidation.h"
#include "strata/redis/redis_subscriber.h"

namespace strata {
namespace {

// KEYS[1] pins the slot (never read); ARGV[1] channel, ARGV[2] message.
const RedisScript kPublish{"return redis.call('PUBLISH', ARGV[1], ARGV[2])"};

std::string random_id() {
  std::random_device device;
  std::mt19937_64 rng((static_cast<std::uint64_t>(device()) << 32) | device());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(16, '0');
  std::uint64_t bits = rng();
  for (char& c : id) {
    c = kHex[bits & 0xf];
    bits >>= 4;
  }
  return id;
}

bool in_namespace(const BusParticipant& participant, std::string_view ns) {
  return ns.empty() || participant.ns == ns;
}

// A namespace flush reaches the caches whose prefix starts with it ("users:" covers the
// generation prefixes "users:v3:") and the caches without a prefix (their keys may be anything).
bool flushed_by(const BusParticipant& participant, std::string_view ns) {
  return ns.empty() || participant.ns.empty() || participant.ns.starts_with(ns);
}

template <typename F, typename... Args>
void call_quietly(const F& f, Args&&... args) noexcept {
  try {
    if (f) f(std::forward<Args>(args)...);
  } catch (...) {  // a participant's failure must not stop the others
  }
}

}  // namespace

InvalidationBus::InvalidationBus(std::string_view redis_url, InvalidationBusOptions options)
    : options_(std::move(options)),
      instance_id_(options_.instance_id.empty() ? random_id() : options_.instance_id),
      client_(redis_url) {
  if (options_.channel.empty()) {
    throw InvalidArgumentError("InvalidationBus: channel must not be empty");
  }
  if (options_.channel == options_.entity_channel) {
    throw InvalidArgumentError("InvalidationBus: channel and entity_channel must differ");
  }
  sharded_ = options_.pubsub == BusPubSub::kSharded ||
             (options_.pubsub == BusPubSub::kAuto && parse_redis_url(redis_url).cluster);
  SubscriberOptions sub;
  if (sharded_) sub.shard_channel = options_.channel;
  sub.keepalive_interval = options_.keepalive_interval;
  sub.on_connection_lost = [this](std::string_view reason) {
    {
      std::lock_guard lock(mutex_);
      lost_ = true;
      last_seen_.clear();  // sequences restart being tracked from the next message
    }
    counters_.connection_losses.fetch_add(1, std::memory_order_relaxed);
    flush_all(reason);
  };
  sub.on_connected = [this](std::int64_t) {
    bool was_lost = false;
    {
      std::lock_guard lock(mutex_);
      was_lost = std::exchange(lost_, false);
    }
    if (was_lost) {
      counters_.reconnects.fetch_add(1, std::memory_order_relaxed);
      flush_all("reconnected");
    }
  };
  subscriber_ = std::make_unique<RedisSubscriber>(redis_url, std::move(sub));
  auto on_message = [this](std::string_view, std::string_view m) { receive(m); };
  if (sharded_) {
    (void)subscriber_->ssubscribe(options_.channel, on_message);
  } else {
    (void)subscriber_->subscribe(options_.channel, on_message);
  }
  if (!options_.entity_channel.empty()) {
    (void)subscriber_->subscribe(
        options_.entity_channel,
        [this](std::string_view, std::string_view m) { receive_entity_message(m); });
  }
}

InvalidationBus::~InvalidationBus() {
  if (subscriber_) subscriber_->stop();
}

std::uint64_t InvalidationBus::attach(BusParticipant participant) {
  std::lock_guard lock(mutex_);
  const std::uint64_t id = next_participant_++;
  participants_.emplace(id, std::move(participant));
  return id;
}

void InvalidationBus::detach(std::uint64_t id) noexcept {
  std::lock_guard lock(mutex_);
  participants_.erase(id);
}

std::vector<std::pair<std::uint64_t, BusParticipant>> InvalidationBus::participants() const {
  std::lock_guard lock(mutex_);
  return {participants_.begin(), participants_.end()};
}

void InvalidationBus::on_flush(std::function<void(std::string_view ns)> callback) {
  std::lock_guard lock(mutex_);
  flush_callbacks_.push_back(std::move(callback));
}

void InvalidationBus::on_message(std::function<void(const InvalidationMessage&)> callback) {
  std::lock_guard lock(mutex_);
  message_callbacks_.push_back(std::move(callback));
}

bool InvalidationBus::send(std::string_view ns, std::vector<std::string> keys, bool flush,
                           std::vector<std::string> redis_keys) {
  Sequence* sequence = nullptr;
  {
    std::lock_guard lock(mutex_);
    auto it = sequences_.find(ns);
    if (it == sequences_.end()) {
      it = sequences_.emplace(std::string(ns), std::make_unique<Sequence>()).first;
    }
    sequence = it->second.get();  // never erased: stable
  }
  std::lock_guard order(sequence->mutex);
  InvalidationMessage message{instance_id_,    std::string(ns), sequence->next,
                              std::move(keys), flush,           std::move(redis_keys)};
  // The number is used even if the PUBLISH fails: the receivers then see a gap and flush, which
  // is what a lost invalidation calls for.
  ++sequence->next;
  const std::string bytes = encode_invalidation(message);
  try {
    if (sharded_) {
      // Routed by the channel's slot: to the one node that delivers it, in order.
      (void)client_.command({"SPUBLISH", options_.channel, bytes});
    } else {
      const std::string pin = "strata:bus:{" + options_.channel + "}";
      (void)client_.eval(kPublish, {pin}, {options_.channel, bytes});
    }
    counters_.published.fetch_add(1, std::memory_order_relaxed);
    return true;
  } catch (const Error&) {
    counters_.publish_failures.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
}

bool InvalidationBus::announce(std::string_view ns, std::span<const std::string> keys,
                               std::uint64_t origin) {
  if (keys.empty()) return true;
  for (const auto& [id, participant] : participants()) {
    if (id == origin || participant.ns != ns) continue;
    for (const auto& key : keys) call_quietly(participant.drop_local, key);
  }
  return send(ns, std::vector<std::string>(keys.begin(), keys.end()), false);
}

void InvalidationBus::drop_redis_keys(std::span<const std::string> redis_keys, std::uint64_t skip) {
  for (const auto& [id, participant] : participants()) {
    if (id == skip) continue;
    std::uint64_t dropped = 0;
    for (const auto& redis_key : redis_keys) {
      if (!redis_key.starts_with(participant.ns)) continue;
      call_quietly(participant.drop_local,
                   std::string_view(redis_key).substr(participant.ns.size()));
      ++dropped;
    }
    counters_.keys_dropped.fetch_add(dropped, std::memory_order_relaxed);
  }
}

bool InvalidationBus::announce_redis_keys(std::span<const std::string> redis_keys,
                                          std::uint64_t origin) {
  if (redis_keys.empty()) return true;
  drop_redis_keys(redis_keys, origin);
  return send("", {}, false, std::vector<std::string>(redis_keys.begin(), redis_keys.end()));
}

bool InvalidationBus::announce_flush(std::string_view ns) {
  flush_namespace(ns);
  return send(ns, {}, true);
}

std::vector<std::string> InvalidationBus::publish(std::string_view entity) {
  if (entity.empty()) throw InvalidArgumentError("InvalidationBus::publish: empty entity");
  const auto attached = participants();
  // The entity's own L2 keys: one per attached namespace.
  std::set<std::string> entity_keys;
  for (const auto& [id, participant] : attached)
    entity_keys.insert(participant.ns + std::string(entity));
  const std::vector<std::string> own(entity_keys.begin(), entity_keys.end());
  std::vector<std::string> dependents;
  try {
    DependencyIndex index(client_, options_.dependency_prefix);
    dependents = index.invalidate(entity, own);
  } catch (const Error&) {
    // L2 unreachable: each cache's own remove() defers the delete of the entity; dependents
    // expire by their TTL. The L1s are still told.
    counters_.publish_failures.fetch_add(1, std::memory_order_relaxed);
    for (const auto& [id, participant] : attached) call_quietly(participant.remove_remote, entity);
  }
  // L1 here, then the others: the entity in every namespace, dependents under their prefix.
  for (const auto& [id, participant] : attached) call_quietly(participant.drop_local, entity);
  drop_redis_keys(dependents, 0);
  (void)send("", {std::string(entity)}, false, dependents);
  return dependents;
}

void InvalidationBus::publish(std::span<const std::string> entities) {
  for (const auto& entity : entities) (void)publish(entity);
}

std::int64_t InvalidationBus::subscriber_client_id() const {
  return subscriber_->client_id();
}
bool InvalidationBus::connected() const {
  return subscriber_->connected();
}
bool InvalidationBus::wait_connected(std::chrono::milliseconds timeout) const {
  return subscriber_->wait_connected(timeout);
}

InvalidationBusStats InvalidationBus::stats() const {
  const auto load = [](const std::atomic<std::uint64_t>& a) {
    return a.load(std::memory_order_relaxed);
  };
  InvalidationBusStats s;
  s.published = load(counters_.published);
  s.publish_failures = load(counters_.publish_failures);
  s.received = load(counters_.received);
  s.own_skipped = load(counters_.own_skipped);
  s.entity_received = load(counters_.entity_received);
  s.malformed = load(counters_.malformed);
  s.keys_dropped = load(counters_.keys_dropped);
  s.sequence_gaps = load(counters_.sequence_gaps);
  s.connection_losses = load(counters_.connection_losses);
  s.reconnects = load(counters_.reconnects);
  s.l1_flushes = load(counters_.l1_flushes);
  return s;
}

void InvalidationBus::flush_all(std::string_view /*reason*/) noexcept {
  try {
    flush_namespace("");
  } catch (...) {
  }
}

void InvalidationBus::flush_namespace(std::string_view ns) {
  for (const auto& [id, participant] : participants()) {
    if (!flushed_by(participant, ns)) continue;
    call_quietly(participant.flush_local);
    counters_.l1_flushes.fetch_add(1, std::memory_order_relaxed);
  }
  std::vector<std::function<void(std::string_view)>> callbacks;
  {
    std::lock_guard lock(mutex_);
    callbacks = flush_callbacks_;
  }
  for (const auto& callback : callbacks) call_quietly(callback, ns);
}

void InvalidationBus::receive(std::string_view bytes) noexcept {
  try {
    std::optional<InvalidationMessage> message = decode_invalidation(bytes);
    if (!message) {
      counters_.malformed.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (message->sender == instance_id_) {
      counters_.own_skipped.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    bool gap = false;
    {
      std::lock_guard lock(mutex_);
      auto [it, first] = last_seen_.try_emplace({message->sender, message->ns}, message->sequence);
      if (!first) {
        gap = message->sequence != it->second + 1;
        it->second = std::max(it->second, message->sequence);
      }
    }
    counters_.received.fetch_add(1, std::memory_order_relaxed);
    if (gap) {
      counters_.sequence_gaps.fetch_add(1, std::memory_order_relaxed);
      flush_namespace(message->ns);
    }
    apply(*message, 0);
  } catch (...) {
    counters_.malformed.fetch_add(1, std::memory_order_relaxed);
  }
}

void InvalidationBus::apply(const InvalidationMessage& message, std::uint64_t skip) {
  if (message.flush) {
    flush_namespace(message.ns);
  } else {
    for (const auto& [id, participant] : participants()) {
      if (id == skip || !in_namespace(participant, message.ns)) continue;
      // An entity (no namespace) may have been published by an instance that does not know
      // this cache's prefix: delete it in this cache's L2 too (idempotent), then in L1.
      const auto& drop = message.ns.empty() ? participant.remove_remote : participant.drop_local;
      for (const auto& key : message.keys) call_quietly(drop, key);
      counters_.keys_dropped.fetch_add(message.keys.size(), std::memory_order_relaxed);
    }
    drop_redis_keys(message.redis_keys, skip);
  }
  std::vector<std::function<void(const InvalidationMessage&)>> callbacks;
  {
    std::lock_guard lock(mutex_);
    callbacks = message_callbacks_;
  }
  for (const auto& callback : callbacks) call_quietly(callback, message);
}

void InvalidationBus::receive_entity_message(std::string_view bytes) noexcept {
  try {
    const nlohmann::json json = nlohmann::json::parse(bytes);
    if (json.is_object() && !json.contains("entity") && json.contains("keys") &&
        json["keys"].is_array()) {
      // Another client deleted these Redis keys: drop them from every attached L1.
      std::vector<std::string> redis_keys;
      for (const auto& key : json["keys"]) {
        if (!key.is_string()) {
          counters_.malformed.fetch_add(1, std::memory_order_relaxed);
          return;
        }
        redis_keys.push_back(key.get<std::string>());
      }
      counters_.entity_received.fetch_add(1, std::memory_order_relaxed);
      drop_redis_keys(redis_keys, 0);
      return;
    }
    if (!json.is_object() || !json.contains("entity") || !json["entity"].is_string() ||
        json["entity"].get_ref<const std::string&>().empty()) {
      counters_.malformed.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    counters_.entity_received.fetch_add(1, std::memory_order_relaxed);
    // Every receiver deletes the entity in L2 and its dependents (the first one finds them and
    // announces them; the set is gone for the others) and drops them from its own L1s.
    (void)publish(json["entity"].get_ref<const std::string&>());
  } catch (...) {
    counters_.malformed.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace strata
