// DependencyIndex: a Redis set of dependents per entity (strata/invalidation/invalidation.h).
#include <algorithm>
#include <map>

#include "strata/invalidation/invalidation.h"
#include "strata/redis/key_slot.h"

namespace strata {
namespace {

// Standalone: everything in one script, all or nothing. KEYS[1] the set, KEYS[2..] the entity's
// own keys. Reads keys it was not given (the members): allowed on a standalone server only.
const RedisScript kInvalidateAll{R"lua(
local members = redis.call('SMEMBERS', KEYS[1])
for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
for _, m in ipairs(members) do redis.call('DEL', m) end
redis.call('DEL', KEYS[1])
return members
)lua"};

// Cluster, step 1, on the set's slot: the members, and the set gone at once. KEYS[1] the set.
const RedisScript kDetachSet{R"lua(
local members = redis.call('SMEMBERS', KEYS[1])
redis.call('DEL', KEYS[1])
return members
)lua"};

std::vector<std::string> strings_of(const RedisReply& reply) {
  std::vector<std::string> out;
  for (const auto& element : reply.elements) out.push_back(element.str);
  return out;
}

}  // namespace

DependencyIndex::DependencyIndex(RedisClient client, std::string prefix,
                                 std::chrono::milliseconds ttl)
    : client_(std::move(client)), prefix_(std::move(prefix)), ttl_(ttl) {
  if (ttl_ <= std::chrono::milliseconds::zero()) {
    throw InvalidArgumentError("DependencyIndex: ttl must be > 0");
  }
}

std::string DependencyIndex::set_key(std::string_view entity) const {
  if (entity.empty()) throw InvalidArgumentError("DependencyIndex: empty entity");
  return prefix_ + std::string(entity);
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
  if (!client_.is_cluster()) {
    std::vector<std::string_view> keys{set};
    keys.insert(keys.end(), entity_keys.begin(), entity_keys.end());
    return strings_of(client_.eval(kInvalidateAll, keys, {}));
  }
  std::vector<std::string> members =
      strings_of(client_.eval(kDetachSet, {std::string_view(set)}, {}));
  // Step 2: the entity's keys and the members, one DEL per slot (atomic within it), pipelined.
  std::map<int, std::vector<std::string_view>> per_slot;
  for (const auto& key : entity_keys) per_slot[key_slot(key)].push_back(key);
  for (const auto& member : members) per_slot[key_slot(member)].push_back(member);
  if (per_slot.empty()) return members;
  try {
    auto pipeline = client_.pipeline();
    for (const auto& [slot, group] : per_slot) {
      std::vector<std::string_view> del{"DEL"};
      del.insert(del.end(), group.begin(), group.end());
      pipeline.add(del);
    }
    for (const RedisReply& reply : pipeline.execute()) {
      if (reply.is_error()) throw ReplyError("DependencyIndex::invalidate: " + reply.str);
    }
  } catch (const Error&) {
    // Put the members back, so that a retry (or the next invalidation) still finds them.
    try {
      if (!members.empty()) add(entity, members);
    } catch (const Error&) {  // they expire by their TTL then
    }
    throw;
  }
  return members;
}

}  // namespace strata
