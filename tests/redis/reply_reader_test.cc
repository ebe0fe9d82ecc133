// strata's RESP reply handling (src/redis/redis_reply.cc) on bytes no well-behaved server
// sends: replies split at every byte, nested arrays, binary strings, a header announcing two
// billion elements (must cost nothing until they arrive), and bytes that are not RESP.
#include "redis/reply_reader.h"

#include <gtest/gtest.h>

#include "strata/error.h"

namespace strata {
namespace {

using redis::ReplyReader;
using namespace std::string_literals;

TEST(ReplyReader, ParsesRepliesSplitAtEveryByte) {
  const std::string wire =
      "+OK\r\n:-42\r\n$5\r\nhe\0lo\r\n$-1\r\n*3\r\n$1\r\na\r\n*2\r\n:1\r\n-ERR no\r\n*-1\r\n*0\r\n"s;
  const std::vector<RedisReply> expected = {
      RedisReply::status("OK"),
      RedisReply::from_integer(-42),
      RedisReply::string(std::string("he\0lo", 5)),
      RedisReply::nil(),
      RedisReply::array(
          {RedisReply::string("a"),
           RedisReply::array({RedisReply::from_integer(1), RedisReply::error("ERR no")}),
           RedisReply::nil()}),
      RedisReply::array({}),
  };
  ReplyReader reader;
  std::vector<RedisReply> got;
  for (const char c : wire) {
    reader.feed(std::string_view(&c, 1));
    while (auto reply = reader.next()) got.push_back(std::move(*reply));
  }
  EXPECT_EQ(got, expected);
}

TEST(ReplyReader, HugeArrayHeaderAllocatesNothingUntilElementsArrive) {
  ReplyReader reader;
  reader.feed("*2147483647\r\n:1\r\n:2\r\n");
  EXPECT_EQ(reader.next(), std::nullopt);  // waiting for the other 2147483645
}

TEST(ReplyReader, BytesThatAreNotRespAreAProtocolError) {
  for (const std::string bad : {"HTTP/1.1 200 OK\r\n", "?\r\n", "\x16\x03\x01"}) {
    ReplyReader reader;
    try {
      reader.feed(bad);
      (void)reader.next();
      (void)reader.next();
      ADD_FAILURE() << "accepted " << bad;
    } catch (const ProtocolError& e) {
      EXPECT_NE(std::string(e.what()).find("redis reply"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace strata
