// strata/local/internal/timer_wheel.h: a hierarchical timer wheel that finds expired entries in
// amortized O(1). Internal to LocalCache; not part of the public API.
//
// Design (Varghese and Lauck, "Hashed and Hierarchical Timing Wheels", SOSP 1987; the layout
// of Caffeine's TimerWheel): five wheels of doubly-linked buckets with coarser and coarser
// ticks, 64 buckets of ~1.07 s, 64 of ~1.14 min, 32 of ~1.22 h, 4 of ~1.63 days, and 1 for
// everything further out. An entry expires at most one finest tick (~1.07 s) after its deadline. An
// entry is scheduled in the finest wheel whose span covers its delay. advance(now) visits only the
// buckets whose tick passed since the last call: entries that are due are expired, the others
// (scheduled on a coarse wheel, or whose deadline moved later through expire-after-access) are
// rescheduled into a finer bucket. The wheel is a cleanup mechanism: a lookup still compares the
// entry's exact deadline, so an expired entry is never returned even before its bucket is visited.
//
// Node requirements: derives from TimerLinks (owned by the wheel) and has
// `std::int64_t deadline() const` (nanoseconds on the cache's clock). Not thread-safe.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>

namespace strata::internal {

struct TimerLinks {
  TimerLinks* timer_prev = nullptr;
  TimerLinks* timer_next = nullptr;
};

template <typename Node>
class TimerWheel {
 public:
  TimerWheel() {
    for (auto& wheel : sentinels_) {
      for (auto& s : wheel) s.timer_prev = s.timer_next = &s;
    }
  }
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  void schedule(Node* n) {
    TimerLinks* sentinel = bucket_for(n->deadline());
    n->timer_prev = sentinel->timer_prev;
    n->timer_next = sentinel;
    sentinel->timer_prev->timer_next = n;
    sentinel->timer_prev = n;
  }

  static void deschedule(TimerLinks* n) {
    if (n->timer_next == nullptr) return;
    n->timer_prev->timer_next = n->timer_next;
    n->timer_next->timer_prev = n->timer_prev;
    n->timer_prev = n->timer_next = nullptr;
  }

  void reschedule(Node* n) {
    deschedule(n);
    schedule(n);
  }

  // Moves the wheel to `now` and calls expire(node) for every node whose deadline is <= now
  // (the node is descheduled first). expire may deschedule other nodes but not schedule any.
  template <typename Expire>
  void advance(std::int64_t now, Expire&& expire) {
    const std::int64_t previous = nanos_;
    if (now <= previous) return;
    nanos_ = now;
    for (int level = 0; level < kLevels; ++level) {
      const std::int64_t previous_ticks = previous >> kShift[level];
      const std::int64_t current_ticks = now >> kShift[level];
      if (current_ticks <= previous_ticks) break;
      visit(level, previous_ticks, current_ticks - previous_ticks, now, expire);
    }
  }

  [[nodiscard]] std::int64_t now() const noexcept { return nanos_; }

 private:
  static constexpr int kLevels = 5;
  static constexpr std::array<int, kLevels> kBuckets = {64, 64, 32, 4, 1};
  // Ticks of 2^30 ns (1.07 s), 2^36 (1.14 min), 2^42 (1.22 h), 2^47 (1.63 days), 2^49 (6.5 days).
  static constexpr std::array<int, kLevels> kShift = {30, 36, 42, 47, 49};

  TimerLinks* bucket_for(std::int64_t deadline) {
    // A deadline already past (computed from a clock read before the wheel last advanced)
    // goes to the current tick's bucket, which the next advance visits.
    deadline = std::max(deadline, nanos_);
    const std::int64_t delay = deadline - nanos_;
    for (int level = 0; level < kLevels - 1; ++level) {
      if (delay < (std::int64_t{1} << kShift[level + 1])) {
        const auto index =
            static_cast<std::size_t>((deadline >> kShift[level]) & (kBuckets[level] - 1));
        return &sentinels_[level][index];
      }
    }
    return &sentinels_[kLevels - 1][0];
  }

  template <typename Expire>
  void visit(int level, std::int64_t previous_ticks, std::int64_t delta, std::int64_t now,
             Expire& expire) {
    const int buckets = kBuckets[level];
    const int mask = buckets - 1;
    const std::int64_t steps = std::min<std::int64_t>(delta + 1, buckets);
    const auto start = static_cast<int>(previous_ticks & mask);
    for (std::int64_t i = start; i < start + steps; ++i) {
      TimerLinks* sentinel = &sentinels_[level][static_cast<std::size_t>(i & mask)];
      // Detach the bucket, then expire or reschedule each node in it.
      TimerLinks* link = sentinel->timer_next;
      sentinel->timer_prev = sentinel->timer_next = sentinel;
      while (link != sentinel) {
        TimerLinks* next = link->timer_next;
        link->timer_prev = link->timer_next = nullptr;
        Node* n = static_cast<Node*>(link);
        if (n->deadline() <= now) {
          expire(n);
        } else {
          schedule(n);
        }
        link = next;
      }
    }
  }

  std::int64_t nanos_ = 0;
  // Sentinels head each bucket's circular list.
  std::array<std::array<TimerLinks, 64>, kLevels> sentinels_;
};

}  // namespace strata::internal
