// RedisTracking: Redis server-assisted client-side caching with RESP2 (hiredis 0.14).
//
// The protocol (https://redis.io/docs/manual/client-side-caching/, "two connections mode"):
//  - per node, one invalidation connection: CLIENT ID, then SUBSCRIBE __redis__:invalidate;
//  - every data connection to that node runs CLIENT TRACKING on REDIRECT <that id> [BCAST
//    PREFIX p ...] before its first command (the router's ConnectionHook, redis/connection_hook.h);
//  - the server then sends ["message", "__redis__:invalidate", [key, ...]] when a key read
//    through a data connection (or, with BCAST, any key under a prefix) changes, and a nil
//    payload on FLUSHALL / FLUSHDB.
//
// Threads and state: one thread per node owns that node's invalidation connection; it is the
// only user of it. `epoch` of a node grows each time its invalidation connection comes up with
// a new id; a data connection records the epoch it was set up for, and the pool re-runs the
// setup when they differ. So after a reconnect every data connection is re-pointed at the new
// id before its next command.
//
// Why the flushes make this safe (with CacheState's in-flight guarantee: drop_local/flush_local
// cancel the L1 fill of a load in flight, which registers before its GET is sent):
//  - connection lost: invalidations may have been missed from then on: flush. Until the new
//    connection is up, reads may still track keys towards the dead id: flushed again below.
//  - connection up (new id, epoch bumped first, then flush): a load registered before the
//    flush is cancelled; a load registered after it borrows its data connection after the epoch
//    bump, so its read is tracked towards the new id. Nothing untracked survives in L1.
//  - each failed reconnect attempt flushes too, so an outage leaves nothing old behind.
//  - the health check: the server never tells a RESP2 client that its redirect target died;
//    a PING on the invalidation connection and CLIENT TRACKINGINFO on a data connection (flag
//    broken_redirect, or a redirect id that is not ours) find it, and the connection is
//    replaced (which flushes).
//  - Sentinel failover: the data connections move to the new master's pool, whose first
//    setup starts a node (and an invalidation connection) for it; the old master's node sees
//    router->retired() and drops its connection (one flush), then idles until it is the
//    master again.
#include "strata/coherence/redis_tracking.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "redis/command_router.h"
#include "redis/connection.h"
#include "redis/connection_hook.h"
#include "redis/node_pool.h"

namespace strata {
namespace {

constexpr std::string_view kChannel = "__redis__:invalidate";
constexpr std::chrono::milliseconds kMaxPoll{100};
constexpr std::chrono::milliseconds kFirstBackoff{10};
constexpr std::chrono::milliseconds kMaxBackoff{1000};

// An eventfd that poll() watches next to the socket, to stop the node thread at once.
class WakeFd {
 public:
  WakeFd() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (fd_ < 0) throw ResourceExhaustedError("redis tracking: cannot create an eventfd");
  }
  WakeFd(const WakeFd&) = delete;
  WakeFd& operator=(const WakeFd&) = delete;
  ~WakeFd() { ::close(fd_); }
  [[nodiscard]] int fd() const noexcept { return fd_; }
  void wake() noexcept {
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto n = ::write(fd_, &one, sizeof one);
  }

 private:
  int fd_;
};

template <typename F>
void call_quietly(const F& f) noexcept {
  try {
    f();
  } catch (...) {  // a listener's exception must not end a background thread
  }
}

}  // namespace

struct RedisTracking::State final : redis::ConnectionHook {
  // One master's invalidation connection and its thread.
  struct Node {
    explicit Node(redis::NodePool& p) : pool(p) {}
    redis::NodePool& pool;
    std::mutex mutex;
    std::condition_variable changed;
    bool connected = false;               // mutex
    std::int64_t id = -1;                 // CLIENT ID of the invalidation connection; mutex
    std::atomic<std::uint64_t> epoch{1};  // bumped (under mutex) when a new connection is up
    WakeFd wake;
    std::thread thread;
  };

  State(RedisClient c, TrackingOptions o, Listener l)
      : client(std::move(c)), options(std::move(o)), listener(std::move(l)) {}

  RedisClient client;  // keeps the router alive
  redis::CommandRouter* router = nullptr;
  redis::ConnectOptions connect;
  const TrackingOptions options;
  const Listener listener;
  std::atomic<bool> stopping{false};

  mutable std::mutex nodes_mutex;
  std::map<const redis::NodePool*, std::unique_ptr<Node>> nodes;  // never erased before stop

  struct Counters {
    std::atomic<std::uint64_t> messages{0}, keys{0}, flushes{0}, flushes_null{0}, flushes_lost{0},
        flushes_connected{0}, broken_redirects{0}, connections{0}, losses{0};
  } counters;

  // --- the hook (called by the pool on every checkout) ------------------------------------
  // A node without an invalidation connection yet: an epoch no connection has, so setup runs.
  static constexpr std::uint64_t kNoNode = ~std::uint64_t{0};

  std::uint64_t epoch(const redis::NodePool& pool) const override {
    std::lock_guard lock(nodes_mutex);
    const auto it = nodes.find(&pool);
    return it == nodes.end() ? kNoNode : it->second->epoch.load(std::memory_order_acquire);
  }

  std::uint64_t setup(redis::NodePool& pool, redis::Connection& connection) override {
    Node& node = node_for(pool);
    std::int64_t id;
    std::uint64_t epoch;
    {
      std::unique_lock lock(node.mutex);
      const auto wait = connect.connect_timeout +
                        std::max(connect.command_timeout, std::chrono::milliseconds(100));
      if (!node.changed.wait_for(lock, wait, [&] { return node.connected || stopping.load(); }) ||
          !node.connected) {
        throw UnavailableError("redis tracking: no invalidation connection to " + pool.address() +
                               " yet");
      }
      id = node.id;
      epoch = node.epoch.load(std::memory_order_relaxed);
    }
    const std::string redirect = std::to_string(id);
    std::vector<std::string_view> on{"CLIENT", "TRACKING", "on", "REDIRECT", redirect};
    if (options.bcast) {
      on.emplace_back("BCAST");
      for (const auto& prefix : options.prefixes) {
        on.emplace_back("PREFIX");
        on.emplace_back(prefix);
      }
    }
    static constexpr std::string_view kOff[] = {"CLIENT", "TRACKING", "off"};
    connection.append(kOff);  // re-pointing: off first (switching BCAST while on is refused)
    connection.append(on);
    const RedisReply off_reply = connection.read_reply();
    const RedisReply on_reply = connection.read_reply();
    if (off_reply.is_error() || on_reply.is_error()) {
      // e.g. the invalidation connection died a moment ago ("does not exist"): retried.
      throw UnavailableError("redis " + pool.address() + ": CLIENT TRACKING refused: " +
                             (on_reply.is_error() ? on_reply.str : off_reply.str));
    }
    return epoch;
  }

  Node& node_for(redis::NodePool& pool) {
    std::lock_guard lock(nodes_mutex);
    auto& node = nodes[&pool];
    if (!node) {
      if (stopping) throw UnavailableError("redis tracking: stopped");
      node = std::make_unique<Node>(pool);
      Node* raw = node.get();
      node->thread = std::thread([this, raw] { run(*raw); });
    }
    return *node;
  }

  void flush(std::atomic<std::uint64_t>& cause) noexcept {
    cause.fetch_add(1, std::memory_order_relaxed);
    counters.flushes.fetch_add(1, std::memory_order_relaxed);
    if (listener.flush) call_quietly(listener.flush);
  }

  bool wait_stop(Node& node, std::chrono::milliseconds wait) {
    std::unique_lock lock(node.mutex);
    return node.changed.wait_for(lock, wait, [&] { return stopping.load(); });
  }

  // --- a node's thread ---------------------------------------------------------------------
  void run(Node& node) noexcept {
    int failures = 0;
    while (!stopping) {
      // Sentinel: a master replaced by a failover carries no data connections any more, so
      // nothing tracked can point at it: wait (without flushing) until it is the master again.
      if (router->retired(node.pool)) {
        if (wait_stop(node, kMaxPoll)) return;
        continue;
      }
      bool established = false;
      try {
        auto connection = redis::Connection::open(node.pool.endpoint(), connect);
        static constexpr std::string_view kClientId[] = {"CLIENT", "ID"};
        const RedisReply id = connection->command(kClientId);
        if (!id.is_integer())
          throw ProtocolError("redis " + node.pool.address() + ": bad CLIENT ID reply");
        const std::string_view subscribe[] = {"SUBSCRIBE", kChannel};
        const RedisReply confirmed = connection->command(subscribe);
        if (!confirmed.is_array() || confirmed.elements.empty() ||
            confirmed.elements[0].str != "subscribe") {
          throw ProtocolError("redis " + node.pool.address() + ": SUBSCRIBE " +
                              std::string(kChannel) + " not confirmed");
        }
        {
          std::lock_guard lock(node.mutex);
          node.id = id.integer;
          node.connected = true;
          node.epoch.fetch_add(1, std::memory_order_acq_rel);  // data connections re-point
        }
        node.changed.notify_all();
        established = true;
        failures = 0;
        counters.connections.fetch_add(1, std::memory_order_relaxed);
        flush(counters.flushes_connected);  // after the epoch bump (see the essay above)
        serve(node, *connection);
      } catch (const std::exception&) {
      } catch (...) {
      }
      {
        std::lock_guard lock(node.mutex);
        node.connected = false;
        node.id = -1;
      }
      node.changed.notify_all();
      if (stopping) return;
      if (established) counters.losses.fetch_add(1, std::memory_order_relaxed);
      flush(counters.flushes_lost);
      ++failures;
      const auto backoff =
          std::min(kMaxBackoff,
                   std::chrono::milliseconds(kFirstBackoff.count() << std::min(failures - 1, 10)));
      if (wait_stop(node, established ? std::chrono::milliseconds(0) : backoff)) return;
    }
  }

  void serve(Node& node, redis::Connection& connection) {
    using Clock = std::chrono::steady_clock;
    static constexpr std::string_view kPing[] = {"PING"};
    const auto interval = options.health_interval;
    const auto dead_after =
        interval + std::max(connect.command_timeout, std::chrono::milliseconds(100));
    auto next_check = Clock::now() + interval;
    bool ping_outstanding = false;
    Clock::time_point ping_sent{};
    while (!stopping) {
      const auto now = Clock::now();
      if (ping_outstanding && now - ping_sent > dead_after) {
        throw UnavailableError("redis " + node.pool.address() +
                               ": the invalidation connection did not answer a PING");
      }
      if (router->retired(node.pool)) {  // sentinel: a failover moved the master elsewhere
        throw UnavailableError("redis " + node.pool.address() + " is no longer the master");
      }
      if (now >= next_check) {
        next_check = now + interval;
        if (!ping_outstanding) {
          connection.append(kPing);
          connection.flush();
          ping_outstanding = true;
          ping_sent = now;
        }
        check_redirect(node);
      }
      std::optional<RedisReply> reply =
          connection.read_reply_within(std::min(kMaxPoll, interval), node.wake.fd());
      while (reply) {
        if (is_pong(*reply)) ping_outstanding = false;
        dispatch(*reply);
        reply = connection.read_reply_within(std::chrono::milliseconds(0));
      }
    }
  }

  static bool is_pong(const RedisReply& reply) {
    return reply.is_array() && !reply.elements.empty() && reply.elements[0].str == "pong";
  }

  void dispatch(const RedisReply& reply) noexcept {
    if (!reply.is_array() || reply.elements.size() != 3 || reply.elements[0].str != "message" ||
        reply.elements[1].str != kChannel) {
      return;
    }
    counters.messages.fetch_add(1, std::memory_order_relaxed);
    const RedisReply& payload = reply.elements[2];
    if (payload.is_nil()) {  // FLUSHALL / FLUSHDB
      flush(counters.flushes_null);
      return;
    }
    auto drop = [&](const std::string& key) {
      if (listener.invalidate) call_quietly([&] { listener.invalidate(key); });
      // Counted once dropped: whoever sees the count grow may rely on L1 no longer holding it.
      counters.keys.fetch_add(1, std::memory_order_release);
    };
    if (payload.is_array()) {
      for (const RedisReply& key : payload.elements) drop(key.str);
    } else if (payload.is_string()) {
      drop(payload.str);
    }
  }

  // The server's view of our redirect: CLIENT TRACKINGINFO on a data connection of the node
  // (set up for the current epoch by the pool before it answers).
  void check_redirect(Node& node) {
    std::int64_t ours;
    {
      std::lock_guard lock(node.mutex);
      ours = node.id;
    }
    static constexpr std::string_view kInfo[] = {"CLIENT", "TRACKINGINFO"};
    RedisReply info;
    try {
      info = router->run_on(node.pool, kInfo);
    } catch (const Error&) {
      return;  // the data side has its own troubles (and its own error handling)
    }
    if (!info.is_array()) return;
    bool broken = false;
    std::int64_t redirect = ours;
    for (std::size_t i = 0; i + 1 < info.elements.size(); i += 2) {
      const std::string& field = info.elements[i].str;
      const RedisReply& value = info.elements[i + 1];
      if (field == "flags") {
        for (const RedisReply& flag : value.elements)
          broken = broken || flag.str == "broken_redirect";
      } else if (field == "redirect" && value.is_integer()) {
        redirect = value.integer;
      }
    }
    if (broken || redirect != ours) {
      counters.broken_redirects.fetch_add(1, std::memory_order_relaxed);
      throw UnavailableError("redis " + node.pool.address() +
                             ": the server reports the tracking "
                             "redirect target gone (redirect " +
                             std::to_string(redirect) + ", ours " + std::to_string(ours) + ")");
    }
  }

  void stop() noexcept {
    stopping = true;
    std::vector<Node*> all;
    {
      std::lock_guard lock(nodes_mutex);
      for (auto& [pool, node] : nodes) all.push_back(node.get());
    }
    for (Node* node : all) {
      {
        std::lock_guard lock(node->mutex);  // no lost wake-up for wait_stop / setup waiters
      }
      node->changed.notify_all();
      node->wake.wake();
    }
    for (Node* node : all) {
      if (node->thread.joinable()) node->thread.join();
    }
  }
};

RedisTracking::RedisTracking(RedisClient client, TrackingOptions options, Listener listener) {
  options.validate();
  state_ = std::make_shared<State>(std::move(client), std::move(options), std::move(listener));
  state_->router = state_->client.router_.get();
  state_->connect = redis::connect_options(state_->router->url());
  // The invalidation connection blocks in poll(), not in reads: no command timeout on it is
  // needed, but its commands (CLIENT ID, SUBSCRIBE) keep the URL's.
  state_->router->set_connection_hook(state_);
}

RedisTracking::~RedisTracking() {
  if (!state_) return;
  state_->router->clear_connection_hook(state_.get());  // breaks the router -> hook -> client cycle
  state_->stop();
}

bool RedisTracking::connect_all(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<redis::NodePool*> masters;
  try {
    masters = state_->router->masters();
  } catch (const Error&) {
    return false;
  }
  bool all = true;
  for (redis::NodePool* pool : masters) {
    State::Node& node = state_->node_for(*pool);
    std::unique_lock lock(node.mutex);
    all = node.changed.wait_until(lock, deadline, [&] { return node.connected; }) && all;
  }
  return all;
}

std::vector<std::pair<std::string, std::int64_t>> RedisTracking::subscribers() const {
  std::vector<std::pair<std::string, std::int64_t>> out;
  std::lock_guard lock(state_->nodes_mutex);
  for (const auto& [pool, node] : state_->nodes) {
    std::lock_guard node_lock(node->mutex);
    if (node->connected) out.emplace_back(pool->address(), node->id);
  }
  return out;
}

TrackingStats RedisTracking::stats() const {
  const auto load = [](const std::atomic<std::uint64_t>& a) {
    return a.load(std::memory_order_relaxed);
  };
  const auto& c = state_->counters;
  TrackingStats s;
  s.messages = load(c.messages);
  s.keys_invalidated = load(c.keys);
  s.flushes = load(c.flushes);
  s.flushes_null = load(c.flushes_null);
  s.flushes_connection_lost = load(c.flushes_lost);
  s.flushes_connected = load(c.flushes_connected);
  s.broken_redirects = load(c.broken_redirects);
  s.connections = load(c.connections);
  s.connection_losses = load(c.losses);
  s.nodes_connected = subscribers().size();
  return s;
}

}  // namespace strata
