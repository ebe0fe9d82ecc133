// A user service with cache-aside over SQLite, the embedded default: reads go through
// Cache<User>::get_or_load, the service writes its table itself and then invalidates the key.
// L1 (in-process) only by default; `--redis URL` adds Redis (or `redis+cluster://...`) as L2;
// `--postgres URL` keeps the users table in PostgreSQL instead of SQLite.
//
//   ./build/examples/example_user_service                      # L1 only, SQLite
//   ./build/examples/example_user_service --redis redis://127.0.0.1:6379
//   ./build/examples/example_user_service --postgres postgresql://localhost/app
#include <strata/cache/cache.h>
#include <strata/source/postgres_source.h>
#include <strata/source/sqlite_source.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "strata/cache/memoize.h"
#include "strata/codec/json.h"

struct User {
  std::string name;
  std::string email;
  std::int64_t visits = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(User, name, email, visits)

namespace {

strata::TableMapping<User> users_mapping(const std::string& table) {
  return strata::TableMapping<User>::columns(
             table, "id",
             {strata::column("name", &User::name), strata::column("email", &User::email),
              strata::column("visits", &User::visits)})
      .create_table_if_missing();
}

// The service's own data access: strata's SQLite (or PostgreSQL) source used as a plain table.
class UserTable {
 public:
  explicit UserTable(const std::string& sqlite_path)
      : sqlite_(std::make_unique<strata::SqliteSource<User>>(
            strata::SqliteOptions{.path = sqlite_path}, users_mapping("users"))) {}
  UserTable(const std::string& postgres_url, const std::string& table)
      : pg_(std::make_unique<strata::PostgresSource<User>>(
            strata::PostgresOptions{.url = postgres_url}, users_mapping(table))) {}
  std::optional<User> find(std::string_view id) {
    ++reads_;
    return sqlite_ ? sqlite_->load(id) : pg_->load(id);
  }
  void save(std::string_view id, const User& user) {
    sqlite_ ? sqlite_->write(id, user) : pg_->write(id, user);
  }
  void remove(std::string_view id) { sqlite_ ? sqlite_->erase(id) : pg_->erase(id); }
  [[nodiscard]] int reads() const { return reads_; }

 private:
  std::unique_ptr<strata::SqliteSource<User>> sqlite_;
  std::unique_ptr<strata::PostgresSource<User>> pg_;
  int reads_ = 0;
};

int run(const std::optional<std::string>& redis_url,
        const std::optional<std::string>& postgres_url) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("strata-example-users-" + std::to_string(::getpid()) + ".db");
  UserTable table = postgres_url
                        ? UserTable(*postgres_url, "example_users_" + std::to_string(::getpid()))
                        : UserTable(path.string());
  table.save("1", {"Ada", "ada@example.com", 0});
  table.save("2", {"Grace", "grace@example.com", 0});

  strata::CacheBuilder<User> builder;
  builder.local({.maximum_size = 10'000, .ttl = std::chrono::minutes(5)})
      .key_prefix("example:user:" + std::to_string(::getpid()) + ":");
  if (redis_url) builder.remote(strata::RedisClient(*redis_url), {.ttl = std::chrono::minutes(10)});
  strata::Cache<User> users = builder.build();

  auto load = [&](std::string_view id) { return table.find(id); };

  // Reads: the first misses and loads, the second is a hit.
  const std::optional<User> first = users.get_or_load("1", load);
  const std::optional<User> second = users.get_or_load("1", load);
  std::cout << "read user 1: " << first->name << ", again: " << second->name
            << " (table reads: " << table.reads() << ")\n";

  // A write: the service updates its table, then invalidates (never updates) the cache.
  User ada = *first;
  ada.email = "ada@lovelace.dev";
  table.save("1", ada);
  users.invalidate("1");
  const std::optional<User> after = users.get_or_load("1", load);
  std::cout << "after the update: " << after->email << " (table reads: " << table.reads() << ")\n";

  // "Not found" is an empty optional, not an error.
  const bool missing = !users.get_or_load("404", load).has_value();

  // Memoize any function: the key is built from a prefix and the arguments.
  int computed = 0;
  auto greeting = strata::cached(users, "greeting:", [&](const std::string& id, int visits) {
    ++computed;
    return User{"guest " + id, "", visits};
  });
  (void)greeting("x", 1);
  (void)greeting("x", 1);
  (void)greeting("x", 2);

  const strata::TieredCacheStats stats = users.stats();
  std::cout << "L1 hits " << stats.l1.hits << ", misses " << stats.l1.misses;
  if (redis_url) std::cout << "; L2 hits " << stats.l2.hits << ", misses " << stats.l2.misses;
  std::cout << "; memoized calls computed " << computed << "\n";
  table.remove("1");  // leave a shared database clean
  table.remove("2");
  std::filesystem::remove(path);
  std::filesystem::remove(path.string() + "-wal");
  std::filesystem::remove(path.string() + "-shm");

  const bool ok = first->name == "Ada" && after->email == "ada@lovelace.dev" && missing &&
                  table.reads() == 3 && computed == 2;
  std::cout << (ok ? "user_service: OK\n" : "user_service: FAILED\n");
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<std::string> redis_url;
  std::optional<std::string> postgres_url;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--redis" && i + 1 < argc) {
      redis_url = argv[++i];
    } else if (arg == "--postgres" && i + 1 < argc) {
      postgres_url = argv[++i];
    } else {
      std::cerr << "usage: " << argv[0] << " [--redis URL] [--postgres URL]\n";
      return 2;
    }
  }
  try {
    return run(redis_url, postgres_url);
  } catch (const strata::Error& e) {
    std::cerr << "user_service: " << e.what() << "\n";
    return 1;
  }
}
