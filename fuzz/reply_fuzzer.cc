// Fuzzes the handling of Redis replies: arbitrary bytes, as a server (or a man in the middle, or
// a foreign protocol on the port) might send them, go through hiredis's reader with strata's
// reply-building functions (src/redis/redis_reply.cc), fed in chunks whose sizes come from the
// input. Every reply parsed must be a well-formed RedisReply; bytes that are not RESP must give
// ProtocolError. Anything else (a crash, a sanitizer report, another exception) is a bug.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "redis/reply_reader.h"
#include "strata/error.h"

namespace {

// Walks a reply: every field is readable and the type is one of the six.
std::size_t check(const strata::RedisReply& reply, int depth) {
  if (depth > 64) std::abort();
  std::size_t n = reply.str.size();
  switch (reply.type) {
    case strata::RedisReply::Type::kArray:
      for (const auto& element : reply.elements) n += check(element, depth + 1);
      break;
    case strata::RedisReply::Type::kNil:
    case strata::RedisReply::Type::kInteger:
      if (!reply.str.empty() || !reply.elements.empty()) std::abort();
      break;
    case strata::RedisReply::Type::kString:
    case strata::RedisReply::Type::kStatus:
    case strata::RedisReply::Type::kError:
      if (!reply.elements.empty()) std::abort();
      break;
    default:
      std::abort();
  }
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t chunk = std::size_t{data[0]} + 1;  // 1..256 bytes per feed
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    strata::redis::ReplyReader reader;
    std::size_t total = 0;
    for (std::size_t at = 0; at < bytes.size(); at += chunk) {
      reader.feed(bytes.substr(at, chunk));
      while (auto reply = reader.next()) total += check(*reply, 0);
    }
    if (total > bytes.size()) std::abort();  // a reply holds no more bytes than were sent
  } catch (const strata::ProtocolError&) {
  }
  return 0;
}
