// A two-tier cache: each service instance keeps hot values in its own memory (L1) in front of a
// shared Redis (L2, standalone or `redis+cluster://`) in front of the database (SQLite here).
// Reads go L1 -> L2 -> database; writes go to the database, then L2, and every instance's L1
// learns of them through Redis server-assisted tracking (L1Coherence::kTracking).
// Without `--redis` it is an L1-only cache for one instance.
//
//   ./build/examples/example_two_tier                                  # L1 only
//   ./build/examples/example_two_tier --redis redis://127.0.0.1:6379   # two instances, coherent
#include <strata/cache/cache.h>
#include <strata/source/sqlite_source.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <thread>

#include "strata/codec/json.h"

struct Product {
  std::string name;
  std::int64_t price_cents = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Product, name, price_cents)

namespace {

using namespace std::chrono_literals;

std::shared_ptr<strata::SqliteSource<Product>> open_products(const std::string& path) {
  return std::make_shared<strata::SqliteSource<Product>>(
      strata::SqliteOptions{.path = path},
      strata::TableMapping<Product>::columns("products", "id",
                                             {strata::column("name", &Product::name),
                                              strata::column("price_cents", &Product::price_cents)})
          .create_table_if_missing());
}

// One service instance's cache. Each instance has its own RedisClient (its own connections),
// as separate processes would.
strata::Cache<Product> make_cache(const std::shared_ptr<strata::SqliteSource<Product>>& db,
                                  const std::optional<std::string>& redis_url,
                                  const std::string& prefix) {
  strata::CacheBuilder<Product> builder;
  builder.local({.maximum_size = 10'000, .ttl = 5min})
      .source(db)
      .key_prefix(prefix)
      .write_mode(strata::WriteMode::kWriteThrough);
  if (redis_url) {
    builder.remote(strata::RedisClient(*redis_url), {.ttl = 10min})
        .coherence(strata::L1Coherence::kTracking);
  }
  return builder.build();
}

int run(const std::optional<std::string>& redis_url) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("strata-example-products-" + std::to_string(::getpid()) + ".db");
  auto db = open_products(path.string());
  db->write("1", {"teapot", 2500});
  const std::string prefix = "example:product:" + std::to_string(::getpid()) + ":";

  strata::Cache<Product> a = make_cache(db, redis_url, prefix);
  bool ok = true;
  (void)a.get("1");
  const std::optional<Product> hit = a.get("1");
  const auto a_stats = a.stats();
  std::cout << "instance A: " << hit->name << " at " << hit->price_cents << " cents (L1 hits "
            << a_stats.l1.hits << ", database loads " << a_stats.source.loads << ")\n";
  ok = ok && hit->price_cents == 2500 && a_stats.source.loads == 1;

  if (!redis_url) {
    a.put("1", {"teapot", 2700});  // database, then L1
    const std::optional<Product> after = a.get("1");
    std::cout << "after A's write: " << after->price_cents << " cents (L1 only, one instance)\n";
    ok = ok && after->price_cents == 2700;
  } else {
    strata::Cache<Product> b = make_cache(db, redis_url, prefix);
    // B reads until its L1 holds the product (the first read may come from the database).
    for (int i = 0; i < 10 && b.stats().l1.hits == 0; ++i) (void)b.get("1");
    std::cout << "instance B: " << b.get("1")->price_cents << " cents from its L1 (L1 hits "
              << b.stats().l1.hits << ")\n";
    const auto seen = b.redis_tracking()->stats().keys_invalidated;
    a.put("1", {"teapot", 2700});  // database, then Redis: Redis tells B, which drops its copy
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (b.redis_tracking()->stats().keys_invalidated == seen &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    const std::optional<Product> after = b.get("1");
    const auto t = b.redis_tracking()->stats();
    std::cout << "after A's write, instance B reads " << after->price_cents
              << " cents (invalidations received " << t.keys_invalidated << ")\n";
    ok = ok && after->price_cents == 2700 && t.keys_invalidated > seen;
  }
  std::filesystem::remove(path);
  std::filesystem::remove(path.string() + "-wal");
  std::filesystem::remove(path.string() + "-shm");
  std::cout << (ok ? "two_tier: OK\n" : "two_tier: FAILED\n");
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<std::string> redis_url;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--redis" && i + 1 < argc) {
      redis_url = argv[++i];
    } else {
      std::cerr << "usage: " << argv[0] << " [--redis URL]\n";
      return 2;
    }
  }
  try {
    return run(redis_url);
  } catch (const strata::Error& e) {
    std::cerr << "two_tier: " << e.what() << "\n";
    return 1;
  }
}
