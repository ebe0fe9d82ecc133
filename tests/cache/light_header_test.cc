// The light public header (issue 15): strata/cache/cache.h reaches neither nlohmann-json nor a
// codec header, and a local-only cache and a MessagePack one compile without strata/codec/json.h
// (this file must not include it). Cache's moves are defaulted and keep the caches working.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <msgpack.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "strata/cache/cache.h"
#include "strata/codec/msgpack.h"
#include "support/test_servers.h"

#ifdef INCLUDE_NLOHMANN_JSON_HPP_
#error "strata/cache/cache.h (or strata/codec/msgpack.h) reaches nlohmann/json.hpp"
#endif

namespace strata {
namespace {

using namespace std::chrono_literals;

struct Point {
  int x = 0;
  int y = 0;
  MSGPACK_DEFINE(x, y)
  friend bool operator==(const Point&, const Point&) = default;
};

// No JSON default format is visible here: remote(client, options) would not compile.
template <typename V>
constexpr bool kHasDefaultFormat = requires {
  default_format(FormatTag<V>{});
};
static_assert(!kHasDefaultFormat<Point>);
static_assert(std::is_nothrow_move_constructible_v<Cache<Point>>);
static_assert(std::is_nothrow_move_assignable_v<Cache<Point>>);

TEST(LightHeader, LocalOnlyCacheNeedsNoJson) {
  auto cache = CacheBuilder<Point>()
                   .local({.maximum_size = 10})
                   .loader([](std::string_view) {
                     return std::optional<Point>(Point{1, 2});
                   })
                   .build();
  EXPECT_EQ(cache.get("p"), (Point{1, 2}));
  // Moves: the moved-to handle serves the same layers; assigning over a cache with an owned
  // refresh pool stops that pool first.
  Cache<Point> moved = std::move(cache);
  EXPECT_EQ(moved.stats().l1.hits, 0u);
  EXPECT_EQ(moved.get("p"), (Point{1, 2}));
  EXPECT_EQ(moved.stats().l1.hits, 1u);
  moved = CacheBuilder<Point>()
              .local({.maximum_size = 10, .ttl = 1min})
              .loader([](std::string_view) {
                return std::optional<Point>(Point{3, 4});
              })
              .refresh_after(10s)  // owns a refresh pool
              .build();
  EXPECT_EQ(moved.get("p"), (Point{3, 4}));
}

TEST(LightHeader, MsgpackRemoteCacheNeedsNoJson) {
  STRATA_SERVER_URL(url, "STRATA_TEST_REDIS_URL");
  auto cache =
      CacheBuilder<Point>()
          .remote(RedisClient(url), {.ttl = 60s},
                  ValueFormat<Point, MsgpackCodec<Point>>::envelope())
          .key_prefix("test:light:" + std::to_string(::getpid()) + ":" +
                      std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) +
                      ":")
          .loader([](std::string_view) {
            return std::optional<Point>(Point{5, 6});
          })
          .build();
  EXPECT_EQ(cache.get("p"), (Point{5, 6}));
  EXPECT_EQ(cache.stats().l2.misses, 1u);
  EXPECT_EQ(cache.get("p"), (Point{5, 6}));
  EXPECT_EQ(cache.stats().l2.hits, 1u);
}

}  // namespace
}  // namespace strata
