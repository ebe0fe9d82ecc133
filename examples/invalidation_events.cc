// Invalidation by events (the textbook's fifth example): two instances of a service, each with
// its own two-tier cache (L1 in process, L2 on Redis) kept coherent by strata's invalidation bus.
// Instance A updates a user and raises the domain event "user_updated"; the registry turns it
// into the keys it invalidates (user:{id}, user_profile:{id}, user_list); instance B's L1 drops
// them and B's next read sees the new data. Then an outside publisher sends the textbook's own
// JSON message {"entity": "user:7"} on channel cache_invalidation, with the same effect.
//
// The bus needs Redis: pass --redis URL (redis:// or redis+cluster://). Without it the example
// explains that and exits with code 77. Its test (examples/run-example.sh) always passes a server,
// or skips before starting it when there is none, so a 77 from the example itself fails the test.
//
//   ./build/examples/example_invalidation_events --redis redis://127.0.0.1:6379
#include <strata/cache/cache.h>
#include <strata/invalidation/invalidation.h>

#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "strata/codec/json.h"

namespace {

using namespace std::chrono_literals;

struct UserUpdated {
  int id = 0;
};

// The service's database, shared by both instances (a map standing in for SQL).
class Database {
 public:
  void save(const std::string& key, std::string value) {
    std::lock_guard lock(mutex_);
    rows_[key] = std::move(value);
  }
  std::optional<std::string> load(std::string_view key) {
    std::lock_guard lock(mutex_);
    ++reads_;
    const auto it = rows_.find(std::string(key));
    if (it == rows_.end()) return std::nullopt;
    return it->second;
  }
  int reads() {
    std::lock_guard lock(mutex_);
    return reads_;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, std::string> rows_;
  int reads_ = 0;
};

// One instance of the service: its bus (its own instance id) and its cache.
struct Instance {
  std::shared_ptr<strata::InvalidationBus> bus;
  strata::Cache<std::string> cache;
};

Instance start_instance(const std::string& redis_url, const std::string& prefix,
                        const std::shared_ptr<Database>& db) {
  auto bus = std::make_shared<strata::InvalidationBus>(redis_url);
  if (!bus->wait_connected(5s)) throw strata::UnavailableError("the bus did not connect");
  auto cache = strata::CacheBuilder<std::string>()
                   .local({.maximum_size = 10'000, .ttl = 10min})  // long: only events refresh it
                   .remote(strata::RedisClient(redis_url), {.ttl = 10min})
                   .loader([db](std::string_view key) { return db->load(key); })
                   .key_prefix(prefix)
                   .coherence(strata::L1Coherence::kBus)
                   .invalidation_bus(bus)
                   .build();
  return Instance{std::move(bus), std::move(cache)};
}

// Waits (up to 5 s) until B's cache shows `expected` for `key`: the event travels asynchronously.
bool sees(strata::Cache<std::string>& cache, const std::string& key, const std::string& expected) {
  for (int i = 0; i < 250; ++i) {
    if (cache.get(key) == expected) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

int run(const std::string& redis_url) {
  auto db = std::make_shared<Database>();
  db->save("user:7", "alice");
  db->save("user_profile:7", "alice's profile");
  db->save("user_list", "alice,bob");
  // A prefix of its own, so that runs do not see each other's L2 values.
  const std::string prefix =
      "example:events:" +
      std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) + ":";
  Instance a = start_instance(redis_url, prefix, db);
  Instance b = start_instance(redis_url, prefix, db);

  strata::InvalidationRegistry registry;
  registry.on<UserUpdated>("user_updated", [](const UserUpdated& e) {
    const std::string id = std::to_string(e.id);
    return std::vector<std::string>{"user:" + id, "user_profile:" + id, "user_list"};
  });

  // Both instances read: B's L1 now holds the three keys.
  for (const char* key : {"user:7", "user_profile:7", "user_list"}) {
    (void)a.cache.get(key);
    std::cout << "B reads " << key << " = " << b.cache.get(key).value_or("(none)") << "\n";
  }
  const int reads_before = db->reads();

  // A updates the database, then raises the event (cache-aside: never write the cache).
  db->save("user:7", "alice (renamed)");
  db->save("user_profile:7", "alice's new profile");
  db->save("user_list", "alice (renamed),bob");
  const auto keys = registry.dispatch(*a.bus, "user_updated", UserUpdated{7});
  std::cout << "A raised user_updated{7}: invalidates";
  for (const auto& key : keys) std::cout << " " << key;
  std::cout << "\n";

  bool ok = sees(b.cache, "user:7", "alice (renamed)") &&
            sees(b.cache, "user_profile:7", "alice's new profile") &&
            sees(b.cache, "user_list", "alice (renamed),bob");
  std::cout << "B reads user:7 = " << b.cache.get("user:7").value_or("(none)")
            << " (database reads since the event: " << db->reads() - reads_before << ")\n";

  // The textbook's format, from any publisher: {"entity": "user:7"} on cache_invalidation.
  db->save("user:7", "alice (textbook)");
  strata::RedisClient(redis_url).publish("cache_invalidation", R"({"entity": "user:7"})");
  ok = ok && sees(b.cache, "user:7", "alice (textbook)");
  std::cout << "after {\"entity\": \"user:7\"}: B reads user:7 = "
            << b.cache.get("user:7").value_or("(none)") << "\n";

  const strata::InvalidationBusStats stats = b.bus->stats();
  std::cout << "B's bus: received " << stats.received << ", textbook " << stats.entity_received
            << ", sequence gaps " << stats.sequence_gaps << ", L1 flushes " << stats.l1_flushes
            << "\n";
  for (const char* key : {"user:7", "user_profile:7", "user_list"}) a.cache.invalidate(key);
  std::cout << (ok ? "invalidation_events: OK\n" : "invalidation_events: FAILED\n");
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string redis_url;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--redis" && i + 1 < argc) redis_url = argv[++i];
  }
  if (redis_url.empty()) {
    std::cerr << "invalidation_events: the invalidation bus needs Redis: pass --redis URL, e.g.\n"
                 "  example_invalidation_events --redis redis://127.0.0.1:6379\n";
    return 77;
  }
  try {
    return run(redis_url);
  } catch (const std::exception& e) {
    std::cerr << "invalidation_events: " << e.what() << "\n";
    return 1;
  }
}
