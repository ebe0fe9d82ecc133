#include "strata/redis/key_slot.h"

#include <gtest/gtest.h>

namespace strata {
namespace {

TEST(KeySlot, Crc16MatchesTheXmodemCheckValue) {
  // The check value of CRC-16/XMODEM, also in the Redis Cluster specification.
  EXPECT_EQ(crc16("123456789"), 0x31C3);
  EXPECT_EQ(crc16(""), 0);
}

TEST(KeySlot, MatchesRedisClusterKeyslot) {
  // Values from `CLUSTER KEYSLOT` on a real server.
  EXPECT_EQ(key_slot("foo"), 12182);
  EXPECT_EQ(key_slot("bar"), 5061);
  EXPECT_EQ(key_slot("hello"), 866);
  EXPECT_EQ(key_slot(""), 0);
}

TEST(KeySlot, HashTagsSelectTheHashedPart) {
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("{user1000}.followers"));
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("user1000"));
  // An empty tag hashes the whole key; only the first '{' and the next '}' count.
  EXPECT_EQ(key_slot("foo{}{bar}"), crc16("foo{}{bar}") % kClusterSlots);
  EXPECT_EQ(key_slot("foo{{bar}}zap"), key_slot("{bar"));
  EXPECT_EQ(key_slot("foo{bar}{zap}"), key_slot("bar"));
  EXPECT_EQ(key_slot("no-close{tag"), crc16("no-close{tag") % kClusterSlots);
}

TEST(KeySlot, BinaryKeysAreHashedByteForByte) {
  const std::string binary("a\0b\xff", 4);
  EXPECT_EQ(key_slot(binary), crc16(binary) % kClusterSlots);
  EXPECT_NE(key_slot(binary), key_slot("a"));
}

}  // namespace
}  // namespace strata
