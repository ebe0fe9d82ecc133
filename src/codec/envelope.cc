// The envelope's byte layout (docs/envelope.md is the reference; keep the two in step):
//
//   offset size  field
//    0     4     magic "STRV" (0x53 0x54 0x52 0x56)
//    4     1     format version (1)
//    5     1     codec id
//    6     1     flags: bits 0-1 compression (0 none, 1 zstd, 2 lz4), bits 2-7 zero
//    7     1     reserved, zero
//    8     8     computed_at, int64 microseconds since the Unix epoch
//   16     8     soft_expiry, int64 microseconds since the Unix epoch, 0 = none
//   24     8     hard_expiry, int64 microseconds since the Unix epoch, 0 = none
//   32     4     compute_time, uint32 microseconds (saturated)
//   36     4     stored payload length in bytes (after compression)
//   40     4     uncompressed payload length in bytes
//   44     4     CRC32C of bytes [0, 44) followed by the stored payload
//   48     n     stored payload
//
// All integers little-endian. The checksum covers every byte but its own, so any single-bit
// flip is detected (CRC32C detects all 1-, 2- and 3-bit errors at these lengths).
#include "strata/codec/envelope.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "core/crc32c.h"

namespace strata {
namespace {

constexpr std::size_t kChecksumOffset = 44;
constexpr std::uint8_t kCompressionMask = 0x03;

void put_u32(std::string& out, std::size_t offset, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out[offset + i] = static_cast<char>((v >> (8 * i)) & 0xffu);
}

void put_u64(std::string& out, std::size_t offset, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out[offset + i] = static_cast<char>((v >> (8 * i)) & 0xffu);
}

std::uint32_t get_u32(std::string_view in, std::size_t offset) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= std::uint32_t{static_cast<unsigned char>(in[offset + i])} << (8 * i);
  return v;
}

std::uint64_t get_u64(std::string_view in, std::size_t offset) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= std::uint64_t{static_cast<unsigned char>(in[offset + i])} << (8 * i);
  return v;
}

std::int64_t to_micros(const std::optional<EnvelopeTime>& t) {
  return t ? t->time_since_epoch().count() : 0;
}

std::optional<EnvelopeTime> from_micros(std::int64_t us) {
  if (us == 0) return std::nullopt;
  return EnvelopeTime(std::chrono::microseconds(us));
}

}  // namespace

bool looks_like_envelope(std::string_view bytes) noexcept {
  return bytes.size() >= 4 && get_u32(bytes, 0) == kEnvelopeMagic;
}

std::string encode_envelope(std::uint8_t codec_id, std::string_view payload,
                            const EnvelopeTimes& times, const CompressionOptions& compression) {
  constexpr auto kMaxPayload = std::numeric_limits<std::uint32_t>::max();
  if (payload.size() > kMaxPayload) {
    throw InvalidArgumentError("envelope payload of " + std::to_string(payload.size()) +
                               " bytes exceeds 4 GiB - 1");
  }
  Compression used = Compression::kNone;
  std::string compressed;
  if (compression.algorithm != Compression::kNone && payload.size() >= compression.threshold) {
    compressed = compress(compression.algorithm, payload, compression.zstd_level);
    if (compressed.size() < payload.size()) used = compression.algorithm;
  }
  const std::string_view stored =
      used == Compression::kNone ? payload : std::string_view(compressed);

  std::string out(kEnvelopeHeaderSize + stored.size(), '\0');
  put_u32(out, 0, kEnvelopeMagic);
  out[4] = static_cast<char>(kEnvelopeVersion);
  out[5] = static_cast<char>(codec_id);
  out[6] = static_cast<char>(static_cast<std::uint8_t>(used) & kCompressionMask);
  out[7] = 0;
  put_u64(out, 8, static_cast<std::uint64_t>(times.computed_at.time_since_epoch().count()));
  put_u64(out, 16, static_cast<std::uint64_t>(to_micros(times.soft_expiry)));
  put_u64(out, 24, static_cast<std::uint64_t>(to_micros(times.hard_expiry)));
  const auto compute_us = std::clamp<std::int64_t>(times.compute_time.count(), 0,
                                                   std::numeric_limits<std::uint32_t>::max());
  put_u32(out, 32, static_cast<std::uint32_t>(compute_us));
  put_u32(out, 36, static_cast<std::uint32_t>(stored.size()));
  put_u32(out, 40, static_cast<std::uint32_t>(payload.size()));
  if (!stored.empty()) std::memcpy(out.data() + kEnvelopeHeaderSize, stored.data(), stored.size());
  std::uint32_t crc = core::crc32c(std::string_view(out).substr(0, kChecksumOffset));
  crc = core::crc32c(stored, crc);
  put_u32(out, kChecksumOffset, crc);
  return out;
}

DecodedEnvelope decode_envelope(std::string_view bytes, std::size_t max_value_size) {
  if (bytes.size() < kEnvelopeHeaderSize) {
    throw CorruptedError("envelope of " + std::to_string(bytes.size()) +
                         " bytes is shorter than its " + std::to_string(kEnvelopeHeaderSize) +
                         "-byte header");
  }
  if (get_u32(bytes, 0) != kEnvelopeMagic) throw CorruptedError("not an envelope (bad magic)");
  DecodedEnvelope result;
  result.version = static_cast<std::uint8_t>(bytes[4]);
  if (result.version != kEnvelopeVersion) {
    throw CorruptedError("unsupported envelope version " + std::to_string(result.version));
  }
  result.codec_id = static_cast<std::uint8_t>(bytes[5]);
  const auto flags = static_cast<std::uint8_t>(bytes[6]);
  if ((flags & ~kCompressionMask) != 0 || bytes[7] != 0) {
    throw CorruptedError("envelope reserved bits are set");
  }
  const std::uint8_t algorithm = flags & kCompressionMask;
  if (algorithm > static_cast<std::uint8_t>(Compression::kLz4)) {
    throw CorruptedError("unknown envelope compression " + std::to_string(algorithm));
  }
  result.compression = static_cast<Compression>(algorithm);
  const std::size_t stored_size = get_u32(bytes, 36);
  const std::size_t value_size = get_u32(bytes, 40);
  if (stored_size != bytes.size() - kEnvelopeHeaderSize) {
    throw CorruptedError("envelope declares a " + std::to_string(stored_size) +
                         "-byte payload but holds " +
                         std::to_string(bytes.size() - kEnvelopeHeaderSize));
  }
  const std::string_view stored = bytes.substr(kEnvelopeHeaderSize);
  std::uint32_t crc = core::crc32c(bytes.substr(0, kChecksumOffset));
  crc = core::crc32c(stored, crc);
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION  // fuzzers explore past the checksum
  if (crc != get_u32(bytes, kChecksumOffset)) throw CorruptedError("envelope checksum mismatch");
#else
  (void)crc;
#endif
  if (value_size > max_value_size) {
    throw CorruptedError("envelope declares a " + std::to_string(value_size) +
                         "-byte value, above the maximum of " + std::to_string(max_value_size));
  }
  result.times.computed_at =
      EnvelopeTime(std::chrono::microseconds(static_cast<std::int64_t>(get_u64(bytes, 8))));
  result.times.soft_expiry = from_micros(static_cast<std::int64_t>(get_u64(bytes, 16)));
  result.times.hard_expiry = from_micros(static_cast<std::int64_t>(get_u64(bytes, 24)));
  result.times.compute_time = std::chrono::microseconds(get_u32(bytes, 32));
  result.payload = decompress(result.compression, stored, value_size);
  return result;
}

}  // namespace strata
