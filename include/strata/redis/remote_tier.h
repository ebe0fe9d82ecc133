// strata/redis/remote_tier.h: the RemoteTier concept, the contract of strata's L2 (the shared
// cache). Use it to write cache layers that work over any remote tier (RedisClient satisfies it,
// for a standalone server and for a Redis Cluster alike); everything is binary-safe.
//
//   template <strata::RemoteTier Tier> void warm(Tier& l2) {
//     l2.set("user:1", bytes, strata::SetOptions{.ttl = std::chrono::minutes(5)});
//   }
#pragma once

#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "strata/redis/redis_reply.h"
#include "strata/redis/redis_script.h"

namespace strata {

// A key and its value, as views: the caller keeps the bytes alive for the call.
using KeyValueView = std::pair<std::string_view, std::string_view>;

// How set() stores a value.
struct SetOptions {
  enum class Condition : std::uint8_t {
    kAlways,     // plain SET
    kIfAbsent,   // NX: only if the key does not exist
    kIfPresent,  // XX: only if the key exists
  };
  // Time to live; zero means no expiry. Sent as EX when it is whole seconds, else as PX.
  std::chrono::milliseconds ttl{0};
  Condition condition = Condition::kAlways;
};

// The remote tier contract. Every call may throw strata::Error (UnavailableError,
// TimeoutError, ReplyError, ...); a miss is an empty optional. All calls are thread-safe.
//   get       one value, or nullopt
//   mget      values in request order (nullopt for misses)
//   set       one value with SetOptions; true when it was stored (NX/XX may refuse)
//   set_many  many values with one TTL, pipelined
//   del       deletes keys, returns how many existed
//   eval      runs a script on its keys (EVALSHA with NOSCRIPT fallback)
//   publish   sends a message on a channel, returns the receivers the server counted
//   scan      visits every key matching a glob pattern (COUNT hint), never KEYS
template <typename T>
concept RemoteTier = requires(T& tier, std::string_view key, std::string_view value,
                              std::span<const std::string_view> keys,
                              std::span<const KeyValueView> items, std::chrono::milliseconds ttl,
                              const SetOptions& options, const RedisScript& script,
                              const std::function<void(std::string_view)>& on_key) {
  { tier.get(key) } -> std::same_as<std::optional<std::string>>;
  { tier.mget(keys) } -> std::same_as<std::vector<std::optional<std::string>>>;
  { tier.set(key, value, options) } -> std::same_as<bool>;
  { tier.set_many(items, ttl) } -> std::same_as<void>;
  { tier.del(keys) } -> std::convertible_to<long long>;
  { tier.eval(script, keys, keys) } -> std::same_as<RedisReply>;
  { tier.publish(key, value) } -> std::convertible_to<long long>;
  { tier.scan(key, on_key, 100) } -> std::same_as<void>;
};

}  // namespace strata
