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
  {
    std::lock_guard lock(mutex_);
    dropped.swap(idle_);
    open_ -= static_cast<int>(dropped.size());
    idle_.reserve(static_cast<std::size_t>(capacity_));
  }
  returned_.notify_all();
}

std::unique_ptr<Connection> NodePool::connect() {
  try {
    auto connection = Connection::open(endpoint_, *options_);
    std::lock_guard lock(mutex_);
    connect_failures_ = 0;
    return connection;
  } catch (const Error& e) {
    std::lock_guard lock(mutex_);
    --open_;
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
    returned_.notify_one();
    throw;
  }
}

void NodePool::set_hook(std::shared_ptr<ConnectionHook> hook) noexcept {
  {
    std::lock_guard lock(mutex_);
    hook_ = std::move(hook);
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
      const auto now = std::chrono::steady_clock::now();
      if (connect_failures_ > 0 && now < retry_at_) {
        const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(retry_at_ - now);
        const std::string message =
            "redis " + address_ + " is unreachable (next connect attempt in " +
            std::to_string(wait.count()) + "ms); last error: " + last_error_;
        if (last_tls_failure_) throw TlsError(*last_tls_failure_, message);
        throw UnavailableError(message);
      }
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
