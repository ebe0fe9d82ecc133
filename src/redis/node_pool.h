// node_pool.h: the connections to one Redis node: a multiplexed one shared by every caller
// (multiplexer.h), and a bounded pool of connections a caller borrows for itself.
//
// send()/command() pick: the shared connection when the URL multiplexes (the default) and
// every command may share it (may_multiplex()); a borrowed one otherwise. The multiplexed
// connection is opened on first use, set up by the ConnectionHook before it is shared, and
// replaced when it broke, when the hook's epoch for the node changed, or when a PING after
// kHealthCheckAfter of silence fails.
//
// Checkout is a mutex, a pop from a vector, and no I/O (a PING only for a connection idle for
// longer than kHealthCheckAfter). No lock is held across I/O: connecting happens outside the
// lock, and a Lease gives the connection back on destruction.
//
// Invariants:
//  - at most `capacity` connections exist (idle + leased); a caller that finds every one
//    leased waits up to the command timeout, then gets ResourceExhaustedError;
//  - a connection that saw any I/O error is never returned to the pool (Lease drops it), and
//    on_io_error() drops the idle ones too (after a server restart they are all dead);
//  - with a ConnectionHook set, a connection is handed out only once it ran the hook's setup
//    for the node's current epoch (connection_hook.h);
//  - failed connects back off exponentially (10 ms doubling to 1 s): during the backoff window
//    acquire() fails at once with UnavailableError instead of hammering a down node.
#pragma once

#include <chrono>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "redis/connection.h"
#include "redis/connection_hook.h"
#include "redis/multiplexer.h"
#include "strata/error.h"
#include "strata/redis/redis_url.h"

namespace strata::redis {

class NodePool {
 public:
  static constexpr std::chrono::seconds kHealthCheckAfter{10};

  NodePool(RedisEndpoint endpoint, std::shared_ptr<const ConnectOptions> options, int capacity);
  NodePool(const NodePool&) = delete;
  NodePool& operator=(const NodePool&) = delete;

  // A borrowed connection; returned to the pool (or dropped if broken) on destruction.
  class Lease {
   public:
    Lease(NodePool* pool, std::unique_ptr<Connection> connection) noexcept
        : pool_(pool), connection_(std::move(connection)) {}
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&& other) noexcept;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();
    Connection* operator->() const noexcept { return connection_.get(); }
    Connection& operator*() const noexcept { return *connection_; }

   private:
    void give_back() noexcept;
    NodePool* pool_;
    std::unique_ptr<Connection> connection_;
  };

  // Commands sent back to back on one connection; replies() reads theirs, in order.
  class Exchange {
   public:
    Exchange(Exchange&& other) noexcept;
    Exchange& operator=(Exchange&& other) noexcept;
    Exchange(const Exchange&) = delete;
    Exchange& operator=(const Exchange&) = delete;
    // Waits for a multiplexed call whose replies were never read (they are dropped).
    ~Exchange();
    // One reply per command, in order. Throws what the connection threw (UnavailableError,
    // TimeoutError, ProtocolError): the commands were sent and may have run.
    [[nodiscard]] std::vector<RedisReply> replies();

   private:
    friend class NodePool;
    Exchange() = default;
    void finish() noexcept;  // what the destructor does
    std::optional<Lease> lease_;
    std::size_t count_ = 0;
    std::exception_ptr write_error_;  // a borrowed connection's failed write, for replies()
    std::shared_ptr<Multiplexer> mux_;
    std::shared_ptr<Multiplexer::Call> call_;
    bool unread_ = false;  // sent, replies not read yet
  };

  // Sends `commands` (see the top of this file for which connection). Throws, having sent
  // nothing, when no connection could be had (UnavailableError, TimeoutError, ReplyError,
  // ResourceExhaustedError, as acquire()).
  [[nodiscard]] Exchange send(std::span<const Argv> commands);
  // send() one command and read its reply.
  [[nodiscard]] RedisReply command(Argv argv);
  // Calls waiting on the shared connection now (0 when it is not open).
  [[nodiscard]] std::size_t multiplexed_in_flight() const;
  // True when the commands go over the shared connection.
  [[nodiscard]] bool multiplexes(std::span<const Argv> commands) const noexcept;

  // Borrows an idle connection, or opens one. Throws UnavailableError/TimeoutError (connect),
  // ReplyError (AUTH), ResourceExhaustedError (all connections busy for the command timeout).
  [[nodiscard]] Lease acquire();
  // Called after an I/O error on one of this node's connections: drops the idle ones (and a
  // broken multiplexed one).
  void on_io_error() noexcept;
  // Sets (or, with nullptr, removes) the setup step every connection runs before use. Idle
  // connections are dropped, so that none set up for another hook (or none) is handed out.
  void set_hook(std::shared_ptr<ConnectionHook> hook) noexcept;

  [[nodiscard]] const RedisEndpoint& endpoint() const noexcept { return endpoint_; }
  [[nodiscard]] const std::string& address() const noexcept { return address_; }

 private:
  void release(std::unique_ptr<Connection> connection) noexcept;
  // Opens a connection for the pool (counted in open_).
  std::unique_ptr<Connection> connect();
  // Opens a connection, keeping the backoff bookkeeping of failed connects.
  std::unique_ptr<Connection> dial();
  // mutex_ held: throws while a failed connect's backoff window lasts.
  void check_backoff() const;
  // The shared connection, opened or replaced as needed.
  std::shared_ptr<Multiplexer> multiplexer();
  std::shared_ptr<Multiplexer> open_multiplexer(const std::shared_ptr<Multiplexer>& stale);
  // Runs the hook's setup on a borrowed connection when its epoch is not the node's current one.
  Lease prepared(Lease lease);

  const RedisEndpoint endpoint_;
  const std::string address_;
  const std::shared_ptr<const ConnectOptions> options_;
  const int capacity_;

  mutable std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<Connection>> idle_;     // guarded by mutex_
  int open_ = 0;                                      // idle + leased + connecting; mutex_
  int connect_failures_ = 0;                          // consecutive; mutex_
  std::chrono::steady_clock::time_point retry_at_{};  // no connect before this; mutex_
  std::string last_error_;                            // mutex_
  std::optional<TlsFailure> last_tls_failure_;        // mutex_; the last failure, if TLS
  std::shared_ptr<ConnectionHook> hook_;              // mutex_
  std::shared_ptr<Multiplexer> mux_;                  // mutex_; null until first use
  std::mutex mux_open_mutex_;                         // one thread opens a replacement
};

}  // namespace strata::redis
