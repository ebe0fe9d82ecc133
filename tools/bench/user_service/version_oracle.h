// version_oracle.h: the truth `strata bench` keeps beside the database to count stale reads and
// lost writes of concurrent clients: each user's last acknowledged version.
// Use it around a pattern's reads and writes:
//
//   { std::lock_guard l(oracle.lock(id)); const auto v = oracle.acknowledged(id) + 1;
//     write(id, v); oracle.acknowledge(id, v); }                    // a write
//   const auto floor = oracle.acknowledged(id);  const auto got = read(id);
//   if (VersionOracle::stale(floor, got)) ++stale;                  // a read
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

namespace strata::bench {

// A client writes a user under that user's lock (a service serialises the writes of one row,
// with a row lock or a version check), so the versions of a user are acknowledged in order;
// reads take no lock. A read is stale when it returns no user, or a version older than the last
// write acknowledged before the read started (a newer one is a concurrent write, not stale). A
// write is lost when, after the pattern drained, the source holds an older version than the
// last acknowledged one (a newer one is a write that failed after it reached the source).
// Thread-safe. Ids run from 0 to `users`.
class VersionOracle {
 public:
  explicit VersionOracle(std::uint64_t users) : acked_(users + 1) {}

  // The last acknowledged version of `id` (0: the row as loaded).
  [[nodiscard]] std::int64_t acknowledged(std::int64_t id) const {
    return acked_[static_cast<std::size_t>(id)].load(std::memory_order_acquire);
  }
  // Held by the writer of `id` from choosing its version to acknowledging it.
  [[nodiscard]] std::mutex& lock(std::int64_t id) {
    return stripes_[static_cast<std::size_t>(id) % stripes_.size()];
  }
  // REQUIRES: lock(id) held, and `version` is acknowledged(id) + 1.
  void acknowledge(std::int64_t id, std::int64_t version) {
    acked_[static_cast<std::size_t>(id)].store(version, std::memory_order_release);
  }

  // `floor` is acknowledged(id) taken before the read started; `version` what the read returned.
  [[nodiscard]] static bool stale(std::int64_t floor, std::optional<std::int64_t> version) {
    return !version || *version < floor;
  }
  // `stored` is the version the source holds once every write was acknowledged and drained.
  [[nodiscard]] bool lost(std::int64_t id, std::optional<std::int64_t> stored) const {
    return !stored || *stored < acknowledged(id);
  }

 private:
  std::vector<std::atomic<std::int64_t>> acked_;
  std::array<std::mutex, 1024> stripes_;
};

}  // namespace strata::bench
