#include "strata/redis/redis_reply.h"

#include <hiredis/hiredis.h>

#include <new>

#include "redis/reply_reader.h"
#include "strata/error.h"

namespace strata {

const char* to_string(RedisReply::Type type) noexcept {
  switch (type) {
    case RedisReply::Type::kNil:
      return "nil";
    case RedisReply::Type::kString:
      return "string";
    case RedisReply::Type::kInteger:
      return "integer";
    case RedisReply::Type::kArray:
      return "array";
    case RedisReply::Type::kStatus:
      return "status";
    case RedisReply::Type::kError:
      return "error";
  }
  return "unknown";
}

namespace redis {
namespace {

// hiredis builds replies through these functions: straight into RedisReply values. A top-level
// reply is allocated; an array element is appended to its parent's `elements` when hiredis
// reaches it (task->idx == elements.size()). Appending may move the parent's earlier elements,
// which are complete by then and no longer referenced by hiredis; the parent itself does not
// move, since its own parent only grows once it is complete. hiredis only ever frees top-level
// replies. These functions are called from C: they must not throw.
RedisReply* place(const redisReadTask* task) noexcept {
  if (task->parent == nullptr) return new (std::nothrow) RedisReply();
  auto* parent = static_cast<RedisReply*>(task->parent->obj);
  try {
    if (static_cast<std::size_t>(task->idx) != parent->elements.size()) return nullptr;
    return &parent->elements.emplace_back();
  } catch (...) {
    return nullptr;  // hiredis reports out of memory
  }
}

void* create_string(const redisReadTask* task, char* str, size_t len) noexcept {
  RedisReply* reply = place(task);
  if (reply == nullptr) return nullptr;
  reply->type = task->type == REDIS_REPLY_ERROR    ? RedisReply::Type::kError
                : task->type == REDIS_REPLY_STATUS ? RedisReply::Type::kStatus
                                                   : RedisReply::Type::kString;
  try {
    reply->str.assign(str, len);
  } catch (...) {
    return nullptr;
  }
  return reply;
}

void* create_array(const redisReadTask* task, int elements) noexcept {
  RedisReply* reply = place(task);
  if (reply == nullptr) return nullptr;
  reply->type = RedisReply::Type::kArray;
  try {
    // Reserve what a real reply plausibly holds; the rest grows as elements arrive.
    constexpr int kReserveAtMost = 1024;
    reply->elements.reserve(
        static_cast<std::size_t>(elements < kReserveAtMost ? elements : kReserveAtMost));
  } catch (...) {
    return nullptr;
  }
  return reply;
}

void* create_integer(const redisReadTask* task, long long value) noexcept {
  RedisReply* reply = place(task);
  if (reply == nullptr) return nullptr;
  reply->type = RedisReply::Type::kInteger;
  reply->integer = value;
  return reply;
}

void* create_nil(const redisReadTask* task) noexcept {
  return place(task);
}

void free_reply(void* reply) noexcept {
  delete static_cast<RedisReply*>(reply);
}

redisReplyObjectFunctions kReplyFunctions = {create_string, create_array, create_integer,
                                             create_nil, free_reply};

}  // namespace

redisReplyObjectFunctions* reply_functions() noexcept {
  return &kReplyFunctions;
}

void ReplyReader::Deleter::operator()(redisReader* reader) const noexcept {
  redisReaderFree(reader);
}

ReplyReader::ReplyReader() : reader_(redisReaderCreateWithFunctions(reply_functions())) {
  if (!reader_) throw std::bad_alloc();
}

ReplyReader::~ReplyReader() = default;

void ReplyReader::feed(std::string_view bytes) {
  if (redisReaderFeed(reader_.get(), bytes.data(), bytes.size()) != REDIS_OK) {
    throw ProtocolError(std::string("redis reply: ") + reader_->errstr);
  }
}

std::optional<RedisReply> ReplyReader::next() {
  void* raw = nullptr;
  if (redisReaderGetReply(reader_.get(), &raw) != REDIS_OK) {
    throw ProtocolError(std::string("redis reply: ") + reader_->errstr);
  }
  if (raw == nullptr) return std::nullopt;
  std::unique_ptr<RedisReply> reply(static_cast<RedisReply*>(raw));
  return std::move(*reply);
}

}  // namespace redis
}  // namespace strata
