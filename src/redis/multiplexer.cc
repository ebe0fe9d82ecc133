#include "redis/multiplexer.h"

#include <poll.h>

#include <algorithm>
#include <cctype>
#include <utility>

#include "strata/error.h"

namespace strata::redis {
namespace {

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) ==
                  std::toupper(static_cast<unsigned char>(y));
         });
}

// Commands that block their connection until something happens, or change the state of the
// connection (its transaction, database, user, subscriptions, tracking, reply mode, ...).
constexpr std::string_view kDedicated[] = {
    // blocking
    "BLPOP", "BRPOP", "BRPOPLPUSH", "BLMOVE", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP", "WAIT",
    "WAITAOF", "MONITOR", "SYNC", "PSYNC", "DEBUG",
    // connection state
    "MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH", "SELECT", "AUTH", "HELLO", "RESET", "QUIT",
    "READONLY", "READWRITE", "ASKING", "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE",
    "PUNSUBSCRIBE", "SUNSUBSCRIBE", "SWAPDB"};

}  // namespace

bool may_multiplex(Argv argv) noexcept {
  if (argv.empty()) return false;
  const std::string_view name = argv[0];
  for (const auto dedicated : kDedicated) {
    if (iequals(name, dedicated)) return false;
  }
  // CLIENT: the subcommands that only ask or act on other connections may share it; the ones
  // that set this connection's state (SETNAME, TRACKING, REPLY, CACHING, ...) may not.
  if (iequals(name, "CLIENT")) {
    if (argv.size() < 2) return false;
    for (const std::string_view shared : {"ID", "INFO", "LIST", "GETNAME", "GETREDIR",
                                          "TRACKINGINFO", "KILL", "PAUSE", "UNPAUSE"}) {
      if (iequals(argv[1], shared)) return true;
    }
    return false;
  }
  // XREAD / XREADGROUP block only with a BLOCK argument (before STREAMS).
  if (iequals(name, "XREAD") || iequals(name, "XREADGROUP")) {
    for (const auto arg : argv.subspan(1)) {
      if (iequals(arg, "STREAMS")) break;
      if (iequals(arg, "BLOCK")) return false;
    }
  }
  return true;
}

Multiplexer::Multiplexer(std::unique_ptr<Connection> connection)
    : connection_(std::move(connection)),
      timeout_(connection_->command_timeout_),
      last_reply_(Clock::now().time_since_epoch().count()) {}

Multiplexer::~Multiplexer() = default;

Multiplexer::Clock::time_point Multiplexer::last_reply() const noexcept {
  return Clock::time_point(Clock::duration(last_reply_.load(std::memory_order_relaxed)));
}

std::size_t Multiplexer::in_flight() const {
  std::lock_guard lock(mutex_);
  return calls_.size();
}

Multiplexer::Clock::time_point Multiplexer::deadline() const noexcept {
  if (timeout_.count() <= 0) return Clock::time_point::max();
  return Clock::now() + timeout_;
}

void Multiplexer::submit(const std::shared_ptr<Call>& call, std::span<const Argv> commands,
                         bool claim_reader) {
  if (commands.empty()) throw InvalidArgumentError("redis: a call needs at least one command");
  if (call->submitted_) throw InvalidArgumentError("redis: a call is submitted once");
  call->expected_ = commands.size();
  call->replies_.clear();
  call->replies_.reserve(commands.size());
  call->error_ = nullptr;
  call->deadline_ = deadline();
  call->signal_.store(0, std::memory_order_relaxed);
  {
    std::lock_guard lock(mutex_);
    if (broken_.load(std::memory_order_relaxed)) {
      std::string why = "connection is broken";
      try {
        if (error_) std::rethrow_exception(error_);
      } catch (const std::exception& e) {
        why += " (";
        why += e.what();
        why += ")";
      }
      throw UnavailableError("redis " + address() + ": " + why);
    }
    for (const Argv argv : commands) frame(out_, argv);
    call->submitted_ = true;
    calls_.push_back(call);
    if (claim_reader && !reading_) {  // wait() reads at once, without taking the lock again
      reading_ = true;
      call->reader_ = true;
    }
    // The writer takes these bytes with the rest; a reader not blocked in poll(2) writes them
    // before it polls.
    if (writing_ || (reading_ && !reader_polling_)) return;
    writing_ = true;
  }
  write_queued();
}

void Multiplexer::write_queued() {
  std::string batch;
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (out_.empty() || broken_.load(std::memory_order_relaxed)) {
        out_.clear();
        writing_ = false;
        return;
      }
      batch.swap(out_);  // out_ keeps batch's (empty) buffer for the next commands
    }
    try {
      connection_->write_bytes(batch, deadline());
    } catch (...) {
      fail(std::current_exception());
      std::lock_guard lock(mutex_);
      writing_ = false;
      return;
    }
    batch.clear();
  }
}

void Multiplexer::flush_queued(std::unique_lock<std::mutex>& lock) {
  if (out_.empty() || writing_) return;
  writing_ = true;
  lock.unlock();
  write_queued();
  lock.lock();
}

std::vector<RedisReply> Multiplexer::wait(Call& call) {
  if (!call.submitted_) throw InvalidArgumentError("redis: waiting for a call never submitted");
  if (std::exchange(call.reader_, false)) {
    read_until_done(call);
  } else {
    std::unique_lock lock(mutex_);
    if ((call.signal_.load(std::memory_order_relaxed) & Call::kDone) == 0 && !reading_) {
      reading_ = true;
      lock.unlock();
      read_until_done(call);
    }
  }
  for (;;) {
    // The generation first: a wake-up after this load changes it, so the wait below returns.
    const std::uint32_t generation = wakeups_.load(std::memory_order_acquire);
    const std::uint32_t signal = call.signal_.load(std::memory_order_acquire);
    if ((signal & Call::kDone) != 0) {
      if ((signal & Call::kLead) != 0) {  // handed the role, but the connection broke first
        std::lock_guard lock(mutex_);
        pass_reader_role();
      }
      call.submitted_ = false;
      if (call.error_) std::rethrow_exception(call.error_);
      return std::move(call.replies_);
    }
    if ((signal & Call::kLead) != 0) {
      {
        std::lock_guard lock(mutex_);
        if ((call.signal_.load(std::memory_order_relaxed) & Call::kDone) != 0) continue;
        call.signal_.fetch_and(~Call::kLead, std::memory_order_relaxed);
      }
      read_until_done(call);
      continue;
    }
    wakeups_.wait(generation, std::memory_order_acquire);
  }
}

RedisReply Multiplexer::command(Argv argv) {
  const auto call = std::make_shared<Call>();
  const Argv commands[] = {argv};
  submit(call, commands, /*claim_reader=*/true);
  return std::move(wait(*call).front());
}

bool Multiplexer::deliver(std::vector<RedisReply>& replies, Call& call) {
  std::size_t unmatched = 0;
  std::vector<std::shared_ptr<Call>> finished;
  bool own_done = false;
  {
    std::lock_guard lock(mutex_);
    reader_polling_ = false;
    if (broken_.load(std::memory_order_relaxed)) return true;
    for (RedisReply& reply : replies) {
      if (calls_.empty()) {
        ++unmatched;
        continue;
      }
      Call& owner = *calls_.front();
      owner.replies_.push_back(std::move(reply));
      if (owner.replies_.size() < owner.expected_) continue;
      if (&owner == &call) {
        own_done = true;
        call.signal_.fetch_or(Call::kDone, std::memory_order_release);
        calls_.pop_front();
      } else {
        finished.push_back(std::move(calls_.front()));
        calls_.pop_front();
      }
    }
    replies.clear();
  }
  // Outside the lock: a woken caller never waits for it. The shared_ptr keeps each call alive
  // until its caller was notified.
  for (const auto& done : finished) done->signal_.fetch_or(Call::kDone, std::memory_order_release);
  if (!finished.empty()) wake_all();
  if (unmatched != 0) {  // a reply nobody asked for: the stream and the queue no longer match
    throw ProtocolError("redis " + address() + ": " + std::to_string(unmatched) +
                        " reply(s) arrived that no command was waiting for");
  }
  last_reply_.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
  return own_done;
}

void Multiplexer::read_until_done(Call& call) {
  std::vector<RedisReply> replies;
  try {
    for (;;) {
      while (auto reply = connection_->parsed_reply()) replies.push_back(std::move(*reply));
      if (!replies.empty() && deliver(replies, call)) break;
      if (connection_->read_some()) continue;
      Clock::time_point until;
      {
        std::unique_lock lock(mutex_);
        if ((call.signal_.load(std::memory_order_relaxed) & Call::kDone) != 0) break;
        flush_queued(lock);  // what callers queued while this thread read
        if ((call.signal_.load(std::memory_order_relaxed) & Call::kDone) != 0) break;
        if (!out_.empty()) continue;  // queued during the write: read first, then write those
        reader_polling_ = true;
        // The oldest queued call bounds the wait: its reply is the next one due.
        until = calls_.empty() ? call.deadline_ : calls_.front()->deadline_;
      }
      if (!connection_->wait_for(POLLIN, until)) connection_->fail_timeout("no reply");
    }
  } catch (...) {
    fail(std::current_exception());
  }
  std::unique_lock lock(mutex_);
  flush_queued(lock);  // nothing queued waits for the next reader to be scheduled
  pass_reader_role();
}

void Multiplexer::wake_all() noexcept {
  wakeups_.fetch_add(1, std::memory_order_release);
  wakeups_.notify_all();
}

void Multiplexer::pass_reader_role() noexcept {
  reader_polling_ = false;
  if (calls_.empty()) {
    reading_ = false;
    return;
  }
  Call& next = *calls_.front();
  next.signal_.fetch_or(Call::kLead, std::memory_order_release);
  reading_ = true;
  wake_all();
}

void Multiplexer::fail(std::exception_ptr error) noexcept {
  std::deque<std::shared_ptr<Call>> failed;
  {
    std::lock_guard lock(mutex_);
    if (!broken_.load(std::memory_order_relaxed)) {
      error_ = std::move(error);
      broken_.store(true, std::memory_order_release);
    }
    for (const auto& call : calls_) call->error_ = error_;
    failed.swap(calls_);
    out_.clear();
  }
  for (const auto& call : failed) call->signal_.fetch_or(Call::kDone, std::memory_order_release);
  wake_all();
  connection_->shutdown();  // a reader blocked in poll(2) wakes up and leaves
}

}  // namespace strata::redis
