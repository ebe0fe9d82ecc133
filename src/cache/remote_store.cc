// The L2 side of Cache<V>: key layout, guarded fills (docs/patterns.md), breaker, counters.
#include "strata/cache/internal/remote_store.h"

#include <random>
#include <utility>

#include "strata/error.h"

namespace strata::internal {
namespace {

// KEYS[1] value, KEYS[2] fill token; ARGV[1] token, ARGV[2] bytes, ARGV[3] ttl in ms.
// The value is stored only if the reader's token is still there: an invalidation or a write
// (which delete the token) between the miss and the fill wins. The first fill deletes the token,
// so later fills of the same epoch are refused (the value is there already).
const RedisScript kGuardedFill{R"lua(
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
)lua"};

// KEYS[1] fill token; ARGV[1] a new token, ARGV[2] lease in ms. Returns the token the caller
// fills with: the one already there (another reader's miss of the same value: they share it,
// so the first load to finish fills and a newer reader never revokes an older one), else the
// new one, set for the lease. Only invalidations and writes delete the token.
const RedisScript kBeginFill{R"lua(
local current = redis.call('GET', KEYS[1])
if current then
  return current
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]
)lua"};

// KEYS[1] value, KEYS[2] fill token; ARGV[1] bytes, ARGV[2] ttl in ms.
const RedisScript kWriteAndRevoke{R"lua(
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('DEL', KEYS[2])
return 1
)lua"};

// KEYS[1] value, KEYS[2] lock; ARGV[1] token, ARGV[2] ttl in ms, ARGV[3] bytes to ignore.
// {1, value}: the value is there; {2}: the lease is the caller's; {0}: someone else holds it.
const RedisScript kProbeLease{R"lua(
local v = redis.call('GET', KEYS[1])
if v and v ~= ARGV[3] then
  return {1, v}
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {2}
end
return {0}
)lua"};

// KEYS[1] lock; ARGV[1] token. Only the holder releases its lease.
const RedisScript kCompareAndDelete{R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
)lua"};

std::string random_salt() {
  std::random_device device;
  const std::uint64_t a = (static_cast<std::uint64_t>(device()) << 32) | device();
  return std::to_string(a);
}

}  // namespace

RemoteStore::RemoteStore(RedisClient client, std::string prefix, BreakerOptions breaker,
                         std::shared_ptr<const Clock> clock)
    : client_(std::move(client)),
      prefix_(std::move(prefix)),
      breaker_(breaker, std::move(clock)),
      token_salt_(random_salt()) {}

// A key that starts with '}' would make an empty hash tag ("{}..."), and Redis Cluster would
// then hash the whole name, putting the value and its fill token in different slots (the fill
// script fails with CROSSSLOT). Such keys, and for injectivity those that start with the escape
// byte NUL, get a NUL in front: the tag is then never empty. Other keys are unchanged.
std::string RemoteStore::value_key(std::string_view key) const {
  const bool escape = !key.empty() && (key.front() == '}' || key.front() == '\0');
  std::string out;
  out.reserve(prefix_.size() + key.size() + 3);
  out.append(prefix_).append("{");
  if (escape) out.push_back('\0');
  out.append(key).append("}");
  return out;
}

std::optional<std::string_view> RemoteStore::cache_key_of(std::string_view redis_key) const {
  // prefix + "{" + key + "}": only value keys end in '}' (tokens end in ":fill", ":refresh").
  if (redis_key.size() < prefix_.size() + 2 || !redis_key.starts_with(prefix_) ||
      redis_key[prefix_.size()] != '{' || redis_key.back() != '}') {
    return std::nullopt;
  }
  std::string_view key =
      redis_key.substr(prefix_.size() + 1, redis_key.size() - prefix_.size() - 2);
  // value_key() puts a NUL in front of keys that start with '}' or NUL: take it away again.
  if (!key.empty() && key.front() == '\0') key.remove_prefix(1);
  return key;
}

std::string RemoteStore::token_key(std::string_view key) const {
  return value_key(key) + ":fill";
}

std::string RemoteStore::refresh_key(std::string_view key) const {
  return value_key(key) + ":refresh";
}

std::string RemoteStore::lock_key(std::string_view key) const {
  return value_key(key) + ":lock";
}

// A call goes to Redis only when the breaker allows it and no deferred delete is pending: those
// are sent first, so that no read sees a value whose invalidation was lost during an outage.
bool RemoteStore::allow() {
  if (!breaker_.allow()) {
    counters_.short_circuited.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  if (deferred_count_.load(std::memory_order_acquire) > 0 && !replay_deferred_deletes()) {
    counters_.short_circuited.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  return true;
}

void RemoteStore::succeeded() {
  breaker_.on_success();
}

void RemoteStore::defer_delete(std::string_view key) {
  std::lock_guard lock(deferred_mutex_);
  if (deferred_.size() >= kMaxDeferredDeletes) {
    counters_.deletes_dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (deferred_.emplace(key).second) {
    deferred_count_.store(deferred_.size(), std::memory_order_release);
    counters_.deletes_deferred.fetch_add(1, std::memory_order_relaxed);
  }
}

// Sends the deferred deletes (one DEL, split per slot). One thread at a time: while it runs,
// the others skip L2 (false). True when every deferred delete was sent.
bool RemoteStore::replay_deferred_deletes() {
  if (replaying_.exchange(true, std::memory_order_acq_rel)) return false;
  std::unordered_set<std::string> keys;
  {
    std::lock_guard lock(deferred_mutex_);
    keys.swap(deferred_);  // deferred_count_ stays > 0 until the DEL is done
  }
  std::vector<std::string> redis_keys;
  redis_keys.reserve(keys.size() * 2);
  for (const auto& key : keys) {
    redis_keys.push_back(value_key(key));
    redis_keys.push_back(token_key(key));
  }
  bool ok = true;
  try {
    if (!redis_keys.empty()) (void)client_.del(std::span<const std::string>(redis_keys));
    counters_.deletes_replayed.fetch_add(keys.size(), std::memory_order_relaxed);
    breaker_.on_success();
  } catch (const Error&) {
    ok = false;
    counters_.errors.fetch_add(1, std::memory_order_relaxed);
    breaker_.on_failure();
  }
  {
    std::lock_guard lock(deferred_mutex_);
    if (!ok) {
      for (const auto& key : keys) {
        if (deferred_.size() >= kMaxDeferredDeletes) break;
        deferred_.insert(key);
      }
    }
    deferred_count_.store(deferred_.size(), std::memory_order_release);
  }
  replaying_.store(false, std::memory_order_release);
  return ok;
}

void RemoteStore::failed() {
  counters_.errors.fetch_add(1, std::memory_order_relaxed);
  breaker_.on_failure();
}

std::string RemoteStore::new_token() {
  return token_salt_ + "-" + std::to_string(token_counter_.fetch_add(1, std::memory_order_relaxed));
}

RemoteRead RemoteStore::get(std::string_view key) {
  if (!allow()) return {};
  try {
    RemoteRead read{client_.get(value_key(key)), true};
    succeeded();
    (read.bytes ? counters_.hits : counters_.misses).fetch_add(1, std::memory_order_relaxed);
    return read;
  } catch (const Error&) {
    failed();
    return {};
  }
}

std::vector<std::optional<std::string>> RemoteStore::mget(std::span<const std::string> keys,
                                                          bool& ok) {
  ok = false;
  if (keys.empty()) {
    ok = true;
    return {};
  }
  if (!allow()) return std::vector<std::optional<std::string>>(keys.size());
  std::vector<std::string> redis_keys;
  redis_keys.reserve(keys.size());
  for (const auto& key : keys) redis_keys.push_back(value_key(key));
  try {
    auto values = client_.mget(std::span<const std::string>(redis_keys));
    succeeded();
    ok = true;
    for (const auto& v : values) {
      (v ? counters_.hits : counters_.misses).fetch_add(1, std::memory_order_relaxed);
    }
    return values;
  } catch (const Error&) {
    failed();
    return std::vector<std::optional<std::string>>(keys.size());
  }
}

std::optional<std::string> RemoteStore::begin_fill(std::string_view key,
                                                   std::chrono::milliseconds lease) {
  if (!allow()) return std::nullopt;
  try {
    const std::string tkey = token_key(key);
    const std::string token = new_token();
    const std::string px = std::to_string(lease.count());
    const RedisReply reply = client_.eval(kBeginFill, {std::string_view(tkey)},
                                          {std::string_view(token), std::string_view(px)});
    if (!reply.is_string()) throw ProtocolError("begin fill: unexpected reply");
    succeeded();
    return reply.str;
  } catch (const Error&) {
    failed();
    return std::nullopt;
  }
}

std::vector<std::optional<std::string>> RemoteStore::begin_fill_many(
    std::span<const std::string> keys, std::chrono::milliseconds lease) {
  std::vector<std::optional<std::string>> tokens(keys.size());
  if (keys.empty() || !allow()) return tokens;
  try {
    auto pipeline = client_.pipeline();
    const std::string px = std::to_string(lease.count());
    std::vector<std::string> token_keys;
    token_keys.reserve(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
      token_keys.push_back(token_key(keys[i]));
      pipeline.add({"EVAL", kBeginFill.source(), "1", token_keys.back(), new_token(), px});
    }
    auto replies = pipeline.execute();
    succeeded();
    for (std::size_t i = 0; i < replies.size() && i < tokens.size(); ++i) {
      if (replies[i].is_string()) tokens[i] = std::move(replies[i].str);
    }
    return tokens;
  } catch (const Error&) {
    failed();
    return std::vector<std::optional<std::string>>(keys.size());
  }
}

bool RemoteStore::fill(std::string_view key, const std::optional<std::string>& token,
                       std::string_view bytes, std::chrono::milliseconds ttl) {
  if (!allow()) return false;
  try {
    bool stored;
    if (token) {
      const std::string vkey = value_key(key);
      const std::string tkey = token_key(key);
      const std::string px = std::to_string(ttl.count());
      const RedisReply reply = client_.eval(kGuardedFill, {vkey, tkey}, {*token, bytes, px});
      stored = reply.is_integer() && reply.integer == 1;
    } else {
      stored = client_.set(value_key(key), bytes, SetOptions{.ttl = ttl});
    }
    succeeded();
    (stored ? counters_.fills : counters_.fills_skipped).fetch_add(1, std::memory_order_relaxed);
    return stored;
  } catch (const Error&) {
    failed();
    return false;
  }
}

bool RemoteStore::write(std::string_view key, std::string_view bytes,
                        std::chrono::milliseconds ttl) {
  if (!allow()) return false;
  try {
    const std::string vkey = value_key(key);
    const std::string tkey = token_key(key);
    const std::string px = std::to_string(ttl.count());
    (void)client_.eval(kWriteAndRevoke, {vkey, tkey}, {bytes, px});
    succeeded();
    counters_.writes.fetch_add(1, std::memory_order_relaxed);
    return true;
  } catch (const Error&) {
    failed();
    return false;
  }
}

bool RemoteStore::remove(std::string_view key) {
  if (!allow()) {
    defer_delete(key);
    return false;
  }
  try {
    const std::string vkey = value_key(key);
    const std::string tkey = token_key(key);
    (void)client_.del({std::string_view(vkey), std::string_view(tkey)});
    succeeded();
    counters_.deletes.fetch_add(1, std::memory_order_relaxed);
    return true;
  } catch (const Error&) {
    failed();
    defer_delete(key);
    return false;
  }
}

void RemoteStore::drop_corrupted(std::string_view key) {
  counters_.corrupted.fetch_add(1, std::memory_order_relaxed);
  (void)remove(key);
}

std::optional<std::string> RemoteStore::claim_refresh(std::string_view key,
                                                      std::chrono::milliseconds lease) {
  if (!allow()) return std::nullopt;
  try {
    std::string token = new_token();
    const bool claimed =
        client_.set(refresh_key(key), token,
                    SetOptions{.ttl = lease, .condition = SetOptions::Condition::kIfAbsent});
    succeeded();
    if (!claimed) return std::nullopt;
    return token;
  } catch (const Error&) {
    failed();
    return std::nullopt;
  }
}

void RemoteStore::release_refresh(std::string_view key, const std::string& token) {
  if (!allow()) return;
  try {
    const std::string rkey = refresh_key(key);
    (void)client_.eval(kCompareAndDelete, {std::string_view(rkey)}, {std::string_view(token)});
    succeeded();
  } catch (const Error&) {
    failed();
  }
}

LeaseProbe RemoteStore::probe_lease(std::string_view key, std::chrono::milliseconds ttl,
                                    std::string_view ignore_bytes) {
  LeaseProbe probe;
  if (!allow()) return probe;
  try {
    std::string token = new_token();
    const std::string vkey = value_key(key);
    const std::string lkey = lock_key(key);
    const std::string px = std::to_string(ttl.count());
    const RedisReply reply =
        client_.eval(kProbeLease, {std::string_view(vkey), std::string_view(lkey)},
                     {std::string_view(token), std::string_view(px), ignore_bytes});
    succeeded();
    if (!reply.is_array() || reply.elements.empty() || !reply.elements[0].is_integer()) {
      throw ProtocolError("lease probe: unexpected reply");
    }
    probe.ok = true;
    const long long kind = reply.elements[0].integer;
    if (kind == 1 && reply.elements.size() == 2) {
      probe.bytes = reply.elements[1].str;
      counters_.hits.fetch_add(1, std::memory_order_relaxed);
    } else if (kind == 2) {
      probe.token = std::move(token);
    }
    return probe;
  } catch (const Error&) {
    failed();
    return LeaseProbe{};
  }
}

void RemoteStore::release_lease(std::string_view key, const std::string& token) {
  if (!allow()) return;
  try {
    const std::string lkey = lock_key(key);
    (void)client_.eval(kCompareAndDelete, {std::string_view(lkey)}, {std::string_view(token)});
    succeeded();
  } catch (const Error&) {
    failed();
  }
}

RemoteCounters RemoteStore::counters() const {
  const auto load = [](const std::atomic<std::uint64_t>& a) {
    return a.load(std::memory_order_relaxed);
  };
  return RemoteCounters{load(counters_.hits),
                        load(counters_.misses),
                        load(counters_.errors),
                        load(counters_.short_circuited),
                        load(counters_.corrupted),
                        load(counters_.fills),
                        load(counters_.fills_skipped),
                        load(counters_.writes),
                        load(counters_.deletes),
                        load(counters_.deletes_deferred),
                        load(counters_.deletes_replayed),
                        load(counters_.deletes_dropped)};
}

}  // namespace strata::internal
