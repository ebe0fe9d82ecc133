// strata/redis/redis_script.h: RedisScript, a Lua script with its SHA1 computed once, locally.
// Use it with RedisClient::eval(): strata sends EVALSHA and falls back to EVAL when the server
// answers NOSCRIPT (after a restart or SCRIPT FLUSH), so callers never manage the script cache.
//
//   static const strata::RedisScript kIncrIfExists{
//       "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCR', KEYS[1]) end"};
//   auto reply = client.eval(kIncrIfExists, {"counter:{7}"}, {});
#pragma once

#include <string>
#include <string_view>

namespace strata {

// An immutable script: its source and the lowercase hex SHA1 of the source (what EVALSHA takes).
// Cheap to copy; thread-safe to share.
class RedisScript {
 public:
  // Keeps the source and computes its SHA1.
  explicit RedisScript(std::string source);

  // The Lua source, as given.
  [[nodiscard]] const std::string& source() const noexcept { return source_; }
  // The 40 lowercase hex digits of SHA1(source), as SCRIPT LOAD would return them.
  [[nodiscard]] const std::string& sha1() const noexcept { return sha1_; }

 private:
  std::string source_;
  std::string sha1_;
};

// The lowercase hex SHA1 of some bytes (the digest Redis uses to name scripts).
[[nodiscard]] std::string sha1_hex(std::string_view bytes);

}  // namespace strata
