// The nesting scanners (strata/codec/internal/nesting.h) and the depth limit of every codec:
// text or MessagePack nesting past the limit is CorruptedError, never a stack overflow.
#include "strata/codec/internal/nesting.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "codec/test_types.h"
#include "strata/codec/codec.h"
#include "strata/codec/envelope.h"
#include "strata/codec/json.h"
#include "strata/codec/msgpack.h"

namespace strata {
namespace {

using internal::json_nesting_depth;
using internal::msgpack_nesting_depth;

std::string deep_json(std::size_t levels) {
  return std::string(levels, '[') + std::string(levels, ']');
}

// `levels` arrays of one element each, around a nil.
std::string deep_msgpack(std::size_t levels) {
  return std::string(levels, '\x91') + "\xc0";
}

TEST(NestingDepth, JsonCountsArraysAndObjectsAndSkipsStrings) {
  EXPECT_EQ(json_nesting_depth("42", 10), 0u);
  EXPECT_EQ(json_nesting_depth("[]", 10), 1u);
  EXPECT_EQ(json_nesting_depth(R"({"a":[1,{"b":[]}],"c":{}})", 10), 4u);
  EXPECT_EQ(json_nesting_depth(R"(["[[[[", "\"[[[", {"k\\":"]]]"}])", 10), 2u);
  EXPECT_EQ(json_nesting_depth(deep_json(10), 10), 10u);
  EXPECT_EQ(json_nesting_depth(deep_json(11), 10), 11u);
  EXPECT_EQ(json_nesting_depth(std::string(1'000'000, '['), 128), 129u);  // stops at the limit
  EXPECT_EQ(json_nesting_depth("]]]][", 10), 1u);                         // malformed: best effort
}

TEST(NestingDepth, MsgpackCountsArraysAndMapsOverEveryFormat) {
  const auto pack = [](const nlohmann::json& j) {
    const auto b = nlohmann::json::to_msgpack(j);
    return std::string(b.begin(), b.end());
  };
  EXPECT_EQ(msgpack_nesting_depth(pack(42), 10), 0u);
  EXPECT_EQ(msgpack_nesting_depth(pack(nlohmann::json::array()), 10), 1u);
  EXPECT_EQ(msgpack_nesting_depth(pack(nlohmann::json::parse(R"({"a":[1,{"b":[]}],"c":{}})")), 10),
            4u);
  // Strings and binaries of every width whose bytes look like containers are skipped.
  nlohmann::json wide = nlohmann::json::array();
  wide.push_back(std::string(20, '\x91'));
  wide.push_back(std::string(300, '\x91'));
  wide.push_back(std::string(70'000, '\x91'));
  wide.push_back(nlohmann::json::binary(std::vector<std::uint8_t>(300, 0x91)));
  wide.push_back(-1234567890123LL);
  wide.push_back(3.5);
  nlohmann::json big = nlohmann::json::array();
  for (int i = 0; i < 70'000; ++i) big.push_back(i);  // array 32
  wide.push_back(big);
  EXPECT_EQ(msgpack_nesting_depth(pack(wide), 10), 2u);
  EXPECT_EQ(msgpack_nesting_depth(deep_msgpack(10), 10), 10u);
  EXPECT_EQ(msgpack_nesting_depth(deep_msgpack(11), 10), 11u);
  EXPECT_EQ(msgpack_nesting_depth(deep_msgpack(1'000'000), 128), 129u);
  // A map 16 of one entry whose value nests: keys and values both count as elements.
  EXPECT_EQ(msgpack_nesting_depth(std::string("\xde\x00\x01\xa1k", 5) + deep_msgpack(3), 10), 4u);
  EXPECT_EQ(msgpack_nesting_depth(std::string("\xdd\xff\xff\xff\xff", 5), 10), 1u);  // truncated
}

TEST(NestingDepth, EveryCodecRefusesDeepInputAsCorruptedAndTheLimitIsConfigurable) {
  const std::string json = deep_json(300'000);  // 600 KB
  const std::string msgpack = deep_msgpack(300'000);
  EXPECT_THROW((void)JsonCodec<nlohmann::json>{}.decode(json), CorruptedError);
  EXPECT_THROW((void)JsonCodec<testing::Profile>{}.decode(json), CorruptedError);
  EXPECT_THROW((void)MsgpackCodec<testing::Profile>{}.decode(msgpack), CorruptedError);
  const auto plain = ValueFormat<nlohmann::json>::plain_json();
  EXPECT_THROW((void)plain.decode(json), CorruptedError);
  const auto envelope = ValueFormat<nlohmann::json>::envelope();
  EXPECT_THROW((void)envelope.decode(encode_envelope(kJsonCodecId, json, {})), CorruptedError);
  try {
    (void)JsonCodec<nlohmann::json>{}.decode(json);
  } catch (const CorruptedError& e) {
    EXPECT_NE(std::string(e.what()).find("nesting deeper than 128"), std::string::npos) << e.what();
  }
  // At the limit it decodes; the limit is a codec option.
  EXPECT_EQ(JsonCodec<nlohmann::json>{}.decode(deep_json(128)).size(), 1u);
  EXPECT_THROW((void)JsonCodec<nlohmann::json>{.max_depth = 4}.decode(deep_json(5)),
               CorruptedError);
  EXPECT_NO_THROW((void)JsonCodec<nlohmann::json>{.max_depth = 200}.decode(deep_json(200)));
  const auto shallow = ValueFormat<nlohmann::json>::plain_json({.max_depth = 2});
  EXPECT_THROW((void)shallow.decode("[[[1]]]"), CorruptedError);
  EXPECT_THROW((void)MsgpackCodec<std::vector<int>>{.max_depth = 0}.decode("\x91\x01"),
               CorruptedError);
  EXPECT_EQ(MsgpackCodec<std::vector<int>>{}.decode("\x91\x01"), std::vector<int>{1});
}

}  // namespace
}  // namespace strata
