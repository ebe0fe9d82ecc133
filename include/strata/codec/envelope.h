// strata/codec/envelope.h: the versioned envelope every value strata stores carries (magic,
// version, codec id, compression, computed-at / soft / hard expiry, compute time, CRC32C), and the
// plain mode without it. Use ValueFormat<V> to turn values into stored bytes and back.
//
//   strata::ValueFormat<User> format = strata::ValueFormat<User>::envelope();
//   std::string bytes = format.encode(user, {.computed_at = now});  // format.decode(bytes)
//
// The byte layout is documented in docs/envelope.md so that other languages can read it.
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "strata/codec/codec.h"
#include "strata/error.h"

namespace strata {

// Wall-clock instants with microsecond precision (stored as int64 microseconds since the Unix
// epoch; 0 means "not set").
using EnvelopeTime = std::chrono::sys_time<std::chrono::microseconds>;

// What the envelope records about a value besides its bytes. XFetch needs computed_at and
// compute_time; stale-while-revalidate needs soft_expiry; hard_expiry is when it must go.
struct EnvelopeTimes {
  EnvelopeTime computed_at{};                 // when the value was computed
  std::optional<EnvelopeTime> soft_expiry{};  // stale after this (may still be served)
  std::optional<EnvelopeTime> hard_expiry{};  // never served after this
  std::chrono::microseconds compute_time{0};  // how long computing it took (saturates at ~71 min)

  friend bool operator==(const EnvelopeTimes&, const EnvelopeTimes&) = default;
};

// The format constants (docs/envelope.md).
inline constexpr std::uint32_t kEnvelopeMagic = 0x56525453;  // "STRV" as little-endian bytes
inline constexpr std::uint8_t kEnvelopeVersion = 1;
inline constexpr std::size_t kEnvelopeHeaderSize = 48;
// The default bound on a decoded (decompressed) payload, checked before any allocation.
inline constexpr std::size_t kDefaultMaxValueSize = 64u << 20;

// A decoded envelope: its fields and the (decompressed) payload the codec will read.
struct DecodedEnvelope {
  std::uint8_t version = 0;
  std::uint8_t codec_id = 0;
  Compression compression = Compression::kNone;
  EnvelopeTimes times;
  std::string payload;
};

// Wraps an encoded payload: compresses it per `compression` when it is at least
// compression.threshold bytes and compression makes it smaller. Throws InvalidArgumentError
// when the payload exceeds 4 GiB - 1 bytes.
[[nodiscard]] std::string encode_envelope(std::uint8_t codec_id, std::string_view payload,
                                          const EnvelopeTimes& times,
                                          const CompressionOptions& compression = {});

// Checks and unwraps an envelope. Throws CorruptedError for anything but an intact envelope of
// a known version: wrong magic, truncation, trailing bytes, a bit flip anywhere (CRC32C), an
// unknown compression, a declared size above `max_value_size`, a payload that does not expand to
// its declared size. Never reads out of bounds; allocates at most max_value_size for the payload.
[[nodiscard]] DecodedEnvelope decode_envelope(std::string_view bytes,
                                              std::size_t max_value_size = kDefaultMaxValueSize);

// True when `bytes` starts with the envelope magic (a cheap sniff, not a validity check).
[[nodiscard]] bool looks_like_envelope(std::string_view bytes) noexcept;

// Names V for the argument-dependent lookup of default_format(FormatTag<V>), the format a
// CacheBuilder<V> uses when none is given (declared in strata/codec/json.h for JSON values).
template <typename V>
struct FormatTag {};

// A value read back with what its envelope recorded (times are empty in plain mode).
template <typename V>
struct StoredValue {
  V value;
  std::optional<EnvelopeTimes> times;
};

// How values are stored as bytes: in the envelope with codec C (the default), or in plain mode
// as bare JSON text. Plain mode is readable by redis-cli and by clients in any language, and
// gives up the codec id, compression, the timestamps (no XFetch, no soft TTL) and corruption
// detection beyond what a JSON parse notices (docs/sources-and-codecs.md).
// A ValueFormat is immutable and safe to share between threads.
template <typename V, typename C = JsonCodec<V>>
requires Codec<C, V>
class ValueFormat {
 public:
  // Values in the envelope, encoded with `codec`, compressed per `compression`.
  [[nodiscard]] static ValueFormat envelope(C codec = {}, CompressionOptions compression = {},
                                            std::size_t max_value_size = kDefaultMaxValueSize) {
    compression.validate();
    return ValueFormat(std::move(codec), compression, max_value_size, false);
  }

  // Values as bare JSON text, no envelope (only with the JSON codec; its max_depth applies).
  [[nodiscard]] static ValueFormat plain_json(C codec = {}) requires std::same_as<C, JsonCodec<V>> {
    return ValueFormat(std::move(codec), CompressionOptions{}, kDefaultMaxValueSize, true);
  }

  [[nodiscard]] bool plain() const noexcept { return plain_; }

  // The bytes to store for `value`; `times` is ignored in plain mode.
  [[nodiscard]] std::string encode(const V& value, const EnvelopeTimes& times = {}) const {
    if (plain_) return codec_.encode(value);  // plain mode only exists for JsonCodec
    return encode_envelope(C::id, codec_.encode(value), times, compression_);
  }

  // The value in `bytes`; throws CorruptedError for bytes this format cannot read, including an
  // envelope written by another codec.
  [[nodiscard]] StoredValue<V> decode(std::string_view bytes) const {
    if (plain_) {
      if (bytes.size() > max_value_size_) throw CorruptedError("plain value exceeds the maximum");
      return StoredValue<V>{codec_.decode(bytes), std::nullopt};
    }
    DecodedEnvelope envelope = decode_envelope(bytes, max_value_size_);
    if (envelope.codec_id != C::id) {
      throw CorruptedError("envelope codec id " + std::to_string(envelope.codec_id) +
                           " does not match this format's codec id " + std::to_string(C::id));
    }
    return StoredValue<V>{codec_.decode(envelope.payload), envelope.times};
  }

 private:
  ValueFormat(C codec, CompressionOptions compression, std::size_t max_value_size, bool plain)
      : codec_(std::move(codec)),
        compression_(compression),
        max_value_size_(max_value_size),
        plain_(plain) {}

  C codec_;
  CompressionOptions compression_;
  std::size_t max_value_size_;
  bool plain_;
};

}  // namespace strata
