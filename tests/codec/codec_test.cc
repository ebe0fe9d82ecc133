// Codec round trips (JSON, MessagePack, raw bytes) for nested structures, compression, and
// rejection of bad bytes with CorruptedError.
#include "strata/codec/codec.h"

#include <gtest/gtest.h>

#include <random>

#include "codec/test_types.h"
#include "core/crc32c.h"
#include "strata/codec/json.h"
#include "strata/codec/msgpack.h"

namespace strata {
namespace {

using testing::Profile;
using testing::sample_profile;

static_assert(Codec<JsonCodec<Profile>, Profile>);
static_assert(Codec<MsgpackCodec<Profile>, Profile>);
static_assert(Codec<BytesCodec, std::string>);
static_assert(!Codec<BytesCodec, Profile>);

TEST(Crc32c, MatchesTheStandardCheckValueAndIsIncremental) {
  EXPECT_EQ(core::crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(core::crc32c(""), 0u);
  EXPECT_EQ(core::crc32c("6789", core::crc32c("12345")), 0xE3069283u);
}

TEST(JsonCodec, RoundTripsANestedStructure) {
  const JsonCodec<Profile> codec;
  const Profile p = sample_profile();
  const std::string bytes = codec.encode(p);
  EXPECT_NE(bytes.find("\"city\":\"Paris\""), std::string::npos) << bytes;
  EXPECT_EQ(codec.decode(bytes), p);
  Profile no_nick = p;
  no_nick.nickname.reset();
  EXPECT_EQ(codec.decode(codec.encode(no_nick)), no_nick);
}

TEST(JsonCodec, RejectsBadBytesWithCorruptedError) {
  const JsonCodec<Profile> codec;
  EXPECT_THROW((void)codec.decode(""), CorruptedError);
  EXPECT_THROW((void)codec.decode("{\"name\": "), CorruptedError);
  EXPECT_THROW((void)codec.decode("{\"name\": 1}"), CorruptedError);  // wrong shape
  EXPECT_THROW((void)codec.decode("[1,2,3]"), CorruptedError);
  EXPECT_THROW((void)codec.decode(std::string("\xff\xfe\x00", 3)), CorruptedError);
}

TEST(JsonCodec, InvalidUtf8IsAnInvalidArgumentOnEncode) {
  const JsonCodec<std::string> codec;
  EXPECT_THROW((void)codec.encode(std::string("\xff\xfe")), InvalidArgumentError);
}

TEST(MsgpackCodec, RoundTripsANestedStructure) {
  const MsgpackCodec<Profile> codec;
  const Profile p = sample_profile(4000);
  EXPECT_EQ(codec.decode(codec.encode(p)), p);
  Profile no_nick = p;
  no_nick.nickname.reset();
  EXPECT_EQ(codec.decode(codec.encode(no_nick)), no_nick);
}

TEST(MsgpackCodec, RejectsBadBytesWithCorruptedError) {
  const MsgpackCodec<Profile> codec;
  const std::string good = codec.encode(sample_profile());
  EXPECT_THROW((void)codec.decode(""), CorruptedError);
  EXPECT_THROW((void)codec.decode(good.substr(0, good.size() - 1)), CorruptedError);
  EXPECT_THROW((void)codec.decode(good + "x"), CorruptedError);  // trailing bytes
  EXPECT_THROW((void)codec.decode("\xc1"), CorruptedError);      // reserved type byte
  // An array header declaring 2^32-1 elements in 5 bytes must not allocate them.
  EXPECT_THROW((void)codec.decode(std::string("\xdd\xff\xff\xff\xff", 5)), CorruptedError);
  EXPECT_THROW((void)codec.decode(std::string("\xdb\xff\xff\xff\xff", 5)), CorruptedError);
  // Deep nesting is bounded.
  EXPECT_THROW((void)codec.decode(std::string(100000, '\x91')), CorruptedError);
  EXPECT_THROW((void)MsgpackCodec<std::string>{}.decode(MsgpackCodec<int>{}.encode(7)),
               CorruptedError);  // wrong type
}

TEST(MsgpackCodec, RandomBytesNeverCrash) {
  const MsgpackCodec<Profile> codec;
  std::mt19937_64 rng(7);
  const std::string good = codec.encode(sample_profile(500));
  for (int i = 0; i < 20000; ++i) {
    std::string bytes = good;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) bytes[rng() % bytes.size()] = static_cast<char>(rng());
    try {
      (void)codec.decode(bytes);
    } catch (const CorruptedError&) {
    }
  }
}

TEST(BytesCodec, IsTheIdentityAndBinarySafe) {
  const BytesCodec codec;
  const std::string raw("\x00\x01\xff zero \x00", 10);
  EXPECT_EQ(codec.encode(raw), raw);
  EXPECT_EQ(codec.decode(raw), raw);
}

TEST(Compression, ZstdAndLz4RoundTripAndCheckTheDeclaredSize) {
  const std::string text(100000, 'a');
  for (const Compression algorithm : {Compression::kZstd, Compression::kLz4, Compression::kNone}) {
    SCOPED_TRACE(std::string(to_string(algorithm)));
    const std::string packed = compress(algorithm, text);
    if (algorithm != Compression::kNone) {
      EXPECT_LT(packed.size(), text.size() / 10);
    }
    EXPECT_EQ(decompress(algorithm, packed, text.size()), text);
    EXPECT_THROW((void)decompress(algorithm, packed, text.size() - 1), CorruptedError);
    EXPECT_THROW((void)decompress(algorithm, packed, text.size() + 1), CorruptedError);
    EXPECT_EQ(decompress(algorithm, compress(algorithm, ""), 0), "");
  }
  EXPECT_THROW((void)decompress(Compression::kZstd, "garbage bytes", 100), CorruptedError);
  EXPECT_THROW((void)decompress(Compression::kLz4, "garbage bytes", 100), CorruptedError);
}

TEST(CompressionOptions, ValidateNamesTheOption) {
  CompressionOptions options;
  options.zstd_level = 99;
  try {
    options.validate();
    FAIL() << "expected InvalidArgumentError";
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("zstd_level"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace strata
