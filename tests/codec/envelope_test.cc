// The envelope: round trips with each codec and compression, and a property test: EVERY
// truncation and EVERY single-bit flip of valid envelopes is rejected with CorruptedError, as are
// foreign bytes, hostile headers with a valid checksum, and decompression bombs.
#include "strata/codec/envelope.h"

#include <gtest/gtest.h>

#include <random>

#include "codec/test_types.h"
#include "core/crc32c.h"
#include "strata/codec/json.h"
#include "strata/codec/msgpack.h"

namespace strata {
namespace {

using namespace std::chrono_literals;
using testing::Profile;
using testing::sample_profile;

EnvelopeTimes sample_times() {
  EnvelopeTimes t;
  t.computed_at = EnvelopeTime(1'700'000'000'123'456us);
  t.soft_expiry = t.computed_at + 30s;
  t.hard_expiry = t.computed_at + 300s;
  t.compute_time = 1234us;
  return t;
}

// Rewrites a header field and recomputes the checksum, as a hostile writer could.
std::string with_valid_crc(std::string bytes) {
  std::uint32_t crc = core::crc32c(std::string_view(bytes).substr(0, 44));
  crc = core::crc32c(std::string_view(bytes).substr(kEnvelopeHeaderSize), crc);
  for (int i = 0; i < 4; ++i) bytes[44 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
  return bytes;
}

void put_u32(std::string& s, std::size_t offset, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) s[offset + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

TEST(Envelope, HeaderLayoutIsTheDocumentedOne) {
  const std::string bytes = encode_envelope(kJsonCodecId, "{}", sample_times());
  ASSERT_EQ(bytes.size(), kEnvelopeHeaderSize + 2);
  EXPECT_EQ(bytes.substr(0, 4), "STRV");
  EXPECT_EQ(bytes[4], 1);             // version
  EXPECT_EQ(bytes[5], kJsonCodecId);  // codec id
  EXPECT_EQ(bytes[6], 0);             // not compressed
  EXPECT_EQ(static_cast<unsigned char>(bytes[8]), 1'700'000'000'123'456ull & 0xff);
  EXPECT_EQ(bytes[36], 2);  // stored length
  EXPECT_EQ(bytes[40], 2);  // uncompressed length
  EXPECT_EQ(bytes.substr(48), "{}");
  EXPECT_TRUE(looks_like_envelope(bytes));
  EXPECT_FALSE(looks_like_envelope("{}"));
}

TEST(Envelope, RoundTripsTimesAndPayload) {
  const auto decoded = decode_envelope(encode_envelope(7, "payload", sample_times()));
  EXPECT_EQ(decoded.version, kEnvelopeVersion);
  EXPECT_EQ(decoded.codec_id, 7);
  EXPECT_EQ(decoded.compression, Compression::kNone);
  EXPECT_EQ(decoded.times, sample_times());
  EXPECT_EQ(decoded.payload, "payload");

  const auto empty = decode_envelope(encode_envelope(3, "", EnvelopeTimes{}));
  EXPECT_EQ(empty.payload, "");
  EXPECT_FALSE(empty.times.soft_expiry);
  EXPECT_FALSE(empty.times.hard_expiry);
}

TEST(Envelope, CompressesAboveTheThresholdOnly) {
  const std::string big(5000, 'z');
  const std::string small(100, 'z');
  for (const Compression algorithm : {Compression::kZstd, Compression::kLz4}) {
    SCOPED_TRACE(std::string(to_string(algorithm)));
    CompressionOptions options{algorithm, 1024, 3};
    const auto big_env = encode_envelope(1, big, {}, options);
    EXPECT_LT(big_env.size(), big.size() / 4);
    const auto decoded = decode_envelope(big_env);
    EXPECT_EQ(decoded.compression, algorithm);
    EXPECT_EQ(decoded.payload, big);

    const auto small_env = encode_envelope(1, small, {}, options);
    EXPECT_EQ(small_env.size(), kEnvelopeHeaderSize + small.size());
    EXPECT_EQ(decode_envelope(small_env).compression, Compression::kNone);
  }
  // Incompressible bytes above the threshold are stored as they are.
  std::mt19937_64 rng(1);
  std::string noise(4096, '\0');
  for (char& c : noise) c = static_cast<char>(rng());
  EXPECT_EQ(decode_envelope(encode_envelope(1, noise, {})).compression, Compression::kNone);
}

TEST(ValueFormat, RoundTripsEachCodecWithAndWithoutCompression) {
  for (const Compression algorithm : {Compression::kNone, Compression::kZstd, Compression::kLz4}) {
    SCOPED_TRACE(std::string(to_string(algorithm)));
    const CompressionOptions options{algorithm, 256, 3};
    for (const std::size_t size : {std::size_t{0}, std::size_t{20000}}) {
      const Profile p = sample_profile(size);
      const auto json = ValueFormat<Profile>::envelope({}, options);
      const auto stored = json.decode(json.encode(p, sample_times()));
      EXPECT_EQ(stored.value, p);
      ASSERT_TRUE(stored.times);
      EXPECT_EQ(*stored.times, sample_times());

      const auto msgpack = ValueFormat<Profile, MsgpackCodec<Profile>>::envelope({}, options);
      EXPECT_EQ(msgpack.decode(msgpack.encode(p)).value, p);

      const auto bytes = ValueFormat<std::string, BytesCodec>::envelope({}, options);
      const std::string raw = std::string("\0\xff", 2) + std::string(size, 'r');
      EXPECT_EQ(bytes.decode(bytes.encode(raw)).value, raw);
    }
  }
}

TEST(ValueFormat, RejectsAnEnvelopeOfAnotherCodec) {
  const auto json = ValueFormat<Profile>::envelope();
  const auto msgpack = ValueFormat<Profile, MsgpackCodec<Profile>>::envelope();
  EXPECT_THROW((void)json.decode(msgpack.encode(sample_profile())), CorruptedError);
}

TEST(ValueFormat, PlainModeIsBareJson) {
  const auto plain = ValueFormat<Profile>::plain_json();
  EXPECT_TRUE(plain.plain());
  const Profile p = sample_profile();
  const std::string bytes = plain.encode(p, sample_times());
  EXPECT_EQ(bytes.front(), '{');
  EXPECT_EQ(nlohmann::json::parse(bytes).at("name"), p.name);
  const auto stored = plain.decode(bytes);
  EXPECT_EQ(stored.value, p);
  EXPECT_FALSE(stored.times);
  EXPECT_THROW((void)plain.decode("not json"), CorruptedError);
  // An envelope is not plain JSON, and plain JSON is not an envelope.
  EXPECT_THROW((void)plain.decode(ValueFormat<Profile>::envelope().encode(p)), CorruptedError);
  EXPECT_THROW((void)ValueFormat<Profile>::envelope().decode(bytes), CorruptedError);
}

// The property test: every truncation and every single-bit flip of valid envelopes (plain,
// zstd, lz4; small and large) throws CorruptedError and nothing else.
TEST(EnvelopeProperty, EveryTruncationAndEveryBitFlipIsRejected) {
  std::vector<std::string> valid;
  const std::string text = JsonCodec<Profile>{}.encode(sample_profile(600));
  valid.push_back(encode_envelope(kJsonCodecId, text, sample_times(), {Compression::kNone}));
  valid.push_back(encode_envelope(kJsonCodecId, text, sample_times(), {Compression::kZstd, 64}));
  valid.push_back(encode_envelope(kJsonCodecId, text, sample_times(), {Compression::kLz4, 64}));
  valid.push_back(encode_envelope(kBytesCodecId, "", {}));
  std::size_t mutations = 0;
  for (const std::string& good : valid) {
    ASSERT_NO_THROW((void)decode_envelope(good));
    for (std::size_t length = 0; length < good.size(); ++length) {
      EXPECT_THROW((void)decode_envelope(good.substr(0, length)), CorruptedError)
          << "truncated to " << length << " of " << good.size();
      ++mutations;
    }
    for (std::size_t bit = 0; bit < good.size() * 8; ++bit) {
      std::string bad = good;
      bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
      EXPECT_THROW((void)decode_envelope(bad), CorruptedError) << "bit " << bit << " flipped";
      ++mutations;
    }
    EXPECT_THROW((void)decode_envelope(good + '\0'), CorruptedError);  // trailing byte
  }
  EXPECT_GT(mutations, 10000u);
}

// Random multi-byte damage and random buffers: no crash, no other exception type.
TEST(EnvelopeProperty, RandomDamageIsRejected) {
  std::mt19937_64 rng(42);
  const std::string good =
      encode_envelope(kJsonCodecId, JsonCodec<Profile>{}.encode(sample_profile(3000)),
                      sample_times(), {Compression::kZstd, 64});
  for (int i = 0; i < 20000; ++i) {
    std::string bad = good;
    const int damaged = 2 + static_cast<int>(rng() % 8);
    for (int d = 0; d < damaged; ++d) bad[rng() % bad.size()] ^= static_cast<char>(1 + rng() % 255);
    EXPECT_THROW((void)decode_envelope(bad), CorruptedError);
  }
  for (int i = 0; i < 2000; ++i) {
    std::string noise(rng() % 200, '\0');
    for (char& c : noise) c = static_cast<char>(rng());
    if (i % 2 == 0 && noise.size() >= 4) noise.replace(0, 4, "STRV");
    EXPECT_THROW((void)decode_envelope(noise), CorruptedError);
  }
}

TEST(EnvelopeProperty, ForeignBytesAreRejected) {
  EXPECT_THROW((void)decode_envelope(""), CorruptedError);
  EXPECT_THROW((void)decode_envelope("{\"name\":\"plain json\",\"id\":1,\"padding\":\"....\"}"),
               CorruptedError);
  EXPECT_THROW((void)decode_envelope(std::string(48, '\0')), CorruptedError);
  EXPECT_THROW((void)decode_envelope("STRV"), CorruptedError);
}

// Headers a hostile writer could produce with a correct checksum.
TEST(EnvelopeProperty, HostileHeadersWithAValidChecksumAreRejected) {
  const std::string big(100000, 'b');
  const std::string zstd = encode_envelope(1, big, {}, {Compression::kZstd, 64});
  ASSERT_EQ(decode_envelope(zstd).payload, big);

  std::string huge = zstd;  // declares 4 GiB - 1 uncompressed: refused before allocating
  put_u32(huge, 40, 0xffffffffu);
  EXPECT_THROW((void)decode_envelope(with_valid_crc(huge)), CorruptedError);

  std::string bomb = zstd;  // declares less than the frame expands to
  put_u32(bomb, 40, 1000);
  EXPECT_THROW((void)decode_envelope(with_valid_crc(bomb)), CorruptedError);
  EXPECT_THROW((void)decode_envelope(zstd, 50000), CorruptedError);  // above the caller's max

  std::string lz4 = encode_envelope(1, big, {}, {Compression::kLz4, 64});
  put_u32(lz4, 40, 99999);
  EXPECT_THROW((void)decode_envelope(with_valid_crc(lz4)), CorruptedError);

  std::string garbage = zstd;  // payload replaced by garbage, checksum fixed up
  for (std::size_t i = kEnvelopeHeaderSize; i < garbage.size(); ++i) garbage[i] = 'g';
  EXPECT_THROW((void)decode_envelope(with_valid_crc(garbage)), CorruptedError);

  std::string version = zstd;
  version[4] = 2;
  EXPECT_THROW((void)decode_envelope(with_valid_crc(version)), CorruptedError);
  std::string flags = zstd;
  flags[6] = 3;  // compression 3 is unknown
  EXPECT_THROW((void)decode_envelope(with_valid_crc(flags)), CorruptedError);
  flags[6] = static_cast<char>(0x81);  // reserved bit
  EXPECT_THROW((void)decode_envelope(with_valid_crc(flags)), CorruptedError);
  std::string plain = encode_envelope(1, "abc", {});
  put_u32(plain, 40, 2);  // uncompressed, but declares a different size
  EXPECT_THROW((void)decode_envelope(with_valid_crc(plain)), CorruptedError);
}

}  // namespace
}  // namespace strata
