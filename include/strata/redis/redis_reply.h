// strata/redis/redis_reply.h: RedisReply, a Redis server's answer as a plain value (RESP2 types).
// Use it with RedisClient::command(), Pipeline and scripts, where the reply's shape depends on
// the command. Binary-safe: strings may hold any bytes, including NUL.
//
//   strata::RedisReply r = client.command({"HINCRBY", "user:1", "visits", "1"});
//   if (r.is_integer()) std::cout << r.integer;
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace strata {

// One reply. `str` holds the bytes of a string, the text of a status ("OK") or of an error
// ("WRONGTYPE ..."); `integer` the value of an integer; `elements` the items of an array.
// An error reply is a value here (Pipeline returns one per failed command); the typed
// RedisClient calls turn error replies into ReplyError.
struct RedisReply {
  enum class Type : std::uint8_t { kNil, kString, kInteger, kArray, kStatus, kError };

  Type type = Type::kNil;
  long long integer = 0;
  std::string str;
  std::vector<RedisReply> elements;

  // Factories, mostly for tests and for building expected values.
  [[nodiscard]] static RedisReply nil() { return {}; }
  [[nodiscard]] static RedisReply string(std::string bytes) {
    return {Type::kString, 0, std::move(bytes), {}};
  }
  [[nodiscard]] static RedisReply status(std::string text) {
    return {Type::kStatus, 0, std::move(text), {}};
  }
  [[nodiscard]] static RedisReply error(std::string text) {
    return {Type::kError, 0, std::move(text), {}};
  }
  [[nodiscard]] static RedisReply from_integer(long long value) {
    return {Type::kInteger, value, {}, {}};
  }
  [[nodiscard]] static RedisReply array(std::vector<RedisReply> items) {
    return {Type::kArray, 0, {}, std::move(items)};
  }

  [[nodiscard]] bool is_nil() const noexcept { return type == Type::kNil; }
  [[nodiscard]] bool is_string() const noexcept { return type == Type::kString; }
  [[nodiscard]] bool is_integer() const noexcept { return type == Type::kInteger; }
  [[nodiscard]] bool is_array() const noexcept { return type == Type::kArray; }
  [[nodiscard]] bool is_status() const noexcept { return type == Type::kStatus; }
  [[nodiscard]] bool is_error() const noexcept { return type == Type::kError; }

  friend bool operator==(const RedisReply&, const RedisReply&) = default;
};

// The name of a reply type, e.g. "string".
[[nodiscard]] const char* to_string(RedisReply::Type type) noexcept;

}  // namespace strata
