#include "strata/local/internal/timer_wheel.h"

#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <random>
#include <set>

namespace strata::internal {
namespace {

struct Timer : TimerLinks {
  std::int64_t at = 0;
  int id = 0;
  [[nodiscard]] std::int64_t deadline() const { return at; }
};

constexpr std::int64_t kSecond = 1'000'000'000;

// Deadlines from milliseconds to weeks: every timer fires exactly once, never before its
// deadline, and no later than one finest tick (2^30 ns) after it.
TEST(TimerWheel, ExpiresEveryTimerOnTimeAcrossAllWheels) {
  TimerWheel<Timer> wheel;
  std::mt19937_64 rng(11);
  std::deque<Timer> timers;
  const std::int64_t start = 5 * kSecond;
  wheel.advance(start, [](Timer*) {});
  for (int i = 0; i < 5000; ++i) {
    const double exponent = std::uniform_real_distribution<double>(-3, 6.5)(rng);  // 1ms..~36 days
    auto& t = timers.emplace_back();
    t.at = start + static_cast<std::int64_t>(std::pow(10.0, exponent) * kSecond);
    t.id = i;
    wheel.schedule(&t);
  }
  std::set<int> fired;
  std::int64_t now = start;
  std::int64_t step = kSecond / 4;
  while (fired.size() < timers.size()) {
    now += step;
    step = static_cast<std::int64_t>(static_cast<double>(step) * 1.02);  // coarser steps later on
    wheel.advance(now, [&](Timer* t) {
      ASSERT_LE(t->at, now) << "timer " << t->id << " fired early";
      ASSERT_TRUE(fired.insert(t->id).second) << "timer " << t->id << " fired twice";
    });
    for (const auto& t : timers) {
      if (t.at + (std::int64_t{1} << 30) <= now) {
        ASSERT_TRUE(fired.count(t.id)) << "timer " << t.id << " is late";
      }
    }
  }
}

// A timer whose deadline passed before it was scheduled fires at the next advance, not a
// whole rotation later.
TEST(TimerWheel, APastDeadlineFiresAtTheNextAdvance) {
  TimerWheel<Timer> wheel;
  wheel.advance(100 * kSecond, [](Timer*) {});
  Timer t;
  t.at = 90 * kSecond;
  wheel.schedule(&t);
  int fired = 0;
  wheel.advance(100 * kSecond + (std::int64_t{1} << 30), [&](Timer*) { ++fired; });
  EXPECT_EQ(fired, 1);
}

TEST(TimerWheel, DescheduledTimersNeverFire) {
  TimerWheel<Timer> wheel;
  Timer a, b;
  a.at = 2 * kSecond;
  b.at = 3 * kSecond;
  wheel.schedule(&a);
  wheel.schedule(&b);
  TimerWheel<Timer>::deschedule(&a);
  TimerWheel<Timer>::deschedule(&a);  // twice is harmless
  int fired = 0;
  wheel.advance(10 * kSecond, [&](Timer* t) {
    EXPECT_EQ(t, &b);
    ++fired;
  });
  EXPECT_EQ(fired, 1);
}

TEST(TimerWheel, AMovedDeadlineIsRescheduledNotFired) {
  TimerWheel<Timer> wheel;
  Timer t;
  t.at = 2 * kSecond;
  wheel.schedule(&t);
  t.at = 100 * kSecond;  // extended (expire-after-access), wheel not told
  int fired = 0;
  wheel.advance(50 * kSecond, [&](Timer*) { ++fired; });
  EXPECT_EQ(fired, 0);
  wheel.advance(101 * kSecond, [&](Timer*) { ++fired; });
  EXPECT_EQ(fired, 1);
}

}  // namespace
}  // namespace strata::internal
