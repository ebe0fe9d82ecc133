// NamespaceVersions and invalidate_pattern (strata/invalidation/invalidation.h).
#include <algorithm>
#include <map>

#include "strata/invalidation/invalidation.h"

namespace strata {

NamespaceVersions::NamespaceVersions(RedisClient client, std::shared_ptr<InvalidationBus> bus)
    : client_(std::move(client)), bus_(std::move(bus)) {
  if (bus_) {
    // A bump elsewhere, a gap or a lost connection: the cached numbers may be old.
    bus_->on_flush([weak = std::weak_ptr<Generations>(generations_)](std::string_view ns) {
      if (auto generations = weak.lock()) generations->forget(ns);
    });
  }
}

std::string NamespaceVersions::counter_key(std::string_view name) const {
  // Unchanged by the key-layout change on purpose: a renamed counter would restart at
  // generation 1 and could bring back values of an old generation still in Redis.
  if (name.empty() || name.find_first_of("{}") != std::string_view::npos) {
    throw InvalidArgumentError("NamespaceVersions: a name is non-empty and has no '{' or '}'");
  }
  return "strata:ns:{" + std::string(name) + "}";
}

void NamespaceVersions::Generations::forget(std::string_view name) {
  std::lock_guard lock(mutex);
  if (name.empty()) {
    cached.clear();
    return;
  }
  // The bus flushes by prefix: "users:" forgets "users:" and "users".
  std::erase_if(cached, [&](const auto& entry) {
    return std::string_view(entry.first + ":").starts_with(name) || entry.first == name;
  });
}

std::uint64_t NamespaceVersions::generation(std::string_view name) {
  const std::string key = counter_key(name);
  if (bus_) {
    std::lock_guard lock(generations_->mutex);
    if (auto it = generations_->cached.find(std::string(name)); it != generations_->cached.end())
      return it->second;
  }
  const std::optional<std::string> value = client_.get(key);
  std::uint64_t gen = 1;
  if (value) {
    try {
      gen = std::stoull(*value);
    } catch (const std::exception&) {
      throw CorruptedError("NamespaceVersions: " + key + " does not hold a number");
    }
  }
  if (bus_) {
    std::lock_guard lock(generations_->mutex);
    generations_->cached[std::string(name)] = gen;
  }
  return gen;
}

std::string NamespaceVersions::prefix(std::string_view name) {
  return std::string(name) + ":v" + std::to_string(generation(name)) + ":";
}

std::string NamespaceVersions::key(std::string_view name, std::string_view key) {
  return prefix(name) + std::string(key);
}

std::uint64_t NamespaceVersions::bump(std::string_view name) {
  const std::string key = counter_key(name);
  // A missing counter means generation 1: start from there.
  (void)client_.set(key, "1", {.condition = SetOptions::Condition::kIfAbsent});
  const auto gen = static_cast<std::uint64_t>(client_.incrby(key, 1));
  if (bus_) {
    {
      std::lock_guard lock(generations_->mutex);
      generations_->cached[std::string(name)] = gen;
    }
    // Namespaced keys may sit in any cache's L1 (they are cache keys): every L1 is flushed.
    (void)bus_->announce_flush("");
    std::lock_guard lock(generations_->mutex);
    generations_->cached[std::string(name)] = gen;  // announce_flush made us forget it
  }
  return gen;
}

PatternInvalidationResult invalidate_pattern(RedisClient& client, std::string_view pattern,
                                             const PatternInvalidationOptions& options,
                                             InvalidationBus* bus) {
  if (pattern.empty()) throw InvalidArgumentError("invalidate_pattern: empty pattern");
  const std::size_t batch_size = std::max<std::size_t>(options.batch, 1);
  PatternInvalidationResult result;
  std::vector<std::string> seen;
  std::vector<std::string> batch;
  std::vector<std::string> announced;  // the Redis keys deleted
  auto flush_batch = [&] {
    if (batch.empty()) return;
    result.deleted += static_cast<std::uint64_t>(client.del(std::span<const std::string>(batch)));
    ++result.batches;
    if (bus) announced.insert(announced.end(), batch.begin(), batch.end());
    batch.clear();
  };
  client.scan(
      pattern,
      [&](std::string_view key) {
        seen.emplace_back(key);
        if (options.dry_run) return;
        batch.emplace_back(key);
        if (batch.size() >= batch_size) flush_batch();
      },
      batch_size);
  if (!options.dry_run) flush_batch();
  std::sort(seen.begin(), seen.end());
  seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
  result.matched = seen.size();
  if (options.dry_run || options.collect) result.keys = std::move(seen);
  if (bus) (void)bus->announce_redis_keys(announced);
  return result;
}

}  // namespace strata
