// RedisSubscriber: one connection in subscribed mode, owned by one background thread.
//
// The thread is the only user of the connection. Other threads register callbacks in the
// shared state and queue SUBSCRIBE/UNSUBSCRIBE commands, then wake the thread through a
// self-pipe; the thread waits for either the socket or the pipe with poll(), so it notices
// new commands and stop() at once, and never blocks in a read without a timeout.
//
// Connection life cycle (the thread's loop):
//   connect (a seed, or for a cluster the next known node) -> CLIENT ID -> SUBSCRIBE and
//   PSUBSCRIBE everything registered -> on_connected(id) -> read pushes, send queued commands,
//   PING when idle for keepalive_interval -> on any error: close, on_connection_lost(reason)
//   if the connection had been established, back off (10 ms doubling to 1 s), repeat.
// Callbacks are called without the state lock held, so they may call subscribe() etc.
//
// Sentinel (redis+sentinel://): each connect first asks the sentinels for the master
// (sentinel.h; the connection checks ROLE), and a second RedisSubscriber, on the sentinels,
// listens for "+switch-master": when the master changes, the current connection is dropped
// (a connection loss, so the owner flushes what it may have missed) and the thread connects
// to the new master.
//
// Sharded channels (ssubscribe, Redis 7's SSUBSCRIBE): SPUBLISH delivers a message on the node
// that owns the channel's slot only, so with a cluster URL the connection is made to that owner
// (found in CLUSTER SLOTS), and all sharded channels of one subscriber share a slot. When the
// slot moves, the server ends the subscription ("sunsubscribe" push) or refuses it (MOVED): the
// connection is then treated as lost and made again to the new owner.
#include "strata/redis/redis_subscriber.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "redis/connection.h"
#include "redis/sentinel.h"
#include "strata/error.h"
#include "strata/redis/key_slot.h"

namespace strata {
namespace {

constexpr std::chrono::milliseconds kMaxPoll{200};
constexpr std::chrono::milliseconds kFirstBackoff{10};
constexpr std::chrono::milliseconds kMaxBackoff{1000};

// A non-blocking pipe whose read end poll() watches next to the socket.
class WakePipe {
 public:
  WakePipe() {
    if (::pipe2(fds_, O_NONBLOCK | O_CLOEXEC) != 0) {
      throw ResourceExhaustedError("redis subscriber: cannot create a pipe");
    }
  }
  WakePipe(const WakePipe&) = delete;
  WakePipe& operator=(const WakePipe&) = delete;
  ~WakePipe() {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  int read_fd() const noexcept { return fds_[0]; }
  void wake() noexcept {
    const char byte = 1;
    [[maybe_unused]] const auto n = ::write(fds_[1], &byte, 1);  // full pipe: already awake
  }
  void drain() noexcept {
    char buffer[64];
    while (::read(fds_[0], buffer, sizeof buffer) > 0) {
    }
  }

 private:
  int fds_[2];
};

enum class Op { kSubscribe, kUnsubscribe, kPsubscribe, kPunsubscribe, kSsubscribe, kSunsubscribe };

std::string_view op_name(Op op) {
  switch (op) {
    case Op::kSubscribe:
      return "SUBSCRIBE";
    case Op::kUnsubscribe:
      return "UNSUBSCRIBE";
    case Op::kPsubscribe:
      return "PSUBSCRIBE";
    case Op::kPunsubscribe:
      return "PUNSUBSCRIBE";
    case Op::kSsubscribe:
      return "SSUBSCRIBE";
    case Op::kSunsubscribe:
      return "SUNSUBSCRIBE";
  }
  return "PING";
}

template <typename Callback, typename... Args>
void call_quietly(const Callback& callback, Args&&... args) noexcept {
  if (!callback) return;
  try {
    callback(std::forward<Args>(args)...);
  } catch (...) {  // a callback's exception must not end the subscriber thread
  }
}

}  // namespace

struct RedisSubscriber::State : std::enable_shared_from_this<RedisSubscriber::State> {
  State(RedisUrl u, SubscriberOptions o)
      : url(std::move(u)), options(std::move(o)), connect(redis::connect_options(url)) {
    if (options.keepalive_interval.count() <= 0) {
      throw InvalidArgumentError("redis subscriber: keepalive_interval must be positive");
    }
    if (url.sentinel) discovery = std::make_unique<redis::SentinelDiscovery>(url);
    if (!options.shard_channel.empty()) {
      hint_slot = shard_slot = url.cluster ? key_slot(options.shard_channel) : 0;
    }
  }

  const RedisUrl url;
  const SubscriberOptions options;
  const redis::ConnectOptions connect;
  std::unique_ptr<redis::SentinelDiscovery> discovery;  // sentinel URLs only
  std::atomic<bool> master_switched{false};             // set by the +switch-master watcher
  // Sentinel URLs: a subscriber on the sentinels for +switch-master, started by run() (so the
  // constructor never waits for it); stopped by stop() after the join, or with the state.
  std::unique_ptr<RedisSubscriber> switch_watch;
  WakePipe wake;

  mutable std::mutex mutex;
  mutable std::condition_variable changed;
  std::map<std::string, std::shared_ptr<const MessageCallback>, std::less<>> channels;
  std::map<std::string, std::shared_ptr<const PatternCallback>, std::less<>> patterns;
  std::map<std::string, std::shared_ptr<const MessageCallback>, std::less<>> shard_channels;
  std::set<std::string, std::less<>> confirmed_channels;
  std::set<std::string, std::less<>> confirmed_patterns;
  std::set<std::string, std::less<>> confirmed_shard_channels;
  int shard_slot = -1;       // the slot of every sharded channel (-1: none registered)
  int hint_slot = -1;        // SubscriberOptions::shard_channel's
  bool shard_moved = false;  // the server ended a sharded subscription: reconnect
  std::vector<std::pair<Op, std::string>> pending;
  bool connected = false;
  bool stopping = false;
  std::int64_t client_id = -1;
  std::uint64_t losses = 0;
  std::thread thread;
  std::atomic<std::thread::id> thread_id{};  // the subscriber thread's, set by run()

  bool stop_requested() const {
    std::lock_guard lock(mutex);
    return stopping;
  }

  void enqueue(Op op, std::string name) {
    {
      std::lock_guard lock(mutex);
      pending.emplace_back(op, std::move(name));
    }
    wake.wake();
  }

  bool wait_confirmed(const std::set<std::string, std::less<>>& confirmed, std::string_view name) {
    if (std::this_thread::get_id() == thread_id.load()) return false;  // from a callback
    const auto timeout = connect.command_timeout.count() > 0 ? connect.command_timeout
                                                             : std::chrono::milliseconds(1000);
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, timeout, [&] { return stopping || confirmed.contains(name); }) &&
           confirmed.contains(name);
  }

  void run() noexcept;
  void watch_switches();
  std::unique_ptr<redis::Connection> open(std::vector<RedisEndpoint>& candidates,
                                          std::size_t candidate, std::int64_t& client_id_out);
  void serve(redis::Connection& connection);
  void dispatch(RedisReply& reply);
};

std::unique_ptr<redis::Connection> RedisSubscriber::State::open(
    std::vector<RedisEndpoint>& candidates, std::size_t candidate, std::int64_t& client_id_out) {
  master_switched.store(false);  // whatever switched before, we now ask for the master
  int slot = -1;
  {
    std::lock_guard lock(mutex);
    shard_moved = false;
    slot = shard_slot;
  }
  const RedisEndpoint target =
      discovery ? discovery->discover() : candidates[candidate % candidates.size()];
  auto connection = redis::Connection::open(target, connect);
  if (url.cluster) {  // learn every node, so that we can move when this one dies
    static constexpr std::string_view kSlots[] = {"CLUSTER", "SLOTS"};
    const RedisReply slots = connection->command(kSlots);
    std::optional<RedisEndpoint> owner;  // of the sharded channels' slot
    for (const RedisReply& range : slots.elements) {
      for (std::size_t i = 2; i < range.elements.size(); ++i) {
        const RedisReply& node = range.elements[i];
        if (node.elements.size() < 2 || !node.elements[1].is_integer()) continue;
        RedisEndpoint endpoint{node.elements[0].str,
                               static_cast<std::uint16_t>(node.elements[1].integer)};
        if (endpoint.host.empty()) endpoint.host = target.host;
        if (i == 2 && slot >= 0 && range.elements.size() >= 2 && range.elements[0].is_integer() &&
            range.elements[1].is_integer() && range.elements[0].integer <= slot &&
            slot <= range.elements[1].integer) {
          owner = endpoint;
        }
        if (std::find(candidates.begin(), candidates.end(), endpoint) == candidates.end()) {
          candidates.push_back(std::move(endpoint));
        }
      }
    }
    if (slot >= 0) {
      if (!owner) {
        throw UnavailableError("redis " + connection->address() + ": no node serves slot " +
                               std::to_string(slot) + " (the sharded channels' slot)");
      }
      if (*owner != target) connection = redis::Connection::open(*owner, connect);
    }
  }
  static constexpr std::string_view kClientId[] = {"CLIENT", "ID"};
  const RedisReply id = connection->command(kClientId);
  if (!id.is_integer())
    throw ProtocolError("redis " + connection->address() + ": bad CLIENT ID reply");
  std::vector<std::string> channel_names, pattern_names, shard_names;
  {
    std::lock_guard lock(mutex);
    pending.clear();  // everything registered is subscribed below
    for (const auto& [name, callback] : channels) channel_names.push_back(name);
    for (const auto& [name, callback] : patterns) pattern_names.push_back(name);
    for (const auto& [name, callback] : shard_channels) shard_names.push_back(name);
  }
  auto send_all = [&](std::string_view command, const std::vector<std::string>& names) {
    if (names.empty()) return;
    std::vector<std::string_view> argv{command};
    argv.insert(argv.end(), names.begin(), names.end());
    connection->append(argv);
  };
  send_all("SUBSCRIBE", channel_names);
  send_all("PSUBSCRIBE", pattern_names);
  send_all("SSUBSCRIBE", shard_names);
  connection->flush();
  client_id_out = id.integer;
  return connection;
}

void RedisSubscriber::State::dispatch(RedisReply& reply) {
  if (!reply.is_array() || reply.elements.empty() || !reply.elements[0].is_string()) return;
  const std::string& kind = reply.elements[0].str;
  auto& e = reply.elements;
  if (kind == "message" && e.size() == 3) {
    std::shared_ptr<const MessageCallback> callback;
    {
      std::lock_guard lock(mutex);
      if (auto it = channels.find(e[1].str); it != channels.end()) callback = it->second;
    }
    if (callback) call_quietly(*callback, e[1].str, e[2].str);
  } else if (kind == "pmessage" && e.size() == 4) {
    std::shared_ptr<const PatternCallback> callback;
    {
      std::lock_guard lock(mutex);
      if (auto it = patterns.find(e[1].str); it != patterns.end()) callback = it->second;
    }
    if (callback) call_quietly(*callback, e[1].str, e[2].str, e[3].str);
  } else if (kind == "smessage" && e.size() == 3) {
    std::shared_ptr<const MessageCallback> callback;
    {
      std::lock_guard lock(mutex);
      if (auto it = shard_channels.find(e[1].str); it != shard_channels.end()) {
        callback = it->second;
      }
    }
    if (callback) call_quietly(*callback, e[1].str, e[2].str);
  } else if ((kind == "subscribe" || kind == "psubscribe" || kind == "ssubscribe") &&
             e.size() >= 2) {
    {
      std::lock_guard lock(mutex);
      if (kind == "subscribe" && channels.contains(e[1].str)) confirmed_channels.insert(e[1].str);
      if (kind == "psubscribe" && patterns.contains(e[1].str)) confirmed_patterns.insert(e[1].str);
      if (kind == "ssubscribe" && shard_channels.contains(e[1].str)) {
        confirmed_shard_channels.insert(e[1].str);
      }
    }
    changed.notify_all();
  } else if (kind == "sunsubscribe" && e.size() >= 2) {
    // For a channel still registered, the server ended the subscription: its slot moved.
    std::lock_guard lock(mutex);
    if (shard_channels.contains(e[1].str)) shard_moved = true;
  }
  // "unsubscribe", "punsubscribe", "pong": nothing to do.
}

void RedisSubscriber::State::serve(redis::Connection& connection) {
  using Clock = std::chrono::steady_clock;
  const auto keepalive = options.keepalive_interval;
  const auto dead_after =
      keepalive + std::max(connect.command_timeout, std::chrono::milliseconds(1000));
  auto last_activity = Clock::now();
  bool ping_outstanding = false;
  Clock::time_point ping_sent{};
  static constexpr std::string_view kPing[] = {"PING"};
  for (;;) {
    std::vector<std::pair<Op, std::string>> commands;
    {
      std::lock_guard lock(mutex);
      if (stopping) return;
      commands.swap(pending);
    }
    for (const auto& [op, name] : commands) {
      const std::string_view argv[] = {op_name(op), name};
      connection.append(argv);
    }
    const auto now = Clock::now();
    bool flush = !commands.empty();
    if (!ping_outstanding && now - last_activity >= keepalive) {
      connection.append(kPing);
      ping_outstanding = flush = true;
      ping_sent = now;
    }
    if (flush) connection.flush();
    if (ping_outstanding && now - ping_sent > dead_after) {
      throw UnavailableError("redis " + connection.address() + ": no answer to a keep-alive PING");
    }
    if (master_switched.load()) {
      throw UnavailableError("redis " + connection.address() +
                             ": the sentinels switched the master to another node");
    }
    const auto wait = std::min(kMaxPoll, keepalive);
    std::optional<RedisReply> reply = connection.read_reply_within(wait, wake.read_fd());
    wake.drain();
    while (reply) {
      last_activity = Clock::now();
      ping_outstanding = false;  // any data proves the connection is alive
      // SSUBSCRIBE refused by a node that no longer owns the slot: go to the one that does.
      if (reply->is_error() && (reply->str.starts_with("MOVED") || reply->str.starts_with("ASK") ||
                                reply->str.starts_with("CLUSTERDOWN"))) {
        throw UnavailableError("redis " + connection.address() + ": " + reply->str);
      }
      dispatch(*reply);
      reply = connection.read_reply_within(std::chrono::milliseconds(0));  // already buffered?
    }
    {
      std::lock_guard lock(mutex);
      if (shard_moved) {
        throw UnavailableError("redis " + connection.address() +
                               ": the sharded channels' slot moved to another node");
      }
    }
  }
}

void RedisSubscriber::State::watch_switches() {
  switch_watch = std::make_unique<RedisSubscriber>(discovery->sentinels_url());
  std::weak_ptr<State> weak = weak_from_this();
  (void)switch_watch->subscribe(
      redis::kSwitchMasterChannel, [weak](std::string_view, std::string_view message) {
        const auto state = weak.lock();
        if (!state || !redis::parse_switch_master(message, state->url.master_name)) return;
        state->master_switched.store(true);
        state->wake.wake();
      });
}

void RedisSubscriber::State::run() noexcept {
  thread_id.store(std::this_thread::get_id());
  if (discovery) {
    try {
      watch_switches();
    } catch (const std::exception&) {
      // No watcher (e.g. no thread or pipe could be made): failovers are still followed when
      // the old master drops the connection.
    }
  }
  std::vector<RedisEndpoint> candidates = url.nodes;
  std::size_t candidate = 0;
  int failures = 0;
  for (;;) {
    std::string reason;
    bool established = false;
    try {
      std::int64_t id = -1;
      auto connection = open(candidates, candidate, id);
      established = true;
      failures = 0;
      // The owner hears of the connection before anyone can see it as connected: a caller that
      // waits for connected() then finds the owner's reaction to it (a flush, a counter) done.
      call_quietly(options.on_connected, id);
      {
        std::lock_guard lock(mutex);
        connected = true;
        client_id = id;
      }
      changed.notify_all();
      serve(*connection);
    } catch (const std::exception& e) {
      reason = e.what();
    } catch (...) {
      reason = "unknown error";
    }
    {
      std::lock_guard lock(mutex);
      connected = false;
      client_id = -1;
      confirmed_channels.clear();
      confirmed_patterns.clear();
      confirmed_shard_channels.clear();
      if (established && !stopping) ++losses;
    }
    changed.notify_all();
    if (stop_requested()) return;
    if (established) call_quietly(options.on_connection_lost, std::string_view(reason));
    ++candidate;  // a cluster moves on to another node; a single server is tried again
    ++failures;
    const auto backoff =
        std::min(kMaxBackoff,
                 std::chrono::milliseconds(kFirstBackoff.count() << std::min(failures - 1, 10)));
    std::unique_lock lock(mutex);
    if (changed.wait_for(lock, backoff, [&] { return stopping; })) return;
  }
}

RedisSubscriber::RedisSubscriber(const RedisUrl& url, SubscriberOptions options)
    : state_(std::make_shared<State>(url, std::move(options))) {
  state_->thread = std::thread([state = state_] { state->run(); });
}

RedisSubscriber::RedisSubscriber(std::string_view url, SubscriberOptions options)
    : RedisSubscriber(parse_redis_url(url), std::move(options)) {}

RedisSubscriber::~RedisSubscriber() {
  stop();
}

void RedisSubscriber::stop() noexcept {
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
  }
  state_->changed.notify_all();
  state_->wake.wake();
  if (!state_->thread.joinable()) return;
  if (std::this_thread::get_id() == state_->thread.get_id()) {
    state_->thread.detach();  // stopped from a callback: the thread ends on its own
  } else {
    state_->thread.join();
    if (state_->switch_watch) state_->switch_watch->stop();  // set by the thread only
  }
}

bool RedisSubscriber::subscribe(std::string_view channel, MessageCallback callback) {
  {
    std::lock_guard lock(state_->mutex);
    state_->channels.insert_or_assign(std::string(channel),
                                      std::make_shared<const MessageCallback>(std::move(callback)));
    state_->confirmed_channels.erase(std::string(channel));
  }
  state_->enqueue(Op::kSubscribe, std::string(channel));
  return state_->wait_confirmed(state_->confirmed_channels, channel);
}

bool RedisSubscriber::ssubscribe(std::string_view channel, MessageCallback callback) {
  const int slot = state_->url.cluster ? key_slot(channel) : 0;
  {
    std::lock_guard lock(state_->mutex);
    if (state_->shard_slot >= 0 && state_->shard_slot != slot) {
      throw InvalidArgumentError("RedisSubscriber::ssubscribe: '" + std::string(channel) +
                                 "' is in slot " + std::to_string(slot) +
                                 ", the subscriber's other sharded channels in slot " +
                                 std::to_string(state_->shard_slot) +
                                 " (one connection, one node: give them a common {hash tag})");
    }
    state_->shard_slot = slot;
    state_->shard_channels.insert_or_assign(
        std::string(channel), std::make_shared<const MessageCallback>(std::move(callback)));
    state_->confirmed_shard_channels.erase(std::string(channel));
  }
  // Connected to another node than the slot's owner (no SubscriberOptions::shard_channel): the
  // node answers MOVED and the subscriber reconnects to the owner.
  state_->enqueue(Op::kSsubscribe, std::string(channel));
  return state_->wait_confirmed(state_->confirmed_shard_channels, channel);
}

void RedisSubscriber::sunsubscribe(std::string_view channel) {
  {
    std::lock_guard lock(state_->mutex);
    if (auto it = state_->shard_channels.find(channel); it != state_->shard_channels.end())
      state_->shard_channels.erase(it);
    if (auto it = state_->confirmed_shard_channels.find(channel);
        it != state_->confirmed_shard_channels.end()) {
      state_->confirmed_shard_channels.erase(it);
    }
    if (state_->shard_channels.empty()) state_->shard_slot = state_->hint_slot;
  }
  state_->enqueue(Op::kSunsubscribe, std::string(channel));
}

bool RedisSubscriber::psubscribe(std::string_view pattern, PatternCallback callback) {
  {
    std::lock_guard lock(state_->mutex);
    state_->patterns.insert_or_assign(std::string(pattern),
                                      std::make_shared<const PatternCallback>(std::move(callback)));
    state_->confirmed_patterns.erase(std::string(pattern));
  }
  state_->enqueue(Op::kPsubscribe, std::string(pattern));
  return state_->wait_confirmed(state_->confirmed_patterns, pattern);
}

void RedisSubscriber::unsubscribe(std::string_view channel) {
  {
    std::lock_guard lock(state_->mutex);
    if (auto it = state_->channels.find(channel); it != state_->channels.end())
      state_->channels.erase(it);
    if (auto it = state_->confirmed_channels.find(channel);
        it != state_->confirmed_channels.end()) {
      state_->confirmed_channels.erase(it);
    }
  }
  state_->enqueue(Op::kUnsubscribe, std::string(channel));
}

void RedisSubscriber::punsubscribe(std::string_view pattern) {
  {
    std::lock_guard lock(state_->mutex);
    if (auto it = state_->patterns.find(pattern); it != state_->patterns.end())
      state_->patterns.erase(it);
    if (auto it = state_->confirmed_patterns.find(pattern);
        it != state_->confirmed_patterns.end()) {
      state_->confirmed_patterns.erase(it);
    }
  }
  state_->enqueue(Op::kPunsubscribe, std::string(pattern));
}

bool RedisSubscriber::connected() const {
  std::lock_guard lock(state_->mutex);
  return state_->connected;
}

bool RedisSubscriber::wait_connected(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(state_->mutex);
  return state_->changed.wait_for(lock, timeout, [&] {
    return state_->connected || state_->stopping;
  }) && state_->connected;
}

std::int64_t RedisSubscriber::client_id() const {
  std::lock_guard lock(state_->mutex);
  return state_->client_id;
}

std::uint64_t RedisSubscriber::connection_losses() const {
  std::lock_guard lock(state_->mutex);
  return state_->losses;
}

}  // namespace strata
