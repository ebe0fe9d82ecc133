// cache_fixtures.h: what the Cache<V> suites share: the User type and its mappings (from the
// source suites), sources on fresh tables, a controllable function source (hooks to stall or fail
// loads and writes), a recording write-behind sink, unique keys.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/temp_dir.h"
#include "source/source_fixtures.h"
#include "strata/cache/cache.h"
#include "strata/codec/json.h"

namespace strata::testing {

inline User make_user(int version, std::string name = "alice") {
  return User{std::move(name), std::string("a@example.com"), version, version * 0.5,
              std::string("\x00\xff", 2)};
}

// A map behind a mutex, with hooks: before_load runs inside every load (after the row was read),
// fail_loads / fail_writes make them throw UnavailableError; counts loads and writes.
struct ControlledStore {
  std::mutex mutex;
  std::map<std::string, User> rows;
  std::atomic<int> loads{0};
  std::atomic<int> writes{0};
  std::atomic<bool> fail_loads{false};
  std::atomic<bool> fail_writes{false};
  // Runs after the row was read and before it is returned (the "slow reader" window).
  std::function<void(std::string_view key)> after_read;

  std::optional<User> read(std::string_view key) {
    if (fail_loads) throw UnavailableError("controlled source: load refused");
    std::optional<User> row;
    {
      std::lock_guard lock(mutex);
      const auto it = rows.find(std::string(key));
      if (it != rows.end()) row = it->second;
    }
    ++loads;
    if (after_read) after_read(key);
    return row;
  }
  void set(std::string_view key, const User& user) {
    std::lock_guard lock(mutex);
    rows[std::string(key)] = user;
  }
};

inline FunctionSource<User> controlled_source(std::shared_ptr<ControlledStore> store) {
  SourceFunctions<User> fn;
  fn.load = [store](std::string_view key) { return store->read(key); };
  fn.write = [store](std::string_view key, const User& value) {
    if (store->fail_writes) throw UnavailableError("controlled source: write refused");
    ++store->writes;
    store->set(key, value);
  };
  fn.write_batch = [store](std::span<const KeyValue<User>> entries) {
    if (store->fail_writes) throw UnavailableError("controlled source: write refused");
    for (const auto& [key, value] : entries) {
      ++store->writes;
      store->set(key, value);
    }
  };
  fn.erase = [store](std::string_view key) {
    if (store->fail_writes) throw UnavailableError("controlled source: erase refused");
    std::lock_guard lock(store->mutex);
    store->rows.erase(std::string(key));
  };
  fn.erase_batch = [store](std::span<const std::string> keys) {
    if (store->fail_writes) throw UnavailableError("controlled source: erase refused");
    std::lock_guard lock(store->mutex);
    for (const auto& key : keys) store->rows.erase(key);
  };
  return FunctionSource<User>(std::move(fn));
}

// The write-behind seam's test double: records what the cache hands it.
class RecordingSink final : public WriteBehindSink<User> {
 public:
  void enqueue_put(std::string_view key, const User& value) override {
    if (refuse) throw ResourceExhaustedError("recording sink: full");
    std::lock_guard lock(mutex);
    puts.emplace_back(std::string(key), value);
  }
  void enqueue_erase(std::string_view key) override {
    if (refuse) throw ResourceExhaustedError("recording sink: full");
    std::lock_guard lock(mutex);
    erases.emplace_back(key);
  }
  std::mutex mutex;
  std::vector<std::pair<std::string, User>> puts;
  std::vector<std::string> erases;
  std::atomic<bool> refuse{false};
};

}  // namespace strata::testing
