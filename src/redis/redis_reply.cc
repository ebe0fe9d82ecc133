#include "strata/redis_reply.h"

namespace strata {

const char* to_string(RedisReply::Type type) noexcept {
  switch (type) {
    case RedisReply::Type::kNil: return "nil";
    case RedisReply::Type::kString: return "string";
    case RedisReply::Type::kInteger: return "integer";
    case RedisReply::Type::kArray: return "array";
    case RedisReply::Type::kStatus: return "status";
    case RedisReply::Type::kError: return "error";
  }
  return "unknown";
}

}  // namespace strata
