// strata/codec/json.h: JsonCodec<V> (JSON text through nlohmann-json) and the JSON default format
// of CacheBuilder<V>. Include it wherever a value is stored as JSON: a Cache<V> with remote() and
// no format(), ValueFormat<V> (whose default codec is JSON), a JSON document column.
//
//   strata::JsonCodec<User> codec;           // User has to_json/from_json (nlohmann-json)
//   std::string bytes = codec.encode(user);  // codec.decode(bytes) throws CorruptedError if bad
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "strata/codec/codec.h"
#include "strata/codec/envelope.h"
#include "strata/codec/internal/nesting.h"
#include "strata/error.h"

namespace strata {

// JSON text through nlohmann-json. V needs to_json/from_json (or NLOHMANN_DEFINE_TYPE_*).
// Strings must be valid UTF-8: encode() throws InvalidArgumentError otherwise. Text nesting
// arrays and objects deeper than `max_depth` is corrupted data: JsonCodec<V>{.max_depth = 64}.
template <typename V>
struct JsonCodec {
  static constexpr std::uint8_t id = kJsonCodecId;
  std::size_t max_depth = internal::kDefaultMaxNestingDepth;

  // The value as compact JSON text.
  [[nodiscard]] std::string encode(const V& value) const {
    try {
      return nlohmann::json(value).dump();
    } catch (const nlohmann::json::exception& e) {
      throw InvalidArgumentError(std::string("json encode: ") + e.what());
    }
  }

  // Parses JSON text into a V; throws CorruptedError for invalid JSON, a mismatched shape or
  // nesting deeper than max_depth (checked first, without recursion: nlohmann's parser and the
  // copies after it recurse per level).
  [[nodiscard]] V decode(std::string_view bytes) const {
    internal::check_json_nesting(bytes, max_depth, "json decode");
    try {
      return nlohmann::json::parse(bytes.begin(), bytes.end()).template get<V>();
    } catch (const nlohmann::json::exception& e) {
      throw CorruptedError(std::string("json decode: ") + e.what());
    }
  }
};

// The format CacheBuilder<V>::remote() uses when no format() is given: JSON in the envelope.
// Found by argument-dependent lookup on FormatTag<V> (strata/codec/envelope.h); only declared
// here, so a translation unit without this header cannot take the JSON default (a compile error
// that names this header) instead of silently doing something else.
template <typename V>
requires std::is_constructible_v<nlohmann::json, const V&>
[[nodiscard]] ValueFormat<V, JsonCodec<V>> default_format(FormatTag<V> /*unused*/) {
  return ValueFormat<V, JsonCodec<V>>::envelope();
}

}  // namespace strata
