// strata/codec/codec.h: codecs that turn a value into bytes and back (JSON, MessagePack, raw
// bytes), and the compression (zstd, lz4) applied to those bytes above a size threshold. Use a
// codec wherever strata stores a value: in the L2 envelope, in a source's document column.
//
//   strata::JsonCodec<User> codec;           // User has to_json/from_json (nlohmann-json)
//   std::string bytes = codec.encode(user);  // codec.decode(bytes) throws CorruptedError if bad
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <msgpack.hpp>
#include <new>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "strata/codec/internal/nesting.h"
#include "strata/error.h"

namespace strata {

// The contract every codec meets. `C::id` is stored in each envelope, so it must never change
// once values are written with it: 1-127 belong to strata (below), 128-255 to applications.
// decode() throws CorruptedError for bytes it cannot read, and never reads out of bounds.
template <typename C, typename V>
concept Codec = requires(const C& codec, const V& value, std::string_view bytes) {
  { codec.encode(value) } -> std::same_as<std::string>;
  { codec.decode(bytes) } -> std::same_as<V>;
  { C::id } -> std::convertible_to<std::uint8_t>;
};

// The ids of strata's codecs (stable, part of the envelope format).
inline constexpr std::uint8_t kJsonCodecId = 1;
inline constexpr std::uint8_t kMsgpackCodecId = 2;
inline constexpr std::uint8_t kBytesCodecId = 3;

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
  // nesting deeper than max_depth.
  [[nodiscard]] V decode(std::string_view bytes) const {
    internal::check_json_nesting(bytes, max_depth, "json decode");
    try {
      return nlohmann::json::parse(bytes.begin(), bytes.end()).template get<V>();
    } catch (const nlohmann::json::exception& e) {
      throw CorruptedError(std::string("json decode: ") + e.what());
    }
  }
};

// MessagePack through msgpack-cxx. V needs MSGPACK_DEFINE (or a msgpack adaptor). Decoding is
// bounded: no container or string may declare more elements or bytes than the input holds, and
// nesting is limited to `max_depth` (corrupted data beyond), so hostile bytes cannot make it
// allocate without bound or recurse without bound.
template <typename V>
struct MsgpackCodec {
  static constexpr std::uint8_t id = kMsgpackCodecId;
  static constexpr std::size_t kMaxDepth = internal::kDefaultMaxNestingDepth;
  std::size_t max_depth = kMaxDepth;

  // The value as one MessagePack object.
  [[nodiscard]] std::string encode(const V& value) const {
    msgpack::sbuffer buffer;
    msgpack::pack(buffer, value);
    return std::string(buffer.data(), buffer.size());
  }

  // Unpacks exactly one object spanning all of `bytes` into a V; throws CorruptedError otherwise.
  [[nodiscard]] V decode(std::string_view bytes) const {
    internal::check_msgpack_nesting(bytes, max_depth, "msgpack decode");
    try {
      const std::size_t n = bytes.size();
      const msgpack::unpack_limit limit(n, n, n, n, n, max_depth);
      std::size_t offset = 0;
      msgpack::object_handle handle =
          msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr, limit);
      if (offset != bytes.size()) {
        throw CorruptedError("msgpack decode: " + std::to_string(bytes.size() - offset) +
                             " trailing bytes");
      }
      return handle.get().as<V>();
    } catch (const Error&) {
      throw;
    } catch (const std::bad_alloc&) {
      throw;
    } catch (const std::exception& e) {  // msgpack::unpack_error, msgpack::type_error, ...
      throw CorruptedError(std::string("msgpack decode: ") + e.what());
    }
  }
};

// Raw bytes: the value is the std::string itself (binary-safe, no framing).
struct BytesCodec {
  static constexpr std::uint8_t id = kBytesCodecId;
  // The bytes themselves.
  [[nodiscard]] std::string encode(const std::string& value) const { return value; }
  // The bytes themselves; never throws.
  [[nodiscard]] std::string decode(std::string_view bytes) const { return std::string(bytes); }
};

// Compression algorithms (the numbers are part of the envelope format).
enum class Compression : std::uint8_t { kNone = 0, kZstd = 1, kLz4 = 2 };

// When and how to compress. Payloads of fewer than `threshold` bytes are stored as they are,
// and so is a payload that compression would not make smaller.
struct CompressionOptions {
  Compression algorithm = Compression::kZstd;
  std::size_t threshold = 1024;  // bytes
  int zstd_level = 3;            // 1 (fast) .. 19 (small); lz4 has no level here

  // Throws InvalidArgumentError naming the option when out of range.
  void validate() const;
};

// Compresses `bytes` with `algorithm` (kNone returns a copy).
[[nodiscard]] std::string compress(Compression algorithm, std::string_view bytes,
                                   int zstd_level = 3);

// Decompresses `bytes`, which must expand to exactly `expected_size` bytes; throws
// CorruptedError otherwise. Never writes more than `expected_size` bytes, so the caller bounds
// the memory by checking the declared size first.
[[nodiscard]] std::string decompress(Compression algorithm, std::string_view bytes,
                                     std::size_t expected_size);

// "none", "zstd", "lz4".
[[nodiscard]] std::string_view to_string(Compression algorithm) noexcept;

}  // namespace strata
