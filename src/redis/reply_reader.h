// reply_reader.h: how strata turns RESP2 bytes into RedisReply values (internal).
//
// hiredis parses; strata supplies the functions that build each reply (reply_functions()),
// straight into RedisReply values, so a reply is parsed once with no intermediate redisReply
// tree. Connection installs these functions on its context's reader. ReplyReader wraps a bare
// hiredis reader with them, for the reply fuzzer and the tests (bytes in, RedisReply out).
#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include "strata/redis/redis_reply.h"

struct redisReader;
struct redisReplyObjectFunctions;

namespace strata::redis {

// The object functions hiredis calls to build replies. They never throw; an allocation failure
// makes hiredis report "out of memory". An array is grown as its elements arrive (not sized from
// its header), so a header announcing two billion elements costs nothing until they come.
[[nodiscard]] redisReplyObjectFunctions* reply_functions() noexcept;

// A RESP2 parser: feed() bytes as they arrive, next() each complete reply.
class ReplyReader {
 public:
  ReplyReader();
  ReplyReader(const ReplyReader&) = delete;
  ReplyReader& operator=(const ReplyReader&) = delete;
  ~ReplyReader();

  // Appends bytes. Throws ProtocolError if the reader already failed.
  void feed(std::string_view bytes);
  // The next complete reply, or nullopt when more bytes are needed. Throws ProtocolError
  // (naming hiredis's reason) on bytes that are not RESP; the reader is then unusable.
  [[nodiscard]] std::optional<RedisReply> next();

 private:
  struct Deleter {
    void operator()(redisReader* reader) const noexcept;
  };
  std::unique_ptr<redisReader, Deleter> reader_;
};

}  // namespace strata::redis
