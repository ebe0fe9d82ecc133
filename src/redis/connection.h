// connection.h: the transport under strata's Redis layer: one connection to one node.
//
// strata owns the socket: a non-blocking TCP socket driven by poll(2), with connect and
// command timeouts, TCP keep-alive and TCP_NODELAY; commands are framed by strata as RESP
// arrays of bulk strings (binary-safe argv, never a format string); replies are parsed by
// hiredis's reply reader (the only part of hiredis strata uses), straight into RedisReply
// values. Everything above it (the pool, the cluster router, the subscriber, tracking) speaks
// in argv spans and RedisReply values and never learns about sockets.
//
// Contract:
//  - Every read and write is bounded by the command timeout (a deadline per call, enforced
//    with poll); the connect by the connect timeout, over every address the host resolves to.
//  - Any I/O or protocol error marks the connection broken() and throws a typed strata::Error:
//    TimeoutError (no answer in time), UnavailableError (refused, reset, closed),
//    ProtocolError (bytes that are not RESP). A broken connection must be discarded.
//  - An error *reply* ("-ERR ...") is not a failure of the connection: it is returned as a
//    RedisReply of type kError.
//  - Writes use send(MSG_NOSIGNAL): a peer that closed its end never raises SIGPIPE.
//  - Messages name the node (host:port), never a password.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "redis/reply_reader.h"
#include "strata/error.h"
#include "strata/redis/redis_reply.h"
#include "strata/redis/redis_url.h"

struct ssl_st;

namespace strata::redis {

// How to open a connection: the parts of a RedisUrl that every connection needs.
struct ConnectOptions {
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds command_timeout{1000};  // zero: no timeout
  std::string user;                                 // ACL user; empty: the default user
  std::string password;                             // empty: no AUTH
  int db = 0;                                       // SELECT when non-zero
  RedisTlsOptions tls;                              // enabled: TLS on this connection
  // ROLE after AUTH/SELECT, and UnavailableError unless the node says "master" (a Sentinel
  // setup: a node demoted to replica by a failover is never used for data).
  bool require_master = false;
  // One shared connection per node for the commands that allow it (multiplexer.h); false: a
  // pooled connection per call.
  bool multiplex = true;
};

[[nodiscard]] ConnectOptions connect_options(const RedisUrl& url);

// Appends one command to `out` as RESP: an array of bulk strings, binary-safe.
void frame(std::string& out, std::span<const std::string_view> argv);

// "host:port" (IPv6 hosts in brackets).
[[nodiscard]] std::string to_address(const RedisEndpoint& endpoint);

class Connection {
 public:
  // Connects, sets the timeouts, sends AUTH and SELECT when configured (and ROLE with
  // require_master). Throws UnavailableError or TimeoutError when the node cannot be reached
  // (or is not a master), ReplyError when AUTH or SELECT is refused.
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
  [[nodiscard]] bool broken() const noexcept { return broken_.load(std::memory_order_acquire); }
  // "host:port" of the node.
  [[nodiscard]] const std::string& address() const noexcept { return address_; }
  // The setup epoch this connection was prepared for by a ConnectionHook (0: never prepared).
  [[nodiscard]] std::uint64_t setup_epoch() const noexcept { return setup_epoch_; }
  void set_setup_epoch(std::uint64_t epoch) noexcept { setup_epoch_ = epoch; }
  // Marks the connection unusable (e.g. its setup failed): the pool drops it.
  void mark_broken() noexcept { broken_.store(true, std::memory_order_release); }
  // When the connection last completed a command (for idle health checks).
  [[nodiscard]] std::chrono::steady_clock::time_point last_used() const noexcept {
    return last_used_;
  }

 private:
  // The multiplexer drives one connection from two threads at once: one writing (write_bytes)
  // and one reading (read_some, parsed_reply, wait_for POLLIN). What they share is atomic, and
  // a TLS session is used under ssl_mutex_ (OpenSSL's SSL object is not thread-safe).
  friend class Multiplexer;

  // An owned file descriptor.
  class Fd {
   public:
    Fd() = default;
    explicit Fd(int fd) noexcept : fd_(fd) {}
    Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Fd& operator=(Fd&& other) noexcept;
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd();
    [[nodiscard]] int get() const noexcept { return fd_; }

   private:
    int fd_ = -1;
  };
  using Clock = std::chrono::steady_clock;
  struct SslDeleter {
    void operator()(ssl_st* ssl) const noexcept;
  };
  using Ssl = std::unique_ptr<ssl_st, SslDeleter>;

  Connection(Fd fd, Ssl ssl, std::string address, std::chrono::milliseconds command_timeout);
  // The deadline of an operation that starts now (time_point::max(): no command timeout).
  [[nodiscard]] Clock::time_point deadline() const noexcept;
  // Waits until the socket is readable (or writable); false when the deadline passed first.
  // `wake_fd` (>= 0) also ends the wait; *woken tells which.
  bool wait_for(short events, Clock::time_point deadline, int wake_fd = -1, bool* woken = nullptr);
  // The next complete reply the reader holds (nullopt: more bytes needed); a protocol error
  // breaks the connection.
  [[nodiscard]] std::optional<RedisReply> parsed_reply();
  // Reads what the socket has into the reply reader; false: nothing yet (would block).
  bool read_some();
  // Writes out_ until it is empty or the deadline passes (TimeoutError).
  void write_all(Clock::time_point deadline);
  // Writes `bytes` whole, or throws (TimeoutError at the deadline).
  void write_bytes(std::string_view bytes, Clock::time_point deadline);
  // Ends both directions of the socket at once: a thread blocked reading it wakes up.
  void shutdown() noexcept;
  // Marks the connection broken and throws.
  [[noreturn]] void fail_io(const char* what, int saved_errno);
  [[noreturn]] void fail_timeout(const char* what);
  [[noreturn]] void fail_closed();
  [[noreturn]] void fail_reset_before_reply();
  [[noreturn]] void fail_client_certificate_required();
  [[noreturn]] void fail_protocol(const ProtocolError& error);

  Fd fd_;
  Ssl ssl_;               // null: plaintext
  std::mutex ssl_mutex_;  // held around every SSL_* call on ssl_
  ReplyReader reader_;
  // Any byte ever read (a TLS record as the first bytes: see read_some).
  std::atomic<bool> got_bytes_{false};
  // The server asked for a client certificate during the handshake and we had none to send.
  bool client_certificate_requested_ = false;
  std::string out_;  // framed commands not yet written
  std::string address_;
  std::chrono::milliseconds command_timeout_;
  Clock::time_point last_used_;
  std::uint64_t setup_epoch_ = 0;
  std::atomic<bool> broken_{false};
};

}  // namespace strata::redis
