// strata/cache/key_layout.h: the Redis keys and marker values strata writes, for tools and for
// other clients of the same Redis (docs/redis-keys.md has the whole table).
//
// A cached value lives at exactly `key_prefix + key` (no braces, no escaping), on a standalone
// server and on a cluster alike, so `redis-cli GET user:123` finds what `cache.put("user:123")`
// wrote, and SCAN patterns, other languages' clients and dashboards see strata's keys as theirs.
// Besides values, that key can briefly hold one of two markers, both starting with a NUL byte
// (which neither an envelope nor JSON ever does):
//   - a fill placeholder, "\0strata:fill:" + token: a reader missed and is loading the value
//     from the source (the memcache "lease": the fill replaces the placeholder only if it is
//     still there, so a DEL or a write in between wins). It expires by itself (fill_lease);
//   - the negative marker "\0strata:absent": "the source has no such row", cached for
//     CacheBuilder::negative_ttl.
// Other readers treat a value starting with NUL as absent:
//   if (is_strata_marker(bytes)) { /* not a value */ }
// strata's own bookkeeping keys start with "strata:" (refresh leases, namespace generations);
// dependency sets are `deps:<entity>` (InvalidationBusOptions::dependency_prefix).
#pragma once

#include <string>
#include <string_view>

namespace strata {

// Bytes stored for "not found" (negative caching and write-behind deletes).
inline constexpr std::string_view kNegativeMarker{"\0strata:absent", 14};
// The start of a fill placeholder (a reader is loading the value).
inline constexpr std::string_view kFillPlaceholderPrefix{"\0strata:fill:", 13};

// True for bytes strata stores as a marker rather than a value.
[[nodiscard]] constexpr bool is_strata_marker(std::string_view bytes) noexcept {
  return bytes.starts_with(std::string_view("\0strata:", 8));
}
[[nodiscard]] constexpr bool is_fill_placeholder(std::string_view bytes) noexcept {
  return bytes.starts_with(kFillPlaceholderPrefix);
}

// The key of the cross-process refresh-ahead lease of the value at `redis_key` (prefix + key):
// "strata:refresh:" + redis_key. It lives beside the value (another slot on a cluster: it is
// claimed with SET NX PX and released by compare-and-delete, each on that key alone).
[[nodiscard]] inline std::string refresh_lease_key(std::string_view redis_key) {
  std::string out("strata:refresh:");
  out.append(redis_key);
  return out;
}

}  // namespace strata
