// connection.h: the transport under strata's Redis layer: one blocking connection to one node.
//
// This is the only place that knows hiredis (0.14, RESP2, no TLS). Everything above it (the
// pool, the cluster router, the subscriber) speaks in argv spans and RedisReply values, so a
// RESP3 or TLS transport can replace this file without touching them.
//
// Contract:
//  - Commands are always sent as argv with lengths (binary-safe), never through format strings.
//  - Every read and write is bounded by the command timeout (SO_RCVTIMEO/SO_SNDTIMEO); the
//    connect by the connect timeout.
//  - Any I/O or protocol error marks the connection broken() and throws a typed strata::Error:
//    TimeoutError (no answer in time), UnavailableError (refused, reset, closed),
//    ProtocolError (bytes that are not RESP). A broken connection must be discarded.
//  - An error *reply* ("-ERR ...") is not a failure of the connection: it is returned as a
//    RedisReply of type kError.
//  - Messages name the node (host:port), never a password.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "strata/redis/redis_reply.h"
#include "strata/redis/redis_url.h"

struct redisContext;

namespace strata::redis {

// How to open a connection: the parts of a RedisUrl that every connection needs.
struct ConnectOptions {
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds command_timeout{1000};  // zero: no timeout
  std::string user;                                 // ACL user; empty: the default user
  std::string password;                             // empty: no AUTH
  int db = 0;                                       // SELECT when non-zero
};

[[nodiscard]] ConnectOptions connect_options(const RedisUrl& url);

// "host:port" (IPv6 hosts in brackets).
[[nodiscard]] std::string to_address(const RedisEndpoint& endpoint);

class Connection {
 public:
  // Connects, sets the timeouts, sends AUTH and SELECT when configured. Throws
  // UnavailableError or TimeoutError when the node cannot be reached, ReplyError when AUTH or
  // SELECT is refused.
  [[nodiscard]] static std::unique_ptr<Connection> open(const RedisEndpoint& endpoint,
                                                        const ConnectOptions& options);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Sends one command and reads its reply.
  [[nodiscard]] RedisReply command(std::span<const std::string_view> argv);
  // Buffers one command (nothing is written yet).
  void append(std::span<const std::string_view> argv);
  // Writes every buffered command.
  void flush();
  // Reads the next reply (writing buffered commands first).
  [[nodiscard]] RedisReply read_reply();
  // Waits up to `wait` for the next reply without treating silence as an error: returns
  // nullopt when nothing complete arrived, or when `wake_fd` (if >= 0) became readable.
  // For connections that receive pushes (pub/sub).
  [[nodiscard]] std::optional<RedisReply> read_reply_within(std::chrono::milliseconds wait,
                                                            int wake_fd = -1);

  // True once an I/O or protocol error happened: the connection must not be used again.
  [[nodiscard]] bool broken() const noexcept { return broken_; }
  // "host:port" of the node.
  [[nodiscard]] const std::string& address() const noexcept { return address_; }
  // The setup epoch this connection was prepared for by a ConnectionHook (0: never prepared).
  [[nodiscard]] std::uint64_t setup_epoch() const noexcept { return setup_epoch_; }
  void set_setup_epoch(std::uint64_t epoch) noexcept { setup_epoch_ = epoch; }
  // Marks the connection unusable (e.g. its setup failed): the pool drops it.
  void mark_broken() noexcept { broken_ = true; }
  // When the connection last completed a command (for idle health checks).
  [[nodiscard]] std::chrono::steady_clock::time_point last_used() const noexcept {
    return last_used_;
  }

 private:
  struct ContextDeleter {
    void operator()(redisContext* context) const noexcept;
  };
  Connection(std::unique_ptr<redisContext, ContextDeleter> context, std::string address,
             std::chrono::milliseconds command_timeout);
  // Marks the connection broken and throws the typed error for the context's error.
  [[noreturn]] void fail(int saved_errno);

  std::unique_ptr<redisContext, ContextDeleter> context_;
  std::string address_;
  std::chrono::milliseconds command_timeout_;
  std::chrono::steady_clock::time_point last_used_;
  std::uint64_t setup_epoch_ = 0;
  bool broken_ = false;
};

}  // namespace strata::redis
