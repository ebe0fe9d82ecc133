// strata/codec/codec.h: the Codec concept (a value to bytes and back), the raw-bytes codec, and the
// compression (zstd, lz4) applied to those bytes above a size threshold. Use a codec wherever
// strata stores a value: in the L2 envelope, in a source's document column. JSON is in
// strata/codec/json.h, MessagePack in strata/codec/msgpack.h.
//
//   strata::BytesCodec codec;                // the value is the std::string itself
//   std::string bytes = codec.encode(blob);  // codec.decode(bytes) gives it back
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
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

// The codecs that need a third-party library live in their own headers, so that a translation unit
// pays for the one it uses: JsonCodec in strata/codec/json.h (nlohmann-json), MsgpackCodec in
// strata/codec/msgpack.h (msgpack-cxx).
template <typename V>
struct JsonCodec;
template <typename V>
struct MsgpackCodec;

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
