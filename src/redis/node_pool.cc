#include "redis/node_pool.h"

#include <algorithm>

#include "strata/error.h"

namespace strata::redis {
namespace {

constexpr std::chrono::milliseconds kFirstBackoff{10};
constexpr std::chrono::milliseconds kMaxBackoff{1000};

}  // namespace

NodePool::NodePool(RedisEndpoint endpoint, std::shared_ptr<const ConnectOptions> options,
                   int capacity)
    : endpoint_(std::move(endpoint)),
      address_(to_address(endpoint_)),
      options_(std::move(options)),
      capacity_(std::max(1, capacity)) {
  idle_.reserve(static_cast<std::size_t>(capacity_));
}

NodePool::Lease& NodePool::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    give_back();
    pool_ = other.pool_;
    connection_ = std::move(other.connection_);
  }
  return *this;
}

NodePool::Lease::~Lease() {
  give_back();
}

void NodePool::Lease::give_back() noexcept {
  if (connection_) pool_->release(std::move(connection_));
}

void NodePool::release(std::unique_ptr<Connection> connection) noexcept {
  std::unique_ptr<Connection> dropped;  // closed outside the lock
  {
    std::lock_guard lock(mutex_);
    if (connection->broken()) {
      dropped = std::move(connection);
      --open_;
    } else {
      idle_.push_back(std::move(connection));
    }
  }
  returned_.notify_one();
}

void NodePool::on_io_error() noexcept {
  std::vector<std::unique_ptr<Connection>> dropped;
  std::shared_ptr<Multiplexer> broken;  // destroyed outside the lock
  {
    std::lock_guard lock(mutex_);
    dropped.swap(idle_);
    open_ -= static_cast<int>(dropped.size());
    idle_.reserve(static_cast<std::size_t>(capacity_));
    if (mux_ && mux_->broken()) broken = std::move(mux_);
  }
  returned_.notify_all();
}

void NodePool::check_backoff() const {
  if (connect_failures_ == 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (now >= retry_at_) return;
  const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(retry_at_ - now);
  const std::string message = "redis " + address_ + " is unreachable (next connect attempt in " +
                              std::to_string(wait.count()) + "ms); last error: " + last_error_;
  if (last_tls_failure_) throw TlsError(*last_tls_failure_, message);
  throw UnavailableError(message);
}

std::unique_ptr<Connection> NodePool::dial() {
  try {
    auto connection = Connection::open(endpoint_, *options_);
    std::lock_guard lock(mutex_);
    connect_failures_ = 0;
    return connection;
  } catch (const Error& e) {
    std::lock_guard lock(mutex_);
    // AUTH/SELECT refusals are configuration errors: no backoff, report them as they are.
    if (e.code() == ErrorCode::kUnavailable || e.code() == ErrorCode::kTimeout) {
      ++connect_failures_;
      const auto backoff = std::min(
          kMaxBackoff,
          std::chrono::milliseconds(kFirstBackoff.count() << std::min(connect_failures_ - 1, 10)));
      retry_at_ = std::chrono::steady_clock::now() + backoff;
      last_error_ = e.what();
      // Within the backoff a TLS failure is reported as one again (its kind is what the
      // operator needs), not as a plain "unreachable".
      const auto* tls = dynamic_cast<const TlsError*>(&e);
      last_tls_failure_ = tls ? std::optional<TlsFailure>(tls->failure()) : std::nullopt;
    }
    throw;
  }
}

std::unique_ptr<Connection> NodePool::connect() {
  try {
    return dial();
  } catch (...) {
    {
      std::lock_guard lock(mutex_);
      --open_;
    }
    returned_.notify_one();
    throw;
  }
}

std::shared_ptr<Multiplexer> NodePool::multiplexer() {
  std::shared_ptr<Multiplexer> mux;
  std::shared_ptr<ConnectionHook> hook;
  {
    std::lock_guard lock(mutex_);
    mux = mux_;
    hook = hook_;
  }
  if (mux && !mux->broken() && (!hook || mux->setup_epoch() == hook->epoch(*this))) {
    if (std::chrono::steady_clock::now() - mux->last_reply() < kHealthCheckAfter) return mux;
    try {  // silent for long (a server restart?): PING through it, replace it if that fails
      static constexpr std::string_view kPing[] = {"PING"};
      if (!mux->command(kPing).is_error()) return mux;
    } catch (const Error&) {
    }
  }
  return open_multiplexer(mux);
}

std::shared_ptr<Multiplexer> NodePool::open_multiplexer(const std::shared_ptr<Multiplexer>& stale) {
  std::lock_guard open_lock(mux_open_mutex_);
  std::shared_ptr<ConnectionHook> hook;
  {
    std::lock_guard lock(mutex_);
    // Another thread replaced it while this one waited for the open lock.
    if (mux_ && mux_ != stale && !mux_->broken()) return mux_;
    check_backoff();
    hook = hook_;
  }
  std::unique_ptr<Connection> connection = dial();
  if (hook) connection->set_setup_epoch(hook->setup(*this, *connection));  // throws: dropped
  auto fresh = std::make_shared<Multiplexer>(std::move(connection));
  std::shared_ptr<Multiplexer> replaced;  // destroyed outside the lock
  {
    std::lock_guard lock(mutex_);
    replaced = std::exchange(mux_, fresh);
  }
  return fresh;
}

std::size_t NodePool::multiplexed_in_flight() const {
  std::shared_ptr<Multiplexer> mux;
  {
    std::lock_guard lock(mutex_);
    mux = mux_;
  }
  return mux ? mux->in_flight() : 0;
}

bool NodePool::multiplexes(std::span<const Argv> commands) const noexcept {
  return options_->multiplex && std::all_of(commands.begin(), commands.end(),
                                            [](Argv argv) { return may_multiplex(argv); });
}

NodePool::Exchange::Exchange(Exchange&& other) noexcept
    : lease_(std::move(other.lease_)),
      count_(other.count_),
      write_error_(std::move(other.write_error_)),
      mux_(std::move(other.mux_)),
      call_(std::move(other.call_)),
      unread_(std::exchange(other.unread_, false)) {
  other.lease_.reset();
}

NodePool::Exchange& NodePool::Exchange::operator=(Exchange&& other) noexcept {
  if (this != &other) {
    finish();
    lease_ = std::move(other.lease_);
    other.lease_.reset();
    count_ = other.count_;
    write_error_ = std::move(other.write_error_);
    mux_ = std::move(other.mux_);
    call_ = std::move(other.call_);
    unread_ = std::exchange(other.unread_, false);
  }
  return *this;
}

NodePool::Exchange::~Exchange() {
  finish();
}

void NodePool::Exchange::finish() noexcept {
  if (!unread_) return;
  unread_ = false;
  if (mux_) {
    try {  // the call's replies are still owed to it: take them, drop them
      (void)mux_->wait(*call_);
    } catch (...) {
    }
  } else if (lease_) {
    (*lease_)->mark_broken();  // unread replies on it: never hand it to anyone else
  }
}

std::vector<RedisReply> NodePool::Exchange::replies() {
  if (!unread_) throw InvalidArgumentError("redis: the replies of this exchange were read");
  unread_ = false;
  if (mux_) return mux_->wait(*call_);
  if (write_error_) std::rethrow_exception(write_error_);
  std::vector<RedisReply> replies(count_);
  for (auto& reply : replies) reply = (*lease_)->read_reply();
  lease_.reset();  // back to the pool at once
  return replies;
}

NodePool::Exchange NodePool::send(std::span<const Argv> commands) {
  Exchange exchange;
  exchange.count_ = commands.size();
  if (multiplexes(commands)) {
    exchange.mux_ = multiplexer();
    exchange.call_ = std::make_shared<Multiplexer::Call>();
    exchange.mux_->submit(exchange.call_, commands);
    exchange.unread_ = true;
    return exchange;
  }
  exchange.lease_.emplace(acquire());
  exchange.unread_ = true;
  try {
    for (const Argv argv : commands) (*exchange.lease_)->append(argv);
    (*exchange.lease_)->flush();
  } catch (const Error&) {
    exchange.write_error_ = std::current_exception();  // sent in part, maybe: for replies()
  }
  return exchange;
}

RedisReply NodePool::command(Argv argv) {
  if (options_->multiplex && may_multiplex(argv)) return multiplexer()->command(argv);
  auto lease = acquire();
  return lease->command(argv);
}

void NodePool::set_hook(std::shared_ptr<ConnectionHook> hook) noexcept {
  std::shared_ptr<Multiplexer> replaced;  // set up for the old hook; destroyed outside the lock
  {
    std::lock_guard lock(mutex_);
    hook_ = std::move(hook);
    replaced = std::move(mux_);
  }
  on_io_error();  // idle connections were set up for the old hook: drop them
}

NodePool::Lease NodePool::prepared(Lease lease) {
  std::shared_ptr<ConnectionHook> hook;
  {
    std::lock_guard lock(mutex_);
    hook = hook_;
  }
  if (!hook) {
    if (lease->setup_epoch() == 0) return lease;
    lease->mark_broken();  // set up for a hook that was removed since: drop it, take another
    { const Lease dropped = std::move(lease); }
    return acquire();
  }
  if (lease->setup_epoch() == hook->epoch(*this)) return lease;
  try {
    lease->set_setup_epoch(hook->setup(*this, *lease));
  } catch (...) {
    lease->mark_broken();  // dropped when the lease goes back
    throw;
  }
  return lease;
}

NodePool::Lease NodePool::acquire() {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::max(options_->command_timeout, std::chrono::milliseconds(1));
  std::unique_lock lock(mutex_);
  for (;;) {
    if (!idle_.empty()) {
      std::unique_ptr<Connection> connection = std::move(idle_.back());
      idle_.pop_back();
      if (std::chrono::steady_clock::now() - connection->last_used() < kHealthCheckAfter) {
        lock.unlock();
        return prepared(Lease(this, std::move(connection)));
      }
      lock.unlock();
      try {  // health check of a long-idle connection: PING, drop it if it fails
        static constexpr std::string_view kPing[] = {"PING"};
        if (!connection->command(kPing).is_error())
          return prepared(Lease(this, std::move(connection)));
      } catch (const Error&) {
      }
      lock.lock();
      --open_;
      open_ -= static_cast<int>(idle_.size());  // the others are as old, and probably as dead
      idle_.clear();
      continue;
    }
    if (open_ < capacity_) {
      check_backoff();
      ++open_;
      lock.unlock();
      return prepared(Lease(this, connect()));
    }
    if (returned_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= capacity_) {
      throw ResourceExhaustedError("redis " + address_ + ": all " + std::to_string(capacity_) +
                                   " pooled connections stayed busy for the command timeout");
    }
  }
}

}  // namespace strata::redis
