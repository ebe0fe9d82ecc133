// DependencyIndex: a Redis set of dependents per entity (strata/invalidation/invalidation.h).
#include <algorithm>
#include <map>
#include <random>

#include "strata/invalidation/invalidation.h"
#include "strata/redis/key_slot.h"

namespace strata {
namespace {

// Standalone: everything in one script, all or nothing. KEYS[1] the set, KEYS[2..] the entity's
// own keys. Members are deleted with their fill token when they are Cache<V> value keys
// ("prefix{key}"). Reads keys it was not given: allowed on a standalone server only.
const RedisScript kInvalidateAll{R"lua(
local members = redis.call('SMEMBERS', KEYS[1])
for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
for _, m in ipairs(members) do
  redis.call('DEL', m)
  if string.match(m, '^[^{]*{.+}$') then redis.call('DEL', m .. ':fill') end
end
redis.call('DEL', KEYS[1])
return members
)lua"};

// Cluster, step 1, on the set's slot. KEYS[1] the set, KEYS[2] the snapshot (same slot),
// KEYS[3..] the entity's own keys; ARGV[1] the snapshot's ttl in ms. Returns the members.
const RedisScript kDetachSet{R"lua(
for i = 3, #KEYS do redis.call('DEL', KEYS[i]) end
local members = redis.call('SMEMBERS', KEYS[1])
if #members > 0 then
  redis.call('RENAME', KEYS[1], KEYS[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[1])
end
return members
)lua"};

std::string random_suffix() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::to_string(rng());
}

bool is_cache_value_key(std::string_view key) {
  return split_cache_key(key).has_value();
}

std::vector<std::string> strings_of(const RedisReply& reply) {
  std::vector<std::string> out;
  for (const auto& element : reply.elements) out.push_back(element.str);
  return out;
}

}  // namespace

DependencyIndex::DependencyIndex(RedisClient client, std::string prefix,
                                 std::chrono::milliseconds ttl)
    : client_(std::move(client)), prefix_(std::move(prefix)), ttl_(ttl) {
  if (prefix_.find_first_of("{}") != std::string::npos) {
    throw InvalidArgumentError("DependencyIndex: prefix must not contain '{' or '}'");
  }
  if (ttl_ <= std::chrono::milliseconds::zero()) {
    throw InvalidArgumentError("DependencyIndex: ttl must be > 0");
  }
}

std::string DependencyIndex::set_key(std::string_view entity) const {
  if (entity.empty()) throw InvalidArgumentError("DependencyIndex: empty entity");
  return prefix_ + "{" + std::string(entity) + "}";
}

void DependencyIndex::add(std::string_view entity, std::span<const std::string> redis_keys) {
  if (redis_keys.empty()) return;
  const std::string set = set_key(entity);
  const std::string ttl = std::to_string(ttl_.count());
  auto pipeline = client_.pipeline();
  std::vector<std::string_view> sadd{"SADD", set};
  for (const auto& key : redis_keys) sadd.push_back(key);
  pipeline.add(sadd);
  pipeline.add({"PEXPIRE", set, ttl});
  for (const RedisReply& reply : pipeline.execute()) {
    if (reply.is_error()) throw ReplyError("DependencyIndex::add: " + reply.str);
  }
}

void DependencyIndex::add(std::string_view entity, std::string_view redis_key) {
  const std::string key(redis_key);
  add(entity, std::span<const std::string>(&key, 1));
}

std::vector<std::string> DependencyIndex::dependents(std::string_view entity) {
  std::vector<std::string> out = strings_of(client_.command({"SMEMBERS", set_key(entity)}));
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> DependencyIndex::invalidate(std::string_view entity,
                                                     std::span<const std::string> entity_keys) {
  const std::string set = set_key(entity);
  const int slot = key_slot(set);
  for (const auto& key : entity_keys) {
    if (key_slot(key) != slot) {
      throw InvalidArgumentError("DependencyIndex::invalidate: entity key '" + key +
                                 "' is not in the slot of " + set);
    }
  }
  if (!client_.is_cluster()) {
    std::vector<std::string_view> keys{set};
    keys.insert(keys.end(), entity_keys.begin(), entity_keys.end());
    return strings_of(client_.eval(kInvalidateAll, keys, {}));
  }
  const std::string snapshot =
      prefix_ + "{" + std::string(entity) + "}:snapshot:" + random_suffix();
  std::vector<std::string_view> keys{set, snapshot};
  keys.insert(keys.end(), entity_keys.begin(), entity_keys.end());
  const std::string ttl = std::to_string(ttl_.count());
  const std::vector<std::string_view> args{ttl};
  std::vector<std::string> members = strings_of(client_.eval(kDetachSet, keys, args));
  if (members.empty()) return members;
  // Step 2: the members, one DEL per slot (atomic within it), pipelined per node.
  std::map<int, std::vector<std::string>> per_slot;
  for (const auto& member : members) {
    auto& group = per_slot[key_slot(member)];
    group.push_back(member);
    if (is_cache_value_key(member)) group.push_back(member + ":fill");
  }
  auto pipeline = client_.pipeline();
  for (const auto& [s, group] : per_slot) {
    std::vector<std::string_view> del{"DEL"};
    del.insert(del.end(), group.begin(), group.end());
    pipeline.add(del);
  }
  for (const RedisReply& reply : pipeline.execute()) {
    if (reply.is_error()) throw ReplyError("DependencyIndex::invalidate: " + reply.str);
  }
  // Step 3: every member is gone; the snapshot is no longer needed.
  (void)client_.del(snapshot);
  return members;
}

}  // namespace strata
