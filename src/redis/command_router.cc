#include "redis/command_router.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>
#include <thread>

#include "redis/sentinel.h"
#include "strata/error.h"
#include "strata/redis/key_slot.h"

namespace strata::redis {
namespace {

constexpr std::string_view kAsking[] = {"ASKING"};
constexpr std::string_view kClusterSlotsCommand[] = {"CLUSTER", "SLOTS"};

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) ==
                  std::toupper(static_cast<unsigned char>(y));
         });
}

// Commands whose second argument is not a key: they go to any node.
constexpr std::string_view kKeyless[] = {
    "PING",      "ECHO",    "INFO",    "TIME",     "DBSIZE",  "PUBLISH", "SCRIPT",
    "CLUSTER",   "CLIENT",  "CONFIG",  "FLUSHALL", "FLUSHDB", "COMMAND", "SCAN",
    "RANDOMKEY", "KEYS",    "WAIT",    "LASTSAVE", "SAVE",    "BGSAVE",  "ACL",
    "FUNCTION",  "MEMORY",  "SLOWLOG", "LATENCY",  "DEBUG",   "ROLE",    "READONLY",
    "READWRITE", "HELLO",   "AUTH",    "SELECT",   "SWAPDB",  "PUBSUB",  "MULTI",
    "EXEC",      "DISCARD", "UNWATCH", "QUIT",     "RESET",   "LOLWUT"};

// Commands that only read: re-run after a connection failure only when they are one of these.
constexpr std::string_view kReadOnly[] = {
    "GET",    "MGET",     "EXISTS",     "TTL",        "PTTL",        "STRLEN",    "GETRANGE",
    "TYPE",   "HGET",     "HMGET",      "HGETALL",    "HEXISTS",     "HLEN",      "HKEYS",
    "HVALS",  "SMEMBERS", "SISMEMBER",  "SMISMEMBER", "SCARD",       "ZSCORE",    "ZCARD",
    "ZRANGE", "ZRANK",    "LRANGE",     "LLEN",       "LINDEX",      "SCAN",      "SSCAN",
    "HSCAN",  "ZSCAN",    "PING",       "ECHO",       "TIME",        "DBSIZE",    "INFO",
    "ROLE",   "EVAL_RO",  "EVALSHA_RO", "FCALL_RO",   "PEXPIRETIME", "EXPIRETIME"};

std::vector<Argv> argv_of(std::span<const RoutedCommand> commands) {
  std::vector<Argv> argvs;
  argvs.reserve(commands.size());
  for (const auto& command : commands) argvs.push_back(command.argv);
  return argvs;
}

bool is_readonly_reply(const RedisReply& reply) noexcept {
  return reply.is_error() && reply.str.starts_with("READONLY");
}

}  // namespace

bool is_read_only(std::span<const std::string_view> argv) noexcept {
  if (argv.empty()) return false;
  for (const auto name : kReadOnly) {
    if (iequals(argv[0], name)) return true;
  }
  return false;
}

struct CommandRouter::Redirect {
  enum class Kind { kNone, kMoved, kAsk, kTryAgain, kClusterDown };
  Kind kind = Kind::kNone;
  int slot = -1;
  RedisEndpoint endpoint;

  // Parses "MOVED 3999 127.0.0.1:6381", "ASK ...", "TRYAGAIN ...", "CLUSTERDOWN ...".
  static Redirect parse(std::string_view error, const NodePool& replier) {
    Redirect r;
    const bool moved = error.starts_with("MOVED ");
    if (moved || error.starts_with("ASK ")) {
      std::string_view rest = error.substr(moved ? 6 : 4);
      const auto space = rest.find(' ');
      if (space == std::string_view::npos) return r;
      const auto slot_text = rest.substr(0, space);
      const auto address = rest.substr(space + 1);
      const auto colon = address.rfind(':');
      int slot = -1;
      std::uint16_t port = 0;
      if (colon == std::string_view::npos ||
          std::from_chars(slot_text.data(), slot_text.data() + slot_text.size(), slot).ec !=
              std::errc{} ||
          std::from_chars(address.data() + colon + 1, address.data() + address.size(), port).ec !=
              std::errc{} ||
          slot < 0 || slot >= kClusterSlots) {
        throw ProtocolError("redis " + replier.address() + ": malformed redirection '" +
                            std::string(error) + "'");
      }
      r.kind = moved ? Kind::kMoved : Kind::kAsk;
      r.slot = slot;
      r.endpoint.host = std::string(address.substr(0, colon));
      if (r.endpoint.host.empty()) r.endpoint.host = replier.endpoint().host;  // "MOVED 1 :7000"
      r.endpoint.port = port;
    } else if (error.starts_with("TRYAGAIN")) {
      r.kind = Kind::kTryAgain;
    } else if (error.starts_with("CLUSTERDOWN")) {
      r.kind = Kind::kClusterDown;
    }
    return r;
  }
};

CommandRouter::CommandRouter(RedisUrl url)
    : url_(std::move(url)),
      options_(std::make_shared<const ConnectOptions>(connect_options(url_))) {
  if (url_.nodes.empty()) throw InvalidArgumentError("redis url: missing host");
  if (url_.cluster) {
    slot_owner_.assign(kClusterSlots, nullptr);
  } else if (url_.sentinel) {
    discovery_ = std::make_unique<SentinelDiscovery>(url_);  // no I/O until the first call
  } else {
    standalone_ = pool_for(url_.nodes.front());
  }
}

CommandRouter::~CommandRouter() {
  if (switch_watch_) switch_watch_->stop();  // no callback into a router being destroyed
}

NodePool* CommandRouter::master() {
  if (NodePool* node = master_.load(std::memory_order_acquire)) return node;
  rediscover(nullptr);
  return master_.load(std::memory_order_acquire);
}

void CommandRouter::watch_switches() {
  // Hears failovers at once; a lost or late message is covered by rediscover() on errors. The
  // SUBSCRIBE is confirmed within the command timeout (at most: when no sentinel answers, the
  // discovery that follows fails too).
  switch_watch_ = std::make_unique<RedisSubscriber>(discovery_->sentinels_url());
  (void)switch_watch_->subscribe(
      kSwitchMasterChannel, [this](std::string_view, std::string_view message) {
        if (const auto endpoint = parse_switch_master(message, url_.master_name)) {
          std::lock_guard lock(discover_mutex_);
          switch_master(pool_for(*endpoint));
        }
      });
}

void CommandRouter::rediscover(NodePool* suspect) {
  std::lock_guard lock(discover_mutex_);
  if (!switch_watch_) watch_switches();  // the first call: before the first discovery
  NodePool* current = master_.load(std::memory_order_acquire);
  if (current != suspect) return;  // someone else already moved on (or found the first master)
  const auto now = std::chrono::steady_clock::now();
  if (current != nullptr && now - last_discovery_ < kRefreshInterval) return;
  last_discovery_ = now;
  switch_master(pool_for(discovery_->discover()));
}

void CommandRouter::switch_master(NodePool* next) {
  NodePool* previous = master_.exchange(next, std::memory_order_acq_rel);
  if (previous == next) return;
  // The old master's idle connections lead to a replica (or a dead node): drop them.
  if (previous != nullptr) previous->on_io_error();
}

bool CommandRouter::retired(const NodePool& node) const noexcept {
  if (!url_.sentinel) return false;
  const NodePool* current = master_.load(std::memory_order_acquire);
  return current != nullptr && current != &node;
}

int CommandRouter::slot_of(std::string_view key) const noexcept {
  return url_.cluster ? key_slot(key) : kAnySlot;
}

int CommandRouter::slot_of_command(std::span<const std::string_view> argv) const {
  if (!url_.cluster || argv.size() < 2) return kAnySlot;
  const std::string_view name = argv[0];
  if (iequals(name, "EVAL") || iequals(name, "EVALSHA") || iequals(name, "EVAL_RO") ||
      iequals(name, "EVALSHA_RO") || iequals(name, "FCALL") || iequals(name, "FCALL_RO")) {
    if (argv.size() < 4 || argv[2] == "0") return kAnySlot;
    return key_slot(argv[3]);
  }
  for (const auto keyless : kKeyless) {
    if (iequals(name, keyless)) return kAnySlot;
  }
  return key_slot(argv[1]);
}

NodePool* CommandRouter::pool_for(const RedisEndpoint& endpoint) {
  std::string address = to_address(endpoint);
  std::lock_guard lock(nodes_mutex_);
  auto& pool = nodes_[address];
  if (!pool) {
    pool = std::make_unique<NodePool>(endpoint, options_, url_.pool_size);
    if (hook_) pool->set_hook(hook_);
  }
  return pool.get();
}

void CommandRouter::set_connection_hook(std::shared_ptr<ConnectionHook> hook) {
  std::lock_guard lock(nodes_mutex_);
  if (hook && hook_ && hook_ != hook) {
    throw InvalidArgumentError("redis " + url_.redacted() +
                               ": this client already has a connection setup hook (one "
                               "tracking cache per RedisClient)");
  }
  hook_ = std::move(hook);
  for (auto& [address, pool] : nodes_) pool->set_hook(hook_);
}

void CommandRouter::clear_connection_hook(const ConnectionHook* hook) noexcept {
  std::lock_guard lock(nodes_mutex_);
  if (hook_.get() != hook) return;
  hook_.reset();
  for (auto& [address, pool] : nodes_) pool->set_hook(nullptr);
}

void CommandRouter::backoff(int attempt) const {
  const auto delay = std::min(std::chrono::milliseconds(200),
                              std::chrono::milliseconds(10) * (1 << std::min(attempt - 1, 8)));
  std::this_thread::sleep_for(delay);
}

RedisReply CommandRouter::run_on(NodePool& node, std::span<const std::string_view> argv) {
  for (int attempt = 0;; ++attempt) {
    try {
      return node.command(argv);
    } catch (const UnavailableError&) {
      node.on_io_error();
      if (attempt >= url_.retries) throw;
    }
    backoff(attempt + 1);
  }
}

RedisReply CommandRouter::run_standalone(std::span<const std::string_view> argv) {
  if (url_.sentinel) return run_sentinel(argv);
  return run_on(*standalone_, argv);
}

RedisReply CommandRouter::run_sentinel(std::span<const std::string_view> argv) {
  const bool read_only = is_read_only(argv);
  for (int attempt = 0;; ++attempt) {
    NodePool* node = master();
    bool sent = false;
    std::string refused;  // READONLY: a demoted master refused the command (it did not run)
    try {
      const Argv commands[] = {argv};
      auto exchange = node->send(commands);
      sent = true;
      RedisReply reply = std::move(exchange.replies().front());
      if (!is_readonly_reply(reply)) return reply;
      refused = std::move(reply.str);
    } catch (const UnavailableError& e) {
      node->on_io_error();
      if (sent && !read_only) {
        throw UnavailableError(std::string(e.what()) + " (" + std::string(argv[0]) +
                               " was sent and may or may not have run: not retried)");
      }
      if (attempt >= url_.retries) throw;
    }
    // Thrown outside the handler above: a refused command is not "sent and may have run".
    if (!refused.empty() && attempt >= url_.retries) {
      throw UnavailableError("redis sentinel " + url_.redacted() + ": " + node->address() +
                             " is a replica now (" + refused +
                             ") and no new master was found in time");
    }
    try {
      rediscover(node);
    } catch (const Error&) {
      // No sentinel answered: the next attempt fails on the old node and says why.
    }
    backoff(attempt + 1);
  }
}

NodePool* CommandRouter::node_for_slot(int slot) {
  for (int pass = 0; pass < 2; ++pass) {
    {
      std::shared_lock lock(slots_mutex_);
      if (!masters_.empty()) {
        if (slot == kAnySlot) {
          return masters_[any_node_.fetch_add(1, std::memory_order_relaxed) % masters_.size()];
        }
        if (NodePool* node = slot_owner_[static_cast<std::size_t>(slot)]) return node;
      }
    }
    if (pass == 0) refresh_slots();
  }
  throw UnavailableError("redis cluster " + url_.redacted() + ": slot " + std::to_string(slot) +
                         " is not served by any master");
}

void CommandRouter::patch_slot(int slot, NodePool* node) {
  std::unique_lock lock(slots_mutex_);
  slot_owner_[static_cast<std::size_t>(slot)] = node;
  if (std::find(masters_.begin(), masters_.end(), node) == masters_.end()) masters_.push_back(node);
}

void CommandRouter::refresh_slots() {
  std::lock_guard refresh_lock(refresh_mutex_);
  const auto now = std::chrono::steady_clock::now();
  std::vector<NodePool*> candidates;
  {
    std::shared_lock lock(slots_mutex_);
    if (!masters_.empty() && now - last_refresh_ < kRefreshInterval) return;
    candidates = masters_;
  }
  for (const auto& seed : url_.nodes) {
    NodePool* node = pool_for(seed);
    if (std::find(candidates.begin(), candidates.end(), node) == candidates.end()) {
      candidates.push_back(node);
    }
  }
  last_refresh_ = now;
  std::string errors;
  for (NodePool* candidate : candidates) {
    try {
      RedisReply reply;
      try {
        reply = candidate->command(kClusterSlotsCommand);
      } catch (const UnavailableError&) {
        candidate->on_io_error();
        throw;
      }
      if (reply.is_error()) throw ReplyError(candidate->address() + ": " + reply.str);
      if (!reply.is_array() || reply.elements.empty()) {
        throw ProtocolError(candidate->address() + ": CLUSTER SLOTS gave no slots");
      }
      std::vector<NodePool*> owner(kClusterSlots, nullptr);
      std::vector<NodePool*> masters;
      for (const RedisReply& range : reply.elements) {
        if (!range.is_array() || range.elements.size() < 3 || !range.elements[0].is_integer() ||
            !range.elements[1].is_integer() || !range.elements[2].is_array() ||
            range.elements[2].elements.size() < 2 || !range.elements[2].elements[1].is_integer()) {
          throw ProtocolError(candidate->address() + ": malformed CLUSTER SLOTS reply");
        }
        const long long first = range.elements[0].integer;
        const long long last = range.elements[1].integer;
        if (first < 0 || last >= kClusterSlots || first > last) {
          throw ProtocolError(candidate->address() + ": bad slot range in CLUSTER SLOTS");
        }
        RedisEndpoint endpoint;
        endpoint.host = range.elements[2].elements[0].str;
        if (endpoint.host.empty() || endpoint.host == "?")
          endpoint.host = candidate->endpoint().host;
        endpoint.port = static_cast<std::uint16_t>(range.elements[2].elements[1].integer);
        NodePool* node = pool_for(endpoint);
        if (std::find(masters.begin(), masters.end(), node) == masters.end())
          masters.push_back(node);
        std::fill(owner.begin() + first, owner.begin() + last + 1, node);
      }
      std::unique_lock lock(slots_mutex_);
      slot_owner_.swap(owner);
      masters_.swap(masters);
      return;
    } catch (const Error& e) {
      errors += errors.empty() ? "" : "; ";
      errors += e.what();
    }
  }
  std::shared_lock lock(slots_mutex_);
  if (masters_.empty()) {
    throw UnavailableError("redis cluster " + url_.redacted() +
                           ": no node answered CLUSTER SLOTS (" + errors + ")");
  }
  // Otherwise keep the map we have; the next failure will try again.
}

RedisReply CommandRouter::run(std::span<const std::string_view> argv, int slot) {
  if (!url_.cluster) return run_standalone(argv);
  int failures = 0;
  int redirects = 0;
  NodePool* ask_node = nullptr;
  for (;;) {
    NodePool* node = ask_node != nullptr ? ask_node : node_for_slot(slot);
    const bool asking = ask_node != nullptr;
    ask_node = nullptr;
    RedisReply reply;
    try {
      if (asking) {  // ASKING and the command back to back on one connection
        const Argv commands[] = {kAsking, argv};
        reply = std::move(node->send(commands).replies()[1]);
      } else {
        reply = node->command(argv);
      }
    } catch (const UnavailableError&) {
      node->on_io_error();
      if (++failures > url_.retries) throw;
      backoff(failures);
      try {
        refresh_slots();  // the node may have failed over
      } catch (const Error&) {
      }
      continue;
    }
    if (!reply.is_error()) return reply;
    const Redirect redirect = Redirect::parse(reply.str, *node);
    if (redirect.kind == Redirect::Kind::kNone) return reply;
    if (++redirects > kMaxRedirects) {
      throw UnavailableError("redis cluster: gave up after " + std::to_string(kMaxRedirects) +
                             " redirections; last reply: " + reply.str);
    }
    switch (redirect.kind) {
      case Redirect::Kind::kMoved:
        patch_slot(redirect.slot, pool_for(redirect.endpoint));
        break;
      case Redirect::Kind::kAsk:
        ask_node = pool_for(redirect.endpoint);
        break;
      case Redirect::Kind::kClusterDown:
        backoff(redirects);
        try {
          refresh_slots();
        } catch (const Error&) {
        }
        break;
      default:  // kTryAgain
        backoff(redirects);
        break;
    }
  }
}

std::vector<RedisReply> CommandRouter::run_batch(std::span<const RoutedCommand> commands) {
  std::vector<RedisReply> replies(commands.size());
  if (commands.empty()) return replies;
  if (url_.sentinel) return run_batch_sentinel(commands);
  if (!url_.cluster) {
    const std::vector<Argv> argvs = argv_of(commands);
    for (int attempt = 0;; ++attempt) {
      try {
        return standalone_->send(argvs).replies();
      } catch (const UnavailableError&) {
        standalone_->on_io_error();
        if (attempt >= url_.retries) throw;
      }
      backoff(attempt + 1);
    }
  }

  struct Group {
    NodePool* node;
    std::vector<std::size_t> items;
    std::optional<NodePool::Exchange> exchange;
    bool read = false;
    bool failed = false;
  };
  std::vector<Group> groups;
  std::vector<NodePool*> owners(commands.size(), nullptr);
  {  // resolve every slot under one shared lock; the rare misses go through node_for_slot
    (void)node_for_slot(kAnySlot);  // loads the slot map if needed
    std::shared_lock lock(slots_mutex_);
    for (std::size_t i = 0; i < commands.size(); ++i) {
      if (commands[i].slot != kAnySlot)
        owners[i] = slot_owner_[static_cast<std::size_t>(commands[i].slot)];
    }
  }
  for (std::size_t i = 0; i < commands.size(); ++i) {
    NodePool* node = owners[i] != nullptr ? owners[i] : node_for_slot(commands[i].slot);
    auto group =
        std::find_if(groups.begin(), groups.end(), [&](const Group& g) { return g.node == node; });
    if (group == groups.end()) {
      groups.push_back(Group{node, {}, std::nullopt, false, false});
      group = std::prev(groups.end());
      group->items.reserve(commands.size());
    }
    group->items.push_back(i);
  }
  // Connections are taken in one global order (by address of the pool) so that two threads
  // batching over the same nodes never wait on each other's connections in a cycle.
  std::sort(groups.begin(), groups.end(),
            [](const Group& a, const Group& b) { return std::less<NodePool*>{}(a.node, b.node); });
  bool failed = false;
  for (auto& group : groups) {  // write every node's pipeline before reading any
    try {
      std::vector<Argv> argvs;
      argvs.reserve(group.items.size());
      for (const std::size_t i : group.items) argvs.push_back(commands[i].argv);
      group.exchange.emplace(group.node->send(argvs));
    } catch (const UnavailableError&) {
      group.failed = failed = true;
      group.node->on_io_error();
    }
  }
  for (auto& group : groups) {
    if (group.failed) continue;
    try {
      std::vector<RedisReply> got = group.exchange->replies();
      for (std::size_t k = 0; k < group.items.size(); ++k) {
        replies[group.items[k]] = std::move(got[k]);
      }
      group.read = true;
    } catch (const UnavailableError&) {
      group.failed = failed = true;
      group.node->on_io_error();
    }
  }
  std::vector<std::size_t> redo;
  for (auto& group : groups) {
    group.exchange.reset();  // give connections back before re-running anything
    if (!group.read) {
      redo.insert(redo.end(), group.items.begin(), group.items.end());
      continue;
    }
    for (std::size_t k = 0; k < group.items.size(); ++k) {
      const std::size_t i = group.items[k];
      if (!replies[i].is_error()) continue;
      const Redirect redirect = Redirect::parse(replies[i].str, *group.node);
      if (redirect.kind == Redirect::Kind::kNone) continue;
      if (redirect.kind == Redirect::Kind::kMoved)
        patch_slot(redirect.slot, pool_for(redirect.endpoint));
      redo.push_back(i);
    }
  }
  if (failed) {
    try {
      refresh_slots();
    } catch (const Error&) {
    }
  }
  std::sort(redo.begin(), redo.end());
  for (const std::size_t i : redo) replies[i] = run(commands[i].argv, commands[i].slot);
  return replies;
}

std::vector<RedisReply> CommandRouter::run_batch_sentinel(std::span<const RoutedCommand> commands) {
  std::vector<RedisReply> replies(commands.size());
  const std::vector<Argv> argvs = argv_of(commands);
  const bool read_only = std::all_of(commands.begin(), commands.end(),
                                     [](const RoutedCommand& c) { return is_read_only(c.argv); });
  for (int attempt = 0;; ++attempt) {
    NodePool* node = master();
    bool sent = false;
    try {
      auto exchange = node->send(argvs);
      sent = true;
      replies = exchange.replies();
    } catch (const UnavailableError& e) {
      node->on_io_error();
      if (sent && !read_only) {
        throw UnavailableError(std::string(e.what()) +
                               " (a pipeline with writes was sent and may have run in part: "
                               "not retried)");
      }
      if (attempt >= url_.retries) throw;
      try {
        rediscover(node);
      } catch (const Error&) {
      }
      backoff(attempt + 1);
      continue;
    }
    // Commands refused by a demoted master did not run: re-run them one by one on the master
    // the sentinels name now (run_sentinel's own retries and rules apply to each).
    bool demoted = false;
    for (std::size_t i = 0; i < commands.size(); ++i) {
      if (!is_readonly_reply(replies[i])) continue;
      if (!demoted) {
        demoted = true;
        try {
          rediscover(node);
        } catch (const Error&) {
        }
      }
      replies[i] = run_sentinel(commands[i].argv);
    }
    return replies;
  }
}

std::vector<NodePool*> CommandRouter::masters() {
  if (url_.sentinel) return {master()};
  if (!url_.cluster) return {standalone_};
  (void)node_for_slot(kAnySlot);  // loads the slot map if needed
  std::shared_lock lock(slots_mutex_);
  return masters_;
}

}  // namespace strata::redis
