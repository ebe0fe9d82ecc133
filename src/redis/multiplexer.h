// multiplexer.h: one connection to a node shared by every calling thread, with automatic
// pipelining.
//
// Callers do not take turns on the connection: each one frames its commands into a shared
// buffer and queues itself, in the same order, for their replies. Two roles are taken by the
// callers themselves, never by a background thread, so a lone caller pays no thread hand-off:
//  - the writer: whoever queues a command while nobody is writing (and no reader is about to)
//    writes the whole buffer, and again whatever other callers queued meanwhile, until the
//    buffer is empty. Commands of concurrent callers thus leave in one send(2);
//  - the reader: one waiting caller reads the socket and hands every reply, in order, to the
//    call it belongs to, waking that caller. When its own replies are in, it passes the role to
//    the oldest call still waiting (whose caller then reads for everyone).
// Plaintext connections are read and written at the same time by the two roles; a TLS session
// is used by one of them at a time (Connection's ssl_mutex_).
//
// Failures: any I/O, protocol or timeout error breaks the connection and fails every queued
// call with that error (the typed strata::Error the connection threw); the socket is shut down
// so the reader wakes at once. A broken multiplexer refuses new calls (UnavailableError, nothing
// sent); its owner (NodePool) replaces it. The command timeout bounds the oldest call: when no
// reply came for it in time, every queued call fails with TimeoutError.
//
// What may not share the connection (may_multiplex() false) takes a pooled connection of its
// own: commands that block the connection (BLPOP, WAIT, XREAD BLOCK, ...) or change its state
// (MULTI/EXEC, WATCH, SELECT, AUTH, SUBSCRIBE, CLIENT SETNAME/TRACKING/REPLY, ...). CLIENT ID
// and CLIENT INFO through a multiplexing client describe the shared connection.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "redis/connection.h"
#include "strata/redis/redis_reply.h"

namespace strata::redis {

using Argv = std::span<const std::string_view>;

// False for commands that block their connection or change its state (see above).
[[nodiscard]] bool may_multiplex(Argv argv) noexcept;

class Multiplexer {
 public:
  using Clock = std::chrono::steady_clock;

  // Commands submitted together: written back to back, their replies collected in order.
  // Shared: the reader still holds it while it wakes the caller.
  class Call {
   public:
    Call() = default;
    Call(const Call&) = delete;
    Call& operator=(const Call&) = delete;

   private:
    friend class Multiplexer;
    static constexpr std::uint32_t kDone = 1;  // replies_ (or error_) are final
    static constexpr std::uint32_t kLead = 2;  // handed the reader's role
    std::size_t expected_ = 0;
    std::vector<RedisReply> replies_;  // Multiplexer::mutex_ until kDone
    std::exception_ptr error_;         // set (with kDone) when the connection broke first
    Clock::time_point deadline_;
    bool submitted_ = false;
    bool reader_ = false;  // submit() gave it the reader's role
    // What the caller waits on (atomic wait/notify: it never needs the multiplexer's mutex to
    // learn that its replies are in). Set under Multiplexer::mutex_.
    std::atomic<std::uint32_t> signal_{0};
  };

  explicit Multiplexer(std::unique_ptr<Connection> connection);
  Multiplexer(const Multiplexer&) = delete;
  Multiplexer& operator=(const Multiplexer&) = delete;
  ~Multiplexer();

  // Queues `commands` for `call` (a Call not submitted before); they are written by this
  // thread, or by the one writing now together with other callers' commands. Throws
  // UnavailableError, having queued nothing, when the connection is broken.
  // With claim_reader, the reader's role (when free) goes to this call at once: for a caller
  // that wait()s next, not one that submits elsewhere first.
  void submit(const std::shared_ptr<Call>& call, std::span<const Argv> commands,
              bool claim_reader = false);
  // The replies of a submitted call, one per command, in order. While it waits this thread
  // may read for every caller. Throws the typed error that broke the connection (an error
  // *reply* is a RedisReply, as on a Connection).
  [[nodiscard]] std::vector<RedisReply> wait(Call& call);
  // submit() and wait() for one command.
  [[nodiscard]] RedisReply command(Argv argv);

  [[nodiscard]] bool broken() const noexcept { return broken_.load(std::memory_order_acquire); }
  [[nodiscard]] const std::string& address() const noexcept { return connection_->address(); }
  // The ConnectionHook epoch the connection was set up for before it was shared.
  [[nodiscard]] std::uint64_t setup_epoch() const noexcept { return connection_->setup_epoch(); }
  // Calls queued and not answered yet.
  [[nodiscard]] std::size_t in_flight() const;
  // When a reply last arrived (or the multiplexer was made): for idle health checks.
  [[nodiscard]] Clock::time_point last_reply() const noexcept;

 private:
  // The writer's role (mutex_ not held): writes out_ until it stays empty.
  void write_queued();
  // The reader's role (mutex_ not held) until `call` is done; then passes the role on.
  void read_until_done(Call& call);
  // Hands parsed replies to their calls and wakes their callers; true when `call` is done (or
  // the connection broke).
  bool deliver(std::vector<RedisReply>& replies, Call& call);
  // mutex_ held: writes what callers queued while this thread read (see reader_polling_).
  void flush_queued(std::unique_lock<std::mutex>& lock);
  // Breaks the connection: every queued call fails with `error`.
  void fail(std::exception_ptr error) noexcept;
  // mutex_ held: gives the reader's role to the oldest queued call, or frees it.
  void pass_reader_role() noexcept;
  // Wakes every waiting caller (one futex call however many calls a batch of replies ended);
  // each checks its own call's signal and the others wait again.
  void wake_all() noexcept;
  [[nodiscard]] Clock::time_point deadline() const noexcept;

  const std::unique_ptr<Connection> connection_;
  const std::chrono::milliseconds timeout_;

  mutable std::mutex mutex_;
  std::string out_;                          // framed commands not yet written; mutex_
  std::deque<std::shared_ptr<Call>> calls_;  // queued calls, in the order of their commands
  bool writing_ = false;                     // a thread holds the writer's role; mutex_
  bool reading_ = false;  // a thread holds (or was handed) the reader's role; mutex_
  // The reader is blocked in poll(2). While it is not, callers only queue their commands: the
  // reader writes them all in one send before it polls again (the replies it hands out wake
  // callers, whose next commands thus leave together). mutex_
  bool reader_polling_ = false;
  std::exception_ptr error_;  // what broke the connection; mutex_
  std::atomic<bool> broken_{false};
  std::atomic<std::uint32_t> wakeups_{0};  // bumped by wake_all(); what callers wait on
  std::atomic<Clock::rep> last_reply_;
};

}  // namespace strata::redis
