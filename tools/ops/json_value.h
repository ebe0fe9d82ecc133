// ops/json_value.h: the operator commands see every value as nlohmann::json. This header holds
// the MessagePack codec for nlohmann::json (strata's codec id 2, byte-compatible with
// MsgpackCodec<V> for the same shape: an application's MSGPACK_DEFINE struct reads as an array,
// MSGPACK_DEFINE_MAP as an object) and the mapping of JSON values onto SQL columns.
//
//   strata::ops::JsonMsgpackCodec codec;  // codec.decode(codec.encode(json)) == json
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "strata/codec/codec.h"
#include "strata/codec/json.h"
#include "strata/codec/msgpack.h"
#include "strata/error.h"
#include "strata/source/table_mapping.h"

namespace strata::ops {

// MessagePack for nlohmann::json (nlohmann's own to/from_msgpack).
struct JsonMsgpackCodec {
  static constexpr std::uint8_t id = kMsgpackCodecId;

  [[nodiscard]] std::string encode(const nlohmann::json& value) const {
    const std::vector<std::uint8_t> bytes = nlohmann::json::to_msgpack(value);
    return std::string(bytes.begin(), bytes.end());
  }
  // Throws CorruptedError for bytes that are not exactly one MessagePack object, or that nest
  // deeper than internal::kDefaultMaxNestingDepth (nlohmann's reader recurses per level).
  [[nodiscard]] nlohmann::json decode(std::string_view bytes) const {
    internal::check_msgpack_nesting(bytes, internal::kDefaultMaxNestingDepth, "msgpack decode");
    try {
      return nlohmann::json::from_msgpack(bytes.begin(), bytes.end(), /*strict=*/true);
    } catch (const nlohmann::json::exception& e) {
      throw CorruptedError(std::string("msgpack decode: ") + e.what());
    }
  }
};
static_assert(Codec<JsonMsgpackCodec, nlohmann::json>);
static_assert(Codec<JsonCodec<nlohmann::json>, nlohmann::json>);

// "text", "bytes", "int64", "double", "json" (as strata::to_string(ColumnType) spells them).
[[nodiscard]] ColumnType parse_column_type(std::string_view name);

// A typed column of a JSON object: member `name` of the object <-> the column (a missing or
// null member is SQL NULL; a kJson column holds the member's JSON text; a kText column holds a
// string member as it is and any other member as its JSON text).
[[nodiscard]] Column<nlohmann::json> json_member_column(std::string name, ColumnType type);

// A SQL value as JSON (NULL -> null, numbers, strings).
[[nodiscard]] nlohmann::json sql_value_to_json(const SqlValue& value);

}  // namespace strata::ops
