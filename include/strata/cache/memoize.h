// strata/cache/memoize.h: memoized functions over a Cache<V>: memo_key (the cache key of a call)
// and cached() (a function whose results are read through the cache). Use it to cache a pure
// computation by its arguments; it needs nlohmann-json for the keys.
//
//   auto price = strata::cached(cache, "app:price:",
//                               [&](int id, std::string cur) { return quote(id, cur); });
//   double p = price(42, "EUR");  // reads the key memo_key("app:price:", 42, "EUR"),
//                                 // "app:price:42:EUR" (the usual prefix:function:args)
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

// One argument of a memoized call as text: strings as they are, numbers and booleans as JSON
// writes them, anything JSON-serializable as its compact JSON, else its to_string().
template <typename T>
std::string memo_argument(const T& arg) {
  using std::to_string;
  if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    return std::string(std::string_view(arg));
  } else if constexpr (std::is_arithmetic_v<T> ||
                       std::is_constructible_v<nlohmann::json, const T&>) {
    return nlohmann::json(arg).dump();
  } else {
    static_assert(
        requires { to_string(arg); },
        "a memoized argument must be JSON-serializable or have to_string()");
    return to_string(arg);
  }
}

// Appends `text` with ':' and the backslash escaped by a backslash: the separators stay unique.
inline void append_memo_part(std::string& out, std::string_view text) {
  for (const char c : text) {
    if (c == ':' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
}

}  // namespace internal

// The cache key of a memoized call: prefix + the arguments joined by ':', the convention other
// caching libraries and scripts use ("prefix:function:args"): memo_key("app:price:", 42, "EUR")
// == "app:price:42:EUR". A ':' or a backslash inside an argument is escaped by a backslash: for one
// function (one prefix, fixed argument types) distinct arguments give distinct keys.
template <typename... Args>
[[nodiscard]] std::string memo_key(std::string_view prefix, const Args&... args) {
  std::string key(prefix);
  if constexpr (sizeof...(Args) > 0) {
    bool first = true;
    auto add = [&](const std::string& part) {
      if (!first) key.push_back(':');
      first = false;
      internal::append_memo_part(key, part);
    };
    (add(internal::memo_argument(args)), ...);
  }
  return key;
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
