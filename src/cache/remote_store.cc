// The L2 side of Cache<V>: key layout (docs/redis-keys.md), guarded fills (docs/patterns.md),
// breaker, counters.
#include "strata/cache/internal/remote_store.h"

#include <random>
#include <utility>

#include "strata/cache/key_layout.h"
#include "strata/error.h"

namespace strata::internal {
namespace {

// The fill guard lives in the value's own key (strata/cache/key_layout.h): a miss sets a
// placeholder there, and a fill replaces what the key held only if it still holds it. Every
// script touches that one key, so it works on a cluster without hash tags. GET is called with
// pcall: a key holding another type (another client's hash) is left alone, never an error.
// A script that sets a placeholder reads the key once more: the SET ended the caller's CLIENT
// TRACKING of the key (L1Coherence::kTracking), and the read makes Redis track it again, so the
// caller still hears of a write that lands while it loads.

// KEYS[1] value; ARGV[1] a new placeholder, ARGV[2] lease in ms. Returns the guard: SHA-1 of
// what the key holds (a placeholder already there is shared, so the first load to finish fills
// and a newer reader never revokes an older one; a value is guarded as it is), after setting
// the new placeholder on an empty key. false: the key holds another type.
const RedisScript kBeginFill{R"lua(
local v = redis.pcall('GET', KEYS[1])
if type(v) == 'table' then return false end
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  v = redis.call('GET', KEYS[1])
end
return redis.sha1hex(v)
)lua"};

// KEYS[1] value; ARGV[1] guard, ARGV[2] bytes, ARGV[3] ttl in ms. Stores the value only if the
// key still holds what the guard was taken on: a DEL, a write or another fill in between wins.
const RedisScript kGuardedFill{R"lua(
local v = redis.pcall('GET', KEYS[1])
if type(v) == 'string' and redis.sha1hex(v) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
)lua"};

// KEYS[1] value; ARGV[1] a new placeholder, ARGV[2] ttl in ms, ARGV[3] bytes to look past,
// ARGV[4] '1' when those may be replaced, ARGV[5] the placeholder prefix.
// {1, value}: a value is there; {2}: the lease (the placeholder) is the caller's; {0}: another
// reader's placeholder is there; {3}: the key holds data to keep (another type, or ignored
// bytes that must not be replaced).
const RedisScript kProbeLease{R"lua(
local v = redis.pcall('GET', KEYS[1])
if type(v) == 'table' then return {3} end
if v then
  if string.sub(v, 1, #ARGV[5]) == ARGV[5] then return {0} end
  if v ~= ARGV[3] then return {1, v} end
  if ARGV[4] ~= '1' then return {3} end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('GET', KEYS[1])
return {2}
)lua"};

// KEYS[1] a key; ARGV[1] what it must hold. Deletes the key only if it still holds that (a
// lease's holder releases its own lease, never a successor's).
const RedisScript kCompareAndDelete{R"lua(
if redis.pcall('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
)lua"};

// KEYS[1] value; ARGV[1] guard, ARGV[2] the placeholder prefix. Deletes the key only if it holds
// the placeholder the guard was taken on.
const RedisScript kAbandonFill{R"lua(
local v = redis.pcall('GET', KEYS[1])
if type(v) == 'string' and string.sub(v, 1, #ARGV[2]) == ARGV[2] and
    redis.sha1hex(v) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
)lua"};

bool wrong_type(const ReplyError& e) {
  return std::string_view(e.what()).find("WRONGTYPE") != std::string_view::npos;
}

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

std::string RemoteStore::value_key(std::string_view key) const {
  std::string out;
  out.reserve(prefix_.size() + key.size());
  out.append(prefix_).append(key);
  return out;
}

std::optional<std::string_view> RemoteStore::cache_key_of(std::string_view redis_key) const {
  if (!redis_key.starts_with(prefix_)) return std::nullopt;
  return redis_key.substr(prefix_.size());
}

std::string RemoteStore::refresh_key(std::string_view key) const {
  return refresh_lease_key(value_key(key));
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
  redis_keys.reserve(keys.size());
  for (const auto& key : keys) redis_keys.push_back(value_key(key));
  bool ok = true;
  try {
    if (!redis_keys.empty()) (void)client_.del(std::span<const std::string>(redis_keys));
    counters_.deletes_replayed.fetch_add(keys.size(), std::memory_order_relaxed);
    breaker_.on_success();
  } catch (const Error& e) {
    ok = false;
    failed(e);
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

void RemoteStore::failed(const Error& error) {
  counters_.errors.fetch_add(1, std::memory_order_relaxed);
  breaker_.on_failure();
  std::lock_guard lock(last_error_mutex_);
  last_error_ = error.what();
}

std::string RemoteStore::last_error() const {
  std::lock_guard lock(last_error_mutex_);
  return last_error_;
}

std::string RemoteStore::new_token() {
  return token_salt_ + "-" + std::to_string(token_counter_.fetch_add(1, std::memory_order_relaxed));
}

std::string RemoteStore::new_placeholder() {
  std::string out(kFillPlaceholderPrefix);
  out.append(new_token());
  return out;
}

RemoteRead RemoteStore::get(std::string_view key) {
  if (!allow()) return {};
  try {
    RemoteRead read{client_.get(value_key(key)), true};
    succeeded();
    if (read.bytes && is_fill_placeholder(*read.bytes)) read.bytes.reset();  // someone is loading
    (read.bytes ? counters_.hits : counters_.misses).fetch_add(1, std::memory_order_relaxed);
    return read;
  } catch (const ReplyError& e) {
    if (!wrong_type(e)) {
      failed(e);
      return {};
    }
    succeeded();  // the server answered: the key holds another client's data of another type
    counters_.misses.fetch_add(1, std::memory_order_relaxed);
    return RemoteRead{std::nullopt, true, true};
  } catch (const Error& e) {
    failed(e);
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
    for (auto& v : values) {  // MGET answers nil for a key of another type
      if (v && is_fill_placeholder(*v)) v.reset();
      (v ? counters_.hits : counters_.misses).fetch_add(1, std::memory_order_relaxed);
    }
    return values;
  } catch (const Error& e) {
    failed(e);
    return std::vector<std::optional<std::string>>(keys.size());
  }
}

std::optional<std::string> RemoteStore::begin_fill(std::string_view key,
                                                   std::chrono::milliseconds lease) {
  if (!allow()) return std::nullopt;
  try {
    const std::string vkey = value_key(key);
    const std::string placeholder = new_placeholder();
    const std::string px = std::to_string(lease.count());
    const RedisReply reply = client_.eval(kBeginFill, {std::string_view(vkey)},
                                          {std::string_view(placeholder), std::string_view(px)});
    succeeded();
    if (reply.is_nil()) return std::nullopt;  // another type: leave it
    if (!reply.is_string()) throw ProtocolError("begin fill: unexpected reply");
    return reply.str;
  } catch (const Error& e) {
    failed(e);
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
    for (const auto& key : keys) {
      pipeline.add({"EVAL", kBeginFill.source(), "1", value_key(key), new_placeholder(), px});
    }
    auto replies = pipeline.execute();
    succeeded();
    for (std::size_t i = 0; i < replies.size() && i < tokens.size(); ++i) {
      if (replies[i].is_string()) tokens[i] = std::move(replies[i].str);
    }
    return tokens;
  } catch (const Error& e) {
    failed(e);
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
      const std::string px = std::to_string(ttl.count());
      const RedisReply reply = client_.eval(kGuardedFill, {vkey}, {*token, bytes, px});
      stored = reply.is_integer() && reply.integer == 1;
    } else {
      stored = client_.set(value_key(key), bytes, SetOptions{.ttl = ttl});
    }
    succeeded();
    (stored ? counters_.fills : counters_.fills_skipped).fetch_add(1, std::memory_order_relaxed);
    return stored;
  } catch (const Error& e) {
    failed(e);
    return false;
  }
}

void RemoteStore::abandon_fill(std::string_view key, const std::string& token) {
  if (!allow()) return;
  try {
    const std::string vkey = value_key(key);
    (void)client_.eval(kAbandonFill, {std::string_view(vkey)},
                       {std::string_view(token), kFillPlaceholderPrefix});
    succeeded();
  } catch (const Error& e) {
    failed(e);
  }
}

bool RemoteStore::write(std::string_view key, std::string_view bytes,
                        std::chrono::milliseconds ttl) {
  if (!allow()) return false;
  try {
    (void)client_.set(value_key(key), bytes, SetOptions{.ttl = ttl});
    succeeded();
    counters_.writes.fetch_add(1, std::memory_order_relaxed);
    return true;
  } catch (const Error& e) {
    failed(e);
    return false;
  }
}

bool RemoteStore::remove(std::string_view key) {
  if (!allow()) {
    defer_delete(key);
    return false;
  }
  try {
    (void)client_.del(value_key(key));
    succeeded();
    counters_.deletes.fetch_add(1, std::memory_order_relaxed);
    return true;
  } catch (const Error& e) {
    failed(e);
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
  } catch (const Error& e) {
    failed(e);
    return std::nullopt;
  }
}

void RemoteStore::release_refresh(std::string_view key, const std::string& token) {
  if (!allow()) return;
  try {
    const std::string rkey = refresh_key(key);
    (void)client_.eval(kCompareAndDelete, {std::string_view(rkey)}, {std::string_view(token)});
    succeeded();
  } catch (const Error& e) {
    failed(e);
  }
}

LeaseProbe RemoteStore::probe_lease(std::string_view key, std::chrono::milliseconds ttl,
                                    std::string_view ignore_bytes, bool replace_ignored) {
  LeaseProbe probe;
  if (!allow()) return probe;
  try {
    std::string token = new_placeholder();
    const std::string vkey = value_key(key);
    const std::string px = std::to_string(ttl.count());
    const RedisReply reply =
        client_.eval(kProbeLease, {std::string_view(vkey)},
                     {std::string_view(token), std::string_view(px), ignore_bytes,
                      std::string_view(replace_ignored ? "1" : "0"), kFillPlaceholderPrefix});
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
    } else if (kind == 3) {
      probe.keep = true;
    }
    return probe;
  } catch (const Error& e) {
    failed(e);
    return LeaseProbe{};
  }
}

void RemoteStore::release_lease(std::string_view key, const std::string& token) {
  if (!allow()) return;
  try {
    const std::string vkey = value_key(key);
    (void)client_.eval(kCompareAndDelete, {std::string_view(vkey)}, {std::string_view(token)});
    succeeded();
  } catch (const Error& e) {
    failed(e);
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
