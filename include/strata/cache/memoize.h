// strata/cache/memoize.h: memoized functions over a Cache<V>: memo_key (the cache key of a call)
// and cached() (a function whose results are read through the cache). Use it to cache a pure
// computation by its arguments; it needs nlohmann-json for the keys.
//
//   auto price = strata::cached(cache, "price:", [&](int id, std::string cur) { return quote(id,
//   cur); }); double p = price(42, "EUR");  // reads memo_key("price:", 42, "EUR") ==
//   "price:[42,\"EUR\"]"
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "strata/cache/cache.h"

namespace strata {

namespace internal {

// cached()'s access to the engine a Cache<V> shares.
struct MemoAccess {
  template <typename V>
  static auto state(const Cache<V>& cache) {
    return cache.state_;
  }
};

// One argument of a memoized call as JSON: strings as strings, numbers as numbers, anything
// JSON-serializable as its JSON, else its to_string() as a string.
template <typename T>
nlohmann::json memo_argument(const T& arg) {
  using std::to_string;
  if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    return nlohmann::json(std::string(std::string_view(arg)));
  } else if constexpr (std::is_arithmetic_v<T> ||
                       std::is_constructible_v<nlohmann::json, const T&>) {
    return nlohmann::json(arg);
  } else {
    static_assert(
        requires { to_string(arg); },
        "a memoized argument must be JSON-serializable or have to_string()");
    return nlohmann::json(to_string(arg));
  }
}

}  // namespace internal

// The cache key of a memoized call: prefix + the arguments as a JSON array, e.g.
// memo_key("price:", 42, "EUR") == "price:[42,\"EUR\"]". Distinct arguments give distinct keys.
template <typename... Args>
[[nodiscard]] std::string memo_key(std::string_view prefix, const Args&... args) {
  nlohmann::json array = nlohmann::json::array();
  (array.push_back(internal::memo_argument(args)), ...);
  return std::string(prefix) + array.dump();
}

// A memoized version of `fn` (any R(Args...) with R = V): each call reads
// memo_key(prefix, args...) through the cache (get_or_load), calling fn(args...) on a miss. The
// adaptor shares the cache's layers and may outlive the Cache object.
template <typename V, typename F>
[[nodiscard]] auto cached(const Cache<V>& cache, std::string prefix, F fn) {
  return [state = internal::MemoAccess::state(cache), prefix = std::move(prefix),
          fn = std::move(fn)](const auto&... args) -> V {
    const std::string key = memo_key(prefix, args...);
    auto loader = [&](std::string_view) { return std::optional<V>(V(fn(args...))); };
    std::optional<V> value = state->read(key, loader, false);
    if (!value) return V(fn(args...));
    return std::move(*value);
  };
}

}  // namespace strata
