#include "redis/sentinel.h"

#include <charconv>
#include <vector>

#include "strata/error.h"

namespace strata::redis {
namespace {

ConnectOptions sentinel_options(const RedisUrl& url) {
  ConnectOptions options = connect_options(url);
  options.user = url.sentinel_user;
  options.password = url.sentinel_password;
  options.db = 0;
  options.require_master = false;
  return options;
}

std::string sentinel_list(const RedisUrl& url) {
  std::string out;
  for (const auto& node : url.nodes) {
    if (!out.empty()) out += ", ";
    out += to_address(node);
  }
  return out;
}

}  // namespace

SentinelDiscovery::SentinelDiscovery(RedisUrl url)
    : url_(std::move(url)),
      sentinel_options_(sentinel_options(url_)),
      master_options_(connect_options(url_)) {
  if (!url_.sentinel || url_.nodes.empty() || url_.master_name.empty()) {
    throw InvalidArgumentError("redis sentinel: the URL must be redis+sentinel://host:port/name");
  }
}

RedisEndpoint SentinelDiscovery::discover() {
  const std::size_t count = url_.nodes.size();
  const std::size_t first = first_.load(std::memory_order_relaxed) % count;
  std::string errors;
  auto note = [&](const std::string& sentinel, const std::string& why) {
    errors += errors.empty() ? "" : "; ";
    errors += sentinel + ": " + why;
  };
  const std::string_view ask[] = {"SENTINEL", "GET-MASTER-ADDR-BY-NAME", url_.master_name};
  for (std::size_t k = 0; k < count; ++k) {
    const std::size_t i = (first + k) % count;
    const RedisEndpoint& sentinel = url_.nodes[i];
    const std::string sentinel_address = to_address(sentinel);
    RedisEndpoint master;
    try {
      auto connection = Connection::open(sentinel, sentinel_options_);
      const RedisReply reply = connection->command(ask);
      if (reply.is_error()) {
        note(sentinel_address, reply.str);
        continue;
      }
      if (reply.is_nil() || (reply.is_array() && reply.elements.empty())) {
        note(sentinel_address, "does not know a master named '" + url_.master_name + "'");
        continue;
      }
      std::uint16_t port = 0;
      if (!reply.is_array() || reply.elements.size() != 2 || reply.elements[0].str.empty() ||
          std::from_chars(reply.elements[1].str.data(),
                          reply.elements[1].str.data() + reply.elements[1].str.size(), port)
                  .ec != std::errc{} ||
          port == 0) {
        note(sentinel_address, "malformed GET-MASTER-ADDR-BY-NAME reply");
        continue;
      }
      master = RedisEndpoint{reply.elements[0].str, port};
    } catch (const Error& e) {
      note(sentinel_address, e.what());
      continue;
    }
    try {  // ROLE (require_master): a sentinel that missed a failover may name a replica
      (void)Connection::open(master, master_options_);
    } catch (const Error& e) {
      note(sentinel_address,
           "named " + to_address(master) + ", which failed the check: " + std::string(e.what()));
      continue;
    }
    first_.store(i, std::memory_order_relaxed);
    return master;
  }
  throw UnavailableError("redis sentinel: no sentinel gave a reachable master for '" +
                         url_.master_name + "' (asked " + sentinel_list(url_) + "): " + errors);
}

RedisUrl SentinelDiscovery::sentinels_url() const {
  RedisUrl url = url_;
  url.sentinel = false;
  url.master_name.clear();
  url.user = url_.sentinel_user;
  url.password = url_.sentinel_password;
  url.sentinel_user.clear();
  url.sentinel_password.clear();
  url.db = 0;
  return url;
}

std::optional<RedisEndpoint> parse_switch_master(std::string_view message,
                                                 std::string_view master_name) {
  std::vector<std::string_view> words;
  while (!message.empty()) {
    const auto space = message.find(' ');
    if (space != 0) words.push_back(message.substr(0, space));
    message = space == std::string_view::npos ? std::string_view{} : message.substr(space + 1);
  }
  if (words.size() != 5 || words[0] != master_name) return std::nullopt;
  std::uint16_t port = 0;
  const auto port_text = words[4];
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0) {
    return std::nullopt;
  }
  return RedisEndpoint{std::string(words[3]), port};
}

}  // namespace strata::redis
