#include "strata/redis/redis_client.h"

#include <algorithm>
#include <charconv>
#include <numeric>

#include "redis/command_router.h"
#include "strata/error.h"
#include "strata/redis/key_slot.h"

namespace strata {
namespace {

using redis::CommandRouter;
using redis::kAnySlot;
using redis::RoutedCommand;

// A number as text, on the stack.
class Digits {
 public:
  explicit Digits(long long value) {
    size_ = static_cast<std::size_t>(std::to_chars(buffer_, buffer_ + sizeof buffer_, value).ptr -
                                     buffer_);
  }
  explicit Digits(double value) {
    size_ = static_cast<std::size_t>(std::to_chars(buffer_, buffer_ + sizeof buffer_, value).ptr -
                                     buffer_);
  }
  [[nodiscard]] std::string_view view() const noexcept { return {buffer_, size_}; }

 private:
  char buffer_[40];
  std::size_t size_;
};

[[noreturn]] void unexpected(std::string_view command, const RedisReply& reply) {
  if (reply.is_error()) throw ReplyError("redis " + std::string(command) + ": " + reply.str);
  throw ProtocolError("redis " + std::string(command) + ": unexpected " + to_string(reply.type) +
                      " reply");
}

RedisReply checked(RedisReply reply, std::string_view command) {
  if (reply.is_error()) unexpected(command, reply);
  return reply;
}

long long as_integer(const RedisReply& reply, std::string_view command) {
  if (!reply.is_integer()) unexpected(command, reply);
  return reply.integer;
}

std::optional<std::string> as_optional_string(RedisReply&& reply, std::string_view command) {
  if (reply.is_string()) return std::move(reply.str);
  if (reply.is_nil()) return std::nullopt;
  unexpected(command, reply);
}

std::vector<std::string> as_strings(RedisReply&& reply, std::string_view command) {
  if (!reply.is_array()) unexpected(command, reply);
  std::vector<std::string> out;
  out.reserve(reply.elements.size());
  for (auto& element : reply.elements) {
    if (!element.is_string()) unexpected(command, element);
    out.push_back(std::move(element.str));
  }
  return out;
}

double parse_score(const RedisReply& reply, std::string_view command) {
  double score = 0;
  if (!reply.is_string()) unexpected(command, reply);
  const char* begin = reply.str.data();
  const char* end = begin + reply.str.size();
  if (begin != end && *begin == '+') ++begin;  // "+inf"
  const auto [ptr, ec] = std::from_chars(begin, end, score);
  if (ec != std::errc{} || ptr != end) {
    throw ProtocolError("redis " + std::string(command) + ": bad score '" + reply.str + "'");
  }
  return score;
}

std::vector<ScoredMember> as_scored(RedisReply&& reply, std::string_view command) {
  if (!reply.is_array() || reply.elements.size() % 2 != 0) unexpected(command, reply);
  std::vector<ScoredMember> out;
  out.reserve(reply.elements.size() / 2);
  for (std::size_t i = 0; i < reply.elements.size(); i += 2) {
    if (!reply.elements[i].is_string()) unexpected(command, reply.elements[i]);
    out.emplace_back(std::move(reply.elements[i].str), parse_score(reply.elements[i + 1], command));
  }
  return out;
}

std::vector<std::string_view> views(std::span<const std::string> strings) {
  return {strings.begin(), strings.end()};
}

// Runs `name key1 [value1] key2 [value2] ...` as one command (standalone), or as one command
// per slot, pipelined per node (cluster). Calls on_reply(reply, indices) for each command sent,
// with the indices (into keys) of the keys it carried, in order.
// `single_name` replaces `name` for a slot that holds one key (GET rather than a one-key MGET,
// whose reply would need an array).
template <typename OnReply>
void run_per_slot(CommandRouter& router, std::string_view name,
                  std::span<const std::string_view> keys, std::span<const std::string_view> values,
                  OnReply&& on_reply, std::string_view single_name = {}) {
  const bool with_values = !values.empty();
  std::vector<std::size_t> order(keys.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::vector<std::string_view> args;
  args.reserve(1 + keys.size() * (with_values ? 2 : 1));
  if (!router.cluster()) {
    args.push_back(name);
    for (std::size_t i = 0; i < keys.size(); ++i) {
      args.push_back(keys[i]);
      if (with_values) args.push_back(values[i]);
    }
    on_reply(router.run(args, kAnySlot), std::span<const std::size_t>(order));
    return;
  }
  std::vector<int> slots(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) slots[i] = key_slot(keys[i]);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return slots[a] < slots[b]; });
  struct Run {
    std::size_t first_arg, arg_count, first_key, key_count;
    int slot;
  };
  std::vector<Run> runs;
  runs.reserve(keys.size());
  args.reserve(keys.size() * (with_values ? 3 : 2));
  for (std::size_t k = 0; k < order.size();) {
    const int slot = slots[order[k]];
    Run run{args.size(), 0, k, 0, slot};
    args.push_back(name);
    for (; k < order.size() && slots[order[k]] == slot; ++k) {
      args.push_back(keys[order[k]]);
      if (with_values) args.push_back(values[order[k]]);
      ++run.key_count;
    }
    if (run.key_count == 1 && !single_name.empty()) args[run.first_arg] = single_name;
    run.arg_count = args.size() - run.first_arg;
    runs.push_back(run);
  }
  std::vector<RoutedCommand> commands;
  commands.reserve(runs.size());
  const std::span<const std::string_view> all(args);
  for (const Run& run : runs)
    commands.push_back({all.subspan(run.first_arg, run.arg_count), run.slot});
  std::vector<RedisReply> replies = router.run_batch(commands);
  for (std::size_t r = 0; r < runs.size(); ++r) {
    on_reply(std::move(replies[r]),
             std::span<const std::size_t>(order).subspan(runs[r].first_key, runs[r].key_count));
  }
}

}  // namespace

// --- Pipeline ------------------------------------------------------------------------------

Pipeline::Pipeline(std::shared_ptr<redis::CommandRouter> router) : router_(std::move(router)) {}

Pipeline& Pipeline::add(std::span<const std::string_view> args) {
  if (args.empty()) throw InvalidArgumentError("redis pipeline: a command needs a name");
  for (const auto arg : args) {
    bytes_.append(arg);
    arg_ends_.push_back(bytes_.size());
  }
  command_ends_.push_back(arg_ends_.size());
  return *this;
}

Pipeline& Pipeline::add(std::initializer_list<std::string_view> args) {
  return add(std::span<const std::string_view>(args.begin(), args.size()));
}

std::vector<RedisReply> Pipeline::execute() {
  std::vector<std::string_view> args;
  args.reserve(arg_ends_.size());
  std::size_t start = 0;
  for (const std::size_t end : arg_ends_) {
    args.emplace_back(bytes_.data() + start, end - start);
    start = end;
  }
  std::vector<RoutedCommand> commands;
  commands.reserve(command_ends_.size());
  const std::span<const std::string_view> all(args);
  std::size_t first = 0;
  for (const std::size_t end : command_ends_) {
    const auto argv = all.subspan(first, end - first);
    commands.push_back({argv, router_->slot_of_command(argv)});
    first = end;
  }
  std::vector<RedisReply> replies = router_->run_batch(commands);
  bytes_.clear();
  arg_ends_.clear();
  command_ends_.clear();
  return replies;
}

// --- RedisClient ---------------------------------------------------------------------------

RedisClient::RedisClient(const RedisUrl& url) : router_(std::make_shared<CommandRouter>(url)) {}

RedisClient::RedisClient(std::string_view url) : RedisClient(parse_redis_url(url)) {}

bool RedisClient::is_cluster() const noexcept {
  return router_->cluster();
}

std::string RedisClient::description() const {
  return router_->url().redacted();
}

void RedisClient::ping() {
  static constexpr std::string_view kPing[] = {"PING"};
  for (redis::NodePool* node : router_->masters())
    (void)checked(router_->run_on(*node, kPing), "PING");
}

std::optional<std::string> RedisClient::get(std::string_view key) {
  const std::string_view argv[] = {"GET", key};
  return as_optional_string(router_->run(argv, router_->slot_of(key)), "GET");
}

bool RedisClient::set(std::string_view key, std::string_view value, const SetOptions& options) {
  if (options.ttl.count() < 0) throw InvalidArgumentError("redis SET: negative ttl");
  std::string_view argv[6] = {"SET", key, value};
  std::size_t argc = 3;
  const bool whole_seconds = options.ttl.count() % 1000 == 0;
  const Digits ttl(
      static_cast<long long>(whole_seconds ? options.ttl.count() / 1000 : options.ttl.count()));
  if (options.ttl.count() > 0) {
    argv[argc++] = whole_seconds ? "EX" : "PX";
    argv[argc++] = ttl.view();
  }
  if (options.condition == SetOptions::Condition::kIfAbsent) argv[argc++] = "NX";
  if (options.condition == SetOptions::Condition::kIfPresent) argv[argc++] = "XX";
  const RedisReply reply = router_->run(std::span(argv, argc), router_->slot_of(key));
  if (reply.is_status()) return true;
  if (reply.is_nil()) return false;
  unexpected("SET", reply);
}

std::vector<std::optional<std::string>> RedisClient::mget(std::span<const std::string_view> keys) {
  std::vector<std::optional<std::string>> values(keys.size());
  if (keys.empty()) return values;
  if (!router_->cluster()) {  // the hot path: one MGET, no reordering
    std::vector<std::string_view> argv;
    argv.reserve(keys.size() + 1);
    argv.push_back("MGET");
    argv.insert(argv.end(), keys.begin(), keys.end());
    RedisReply reply = router_->run(argv, kAnySlot);
    if (!reply.is_array() || reply.elements.size() != keys.size()) unexpected("MGET", reply);
    for (std::size_t i = 0; i < keys.size(); ++i) {
      values[i] = as_optional_string(std::move(reply.elements[i]), "MGET");
    }
    return values;
  }
  run_per_slot(
      *router_, "MGET", keys, {},
      [&](RedisReply&& reply, std::span<const std::size_t> indices) {
        if (indices.size() == 1 && !reply.is_array()) {  // sent as GET
          // MGET answers nil for a key of another type, where GET answers WRONGTYPE.
          if (reply.is_error() && reply.str.starts_with("WRONGTYPE")) return;
          values[indices[0]] = as_optional_string(std::move(reply), "MGET");
          return;
        }
        if (!reply.is_array() || reply.elements.size() != indices.size()) unexpected("MGET", reply);
        for (std::size_t i = 0; i < indices.size(); ++i) {
          values[indices[i]] = as_optional_string(std::move(reply.elements[i]), "MGET");
        }
      },
      "GET");
  return values;
}

std::vector<std::optional<std::string>> RedisClient::mget(std::span<const std::string> keys) {
  return mget(views(keys));
}

std::vector<std::optional<std::string>> RedisClient::mget(
    std::initializer_list<std::string_view> keys) {
  return mget(std::span<const std::string_view>(keys.begin(), keys.size()));
}

void RedisClient::mset(std::span<const KeyValueView> items) {
  if (items.empty()) return;
  std::vector<std::string_view> keys, values;
  keys.reserve(items.size());
  values.reserve(items.size());
  for (const auto& [key, value] : items) {
    keys.push_back(key);
    values.push_back(value);
  }
  run_per_slot(*router_, "MSET", keys, values,
               [](RedisReply&& reply, std::span<const std::size_t>) {
                 if (!reply.is_status()) unexpected("MSET", reply);
               });
}

void RedisClient::mset(std::initializer_list<KeyValueView> items) {
  mset(std::span<const KeyValueView>(items.begin(), items.size()));
}

void RedisClient::set_many(std::span<const KeyValueView> items, std::chrono::milliseconds ttl) {
  if (items.empty()) return;
  if (ttl.count() < 0) throw InvalidArgumentError("redis set_many: negative ttl");
  const Digits ttl_text(static_cast<long long>(ttl.count()));
  const std::size_t per = ttl.count() > 0 ? 5 : 3;
  std::vector<std::string_view> args;
  args.reserve(items.size() * per);
  for (const auto& [key, value] : items) {
    args.insert(args.end(), {"SET", key, value});
    if (per == 5) args.insert(args.end(), {"PX", ttl_text.view()});
  }
  std::vector<RoutedCommand> commands;
  commands.reserve(items.size());
  const std::span<const std::string_view> all(args);
  for (std::size_t i = 0; i < items.size(); ++i) {
    commands.push_back({all.subspan(i * per, per), router_->slot_of(items[i].first)});
  }
  const auto replies = router_->run_batch(commands);
  for (const auto& reply : replies) {
    if (!reply.is_status()) unexpected("SET", reply);
  }
}

long long RedisClient::incrby(std::string_view key, long long delta) {
  const Digits d(delta);
  const std::string_view argv[] = {"INCRBY", key, d.view()};
  return as_integer(router_->run(argv, router_->slot_of(key)), "INCRBY");
}

long long RedisClient::decrby(std::string_view key, long long delta) {
  const Digits d(delta);
  const std::string_view argv[] = {"DECRBY", key, d.view()};
  return as_integer(router_->run(argv, router_->slot_of(key)), "DECRBY");
}

long long RedisClient::del(std::string_view key) {
  const std::string_view argv[] = {"DEL", key};
  return as_integer(router_->run(argv, router_->slot_of(key)), "DEL");
}

long long RedisClient::del(std::span<const std::string_view> keys) {
  long long removed = 0;
  if (keys.empty()) return 0;
  run_per_slot(*router_, "DEL", keys, {}, [&](RedisReply&& reply, std::span<const std::size_t>) {
    removed += as_integer(reply, "DEL");
  });
  return removed;
}

long long RedisClient::del(std::span<const std::string> keys) {
  return del(views(keys));
}

long long RedisClient::del(std::initializer_list<std::string_view> keys) {
  return del(std::span<const std::string_view>(keys.begin(), keys.size()));
}

bool RedisClient::exists(std::string_view key) {
  const std::string_view argv[] = {"EXISTS", key};
  return as_integer(router_->run(argv, router_->slot_of(key)), "EXISTS") > 0;
}

long long RedisClient::exists(std::span<const std::string_view> keys) {
  long long found = 0;
  if (keys.empty()) return 0;
  run_per_slot(*router_, "EXISTS", keys, {}, [&](RedisReply&& reply, std::span<const std::size_t>) {
    found += as_integer(reply, "EXISTS");
  });
  return found;
}

long long RedisClient::exists(std::initializer_list<std::string_view> keys) {
  return exists(std::span<const std::string_view>(keys.begin(), keys.size()));
}

bool RedisClient::expire(std::string_view key, std::chrono::seconds ttl) {
  const Digits d(static_cast<long long>(ttl.count()));
  const std::string_view argv[] = {"EXPIRE", key, d.view()};
  return as_integer(router_->run(argv, router_->slot_of(key)), "EXPIRE") == 1;
}

bool RedisClient::pexpire(std::string_view key, std::chrono::milliseconds ttl) {
  const Digits d(static_cast<long long>(ttl.count()));
  const std::string_view argv[] = {"PEXPIRE", key, d.view()};
  return as_integer(router_->run(argv, router_->slot_of(key)), "PEXPIRE") == 1;
}

std::chrono::seconds RedisClient::ttl(std::string_view key) {
  const std::string_view argv[] = {"TTL", key};
  return std::chrono::seconds(as_integer(router_->run(argv, router_->slot_of(key)), "TTL"));
}

std::chrono::milliseconds RedisClient::pttl(std::string_view key) {
  const std::string_view argv[] = {"PTTL", key};
  return std::chrono::milliseconds(as_integer(router_->run(argv, router_->slot_of(key)), "PTTL"));
}

void RedisClient::scan(std::string_view pattern,
                       const std::function<void(std::string_view)>& on_key, std::size_t count) {
  const Digits count_text(static_cast<long long>(std::max<std::size_t>(count, 1)));
  for (redis::NodePool* node : router_->masters()) {
    std::string cursor = "0";
    do {
      const std::string_view argv[] = {"SCAN",  cursor,  "MATCH",
                                       pattern, "COUNT", count_text.view()};
      RedisReply reply = router_->run_on(*node, argv);
      if (!reply.is_array() || reply.elements.size() != 2 || !reply.elements[0].is_string() ||
          !reply.elements[1].is_array()) {
        unexpected("SCAN", reply);
      }
      cursor = std::move(reply.elements[0].str);
      for (const RedisReply& key : reply.elements[1].elements) {
        if (!key.is_string()) unexpected("SCAN", key);
        on_key(key.str);
      }
    } while (cursor != "0");
  }
}

std::vector<std::string> RedisClient::scan(std::string_view pattern, std::size_t count) {
  std::vector<std::string> keys;
  scan(
      pattern, [&](std::string_view key) { keys.emplace_back(key); }, count);
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

std::optional<std::string> RedisClient::hget(std::string_view key, std::string_view field) {
  const std::string_view argv[] = {"HGET", key, field};
  return as_optional_string(router_->run(argv, router_->slot_of(key)), "HGET");
}

bool RedisClient::hset(std::string_view key, std::string_view field, std::string_view value) {
  const std::string_view argv[] = {"HSET", key, field, value};
  return as_integer(router_->run(argv, router_->slot_of(key)), "HSET") == 1;
}

long long RedisClient::hset(std::string_view key, std::span<const KeyValueView> fields) {
  if (fields.empty()) throw InvalidArgumentError("redis HSET: no fields");
  std::vector<std::string_view> argv;
  argv.reserve(2 + 2 * fields.size());
  argv.insert(argv.end(), {"HSET", key});
  for (const auto& [field, value] : fields) argv.insert(argv.end(), {field, value});
  return as_integer(router_->run(argv, router_->slot_of(key)), "HSET");
}

long long RedisClient::hset(std::string_view key, std::initializer_list<KeyValueView> fields) {
  return hset(key, std::span<const KeyValueView>(fields.begin(), fields.size()));
}

std::vector<std::pair<std::string, std::string>> RedisClient::hgetall(std::string_view key) {
  const std::string_view argv[] = {"HGETALL", key};
  RedisReply reply = router_->run(argv, router_->slot_of(key));
  if (!reply.is_array() || reply.elements.size() % 2 != 0) unexpected("HGETALL", reply);
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(reply.elements.size() / 2);
  for (std::size_t i = 0; i < reply.elements.size(); i += 2) {
    if (!reply.elements[i].is_string() || !reply.elements[i + 1].is_string()) {
      unexpected("HGETALL", reply.elements[i]);
    }
    out.emplace_back(std::move(reply.elements[i].str), std::move(reply.elements[i + 1].str));
  }
  return out;
}

long long RedisClient::hdel(std::string_view key, std::span<const std::string_view> fields) {
  if (fields.empty()) return 0;
  std::vector<std::string_view> argv;
  argv.reserve(2 + fields.size());
  argv.insert(argv.end(), {"HDEL", key});
  argv.insert(argv.end(), fields.begin(), fields.end());
  return as_integer(router_->run(argv, router_->slot_of(key)), "HDEL");
}

long long RedisClient::hdel(std::string_view key, std::initializer_list<std::string_view> fields) {
  return hdel(key, std::span<const std::string_view>(fields.begin(), fields.size()));
}

bool RedisClient::zadd(std::string_view key, double score, std::string_view member) {
  const ScoreMemberView one[] = {{score, member}};
  return zadd(key, std::span<const ScoreMemberView>(one)) == 1;
}

long long RedisClient::zadd(std::string_view key, std::span<const ScoreMemberView> members) {
  if (members.empty()) throw InvalidArgumentError("redis ZADD: no members");
  std::vector<Digits> scores;
  scores.reserve(members.size());
  std::vector<std::string_view> argv;
  argv.reserve(2 + 2 * members.size());
  argv.insert(argv.end(), {"ZADD", key});
  for (const auto& [score, member] : members) {
    scores.emplace_back(score);
    argv.insert(argv.end(), {scores.back().view(), member});
  }
  return as_integer(router_->run(argv, router_->slot_of(key)), "ZADD");
}

long long RedisClient::zadd(std::string_view key, std::initializer_list<ScoreMemberView> members) {
  return zadd(key, std::span<const ScoreMemberView>(members.begin(), members.size()));
}

std::vector<std::string> RedisClient::zrange(std::string_view key, long long start,
                                             long long stop) {
  const Digits a(start), b(stop);
  const std::string_view argv[] = {"ZRANGE", key, a.view(), b.view()};
  return as_strings(router_->run(argv, router_->slot_of(key)), "ZRANGE");
}

std::vector<std::string> RedisClient::zrevrange(std::string_view key, long long start,
                                                long long stop) {
  const Digits a(start), b(stop);
  const std::string_view argv[] = {"ZREVRANGE", key, a.view(), b.view()};
  return as_strings(router_->run(argv, router_->slot_of(key)), "ZREVRANGE");
}

std::vector<ScoredMember> RedisClient::zrange_with_scores(std::string_view key, long long start,
                                                          long long stop) {
  const Digits a(start), b(stop);
  const std::string_view argv[] = {"ZRANGE", key, a.view(), b.view(), "WITHSCORES"};
  return as_scored(router_->run(argv, router_->slot_of(key)), "ZRANGE");
}

std::vector<ScoredMember> RedisClient::zrevrange_with_scores(std::string_view key, long long start,
                                                             long long stop) {
  const Digits a(start), b(stop);
  const std::string_view argv[] = {"ZREVRANGE", key, a.view(), b.view(), "WITHSCORES"};
  return as_scored(router_->run(argv, router_->slot_of(key)), "ZREVRANGE");
}

long long RedisClient::publish(std::string_view channel, std::string_view message) {
  const std::string_view argv[] = {"PUBLISH", channel, message};
  return as_integer(router_->run(argv, kAnySlot), "PUBLISH");
}

RedisReply RedisClient::eval(const RedisScript& script, std::span<const std::string_view> keys,
                             std::span<const std::string_view> args) {
  int slot = kAnySlot;
  if (router_->cluster()) {
    for (const auto key : keys) {
      const int s = key_slot(key);
      if (slot != kAnySlot && s != slot) {
        throw InvalidArgumentError(
            "redis EVAL: in a cluster every key of one script call must hash to the same slot "
            "(give them a common {hash tag})");
      }
      slot = s;
    }
  }
  const Digits numkeys(static_cast<long long>(keys.size()));
  std::vector<std::string_view> argv;
  argv.reserve(3 + keys.size() + args.size());
  argv.insert(argv.end(), {"EVALSHA", script.sha1(), numkeys.view()});
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());
  RedisReply reply = router_->run(argv, slot);
  if (reply.is_error() && reply.str.starts_with("NOSCRIPT")) {
    // The node does not have the script cached (restart, SCRIPT FLUSH, failover): EVAL sends
    // the source, runs it, and caches it for the next EVALSHA.
    argv[0] = "EVAL";
    argv[1] = script.source();
    reply = router_->run(argv, slot);
  }
  return checked(std::move(reply), "EVALSHA");
}

RedisReply RedisClient::eval(const RedisScript& script,
                             std::initializer_list<std::string_view> keys,
                             std::initializer_list<std::string_view> args) {
  return eval(script, std::span<const std::string_view>(keys.begin(), keys.size()),
              std::span<const std::string_view>(args.begin(), args.size()));
}

RedisReply RedisClient::command(std::span<const std::string_view> args) {
  if (args.empty()) throw InvalidArgumentError("redis command: empty argument list");
  return checked(router_->run(args, router_->slot_of_command(args)), args[0]);
}

RedisReply RedisClient::command(std::initializer_list<std::string_view> args) {
  return command(std::span<const std::string_view>(args.begin(), args.size()));
}

Pipeline RedisClient::pipeline() const {
  return Pipeline(router_);
}

}  // namespace strata
