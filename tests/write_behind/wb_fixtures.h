// wb_fixtures.h: what the write-behind suites share: a FunctionSource<std::string> over an
// in-memory map whose writes can be made to fail or block on chosen keys, and small helpers.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/temp_dir.h"
#include "strata/source/function_source.h"
#include "strata/write_behind/write_behind.h"
#include "support/eventually.h"

namespace strata::testing {

// The rows and a log of every batch the source received. `hook`, when set, runs before each
// batch is applied (under no lock) and may throw to fail it.
struct MapState {
  std::mutex mu;
  std::map<std::string, std::string> rows;
  std::vector<std::vector<std::string>> write_batches;  // keys of each successful write_batch
  std::vector<std::vector<std::string>> erase_batches;
  std::vector<std::pair<std::string, std::string>> history;  // (key, value or "<erased>")
  std::function<void(const std::vector<std::string>& keys)> hook;

  std::optional<std::string> get(const std::string& key) {
    std::lock_guard lock(mu);
    auto it = rows.find(key);
    if (it == rows.end()) return std::nullopt;
    return it->second;
  }
  std::size_t size() {
    std::lock_guard lock(mu);
    return rows.size();
  }
};

inline std::shared_ptr<FunctionSource<std::string>> map_source(std::shared_ptr<MapState> state) {
  SourceFunctions<std::string> fn;
  fn.load = [state](std::string_view key) { return state->get(std::string(key)); };
  fn.write_batch = [state](std::span<const KeyValue<std::string>> entries) {
    std::vector<std::string> keys;
    for (const auto& e : entries) keys.push_back(e.first);
    std::function<void(const std::vector<std::string>&)> hook;
    {
      std::lock_guard lock(state->mu);
      hook = state->hook;
    }
    if (hook) hook(keys);
    std::lock_guard lock(state->mu);
    for (const auto& [k, v] : entries) {
      state->rows[k] = v;
      state->history.emplace_back(k, v);
    }
    state->write_batches.push_back(keys);
  };
  fn.erase_batch = [state](std::span<const std::string> keys) {
    std::vector<std::string> ks(keys.begin(), keys.end());
    std::function<void(const std::vector<std::string>&)> hook;
    {
      std::lock_guard lock(state->mu);
      hook = state->hook;
    }
    if (hook) hook(ks);
    std::lock_guard lock(state->mu);
    for (const auto& k : ks) {
      state->rows.erase(k);
      state->history.emplace_back(k, "<erased>");
    }
    state->erase_batches.push_back(ks);
  };
  return std::make_shared<FunctionSource<std::string>>(std::move(fn));
}

using StringWriteBehind = WriteBehind<std::string, BytesCodec>;

// Options for tests: kEveryWrite, a manual clock, retries that do not sleep.
inline WriteBehindOptions test_options(const std::filesystem::path& dir,
                                       std::shared_ptr<ManualClock> clock = nullptr) {
  WriteBehindOptions o;
  o.directory = dir;
  o.fsync = FsyncPolicy::kEveryWrite;
  o.clock = clock ? clock : std::make_shared<ManualClock>();
  o.flush_interval = std::chrono::hours(1);  // batches go by size, flush() or close() only
  o.poll_interval = std::chrono::milliseconds(1);
  o.sleep = [](std::chrono::nanoseconds) {};
  o.jitter_seed = 42;
  o.close_timeout = std::chrono::milliseconds(2000);
  o.log = [](const std::string&) {};  // damage reports: the tests that want them set their own
  return o;
}

// A gate the source hook can wait on: closed until open() is called.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool is_open = false;
  int waiting = 0;
  void wait() {
    std::unique_lock lock(mu);
    ++waiting;
    cv.wait(lock, [&] { return is_open; });
    --waiting;
  }
  void open() {
    std::lock_guard lock(mu);
    is_open = true;
    cv.notify_all();
  }
  int waiters() {
    std::lock_guard lock(mu);
    return waiting;
  }
};

}  // namespace strata::testing
