// inval_peer: the "other process" of the invalidation tests. It joins the bus, does one thing
// and exits 0 (prints the error and exits 1 on failure):
// (CHANNEL is the bus channel, so that concurrent tests do not hear each other):
//   inval_peer put URL CHANNEL PREFIX KEY VALUE   Cache<std::string> with kBus: put(KEY, VALUE)
//   inval_peer publish URL CHANNEL ENTITY         InvalidationBus::publish(ENTITY)
//   inval_peer event URL CHANNEL USER_ID          "user_updated" through the registry
#include <strata/cache/cache.h>
#include <strata/invalidation/invalidation.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "strata/codec/json.h"

namespace {

struct UserUpdated {
  int id = 0;
};

int run(const std::vector<std::string>& args) {
  if (args.size() < 4) throw strata::InvalidArgumentError("usage: inval_peer MODE URL CHANNEL ...");
  const std::string& mode = args[1];
  const std::string& url = args[2];
  strata::InvalidationBusOptions options;
  options.channel = args[3];
  options.entity_channel = "";
  auto bus = std::make_shared<strata::InvalidationBus>(url, options);
  if (!bus->wait_connected(std::chrono::seconds(5))) {
    throw strata::UnavailableError("inval_peer: the bus did not connect");
  }
  if (mode == "put" && args.size() == 7) {
    auto cache = strata::CacheBuilder<std::string>()
                     .local({.maximum_size = 100, .ttl = std::chrono::minutes(10)})
                     .remote(strata::RedisClient(url), {.ttl = std::chrono::minutes(10)})
                     .key_prefix(args[4])
                     .coherence(strata::L1Coherence::kBus)
                     .invalidation_bus(bus)
                     .build();
    cache.put(args[5], args[6]);
  } else if (mode == "publish" && args.size() == 5) {
    (void)bus->publish(args[4]);
  } else if (mode == "event" && args.size() == 5) {
    strata::InvalidationRegistry registry;
    registry.on<UserUpdated>("user_updated", [](const UserUpdated& e) {
      const std::string id = std::to_string(e.id);
      return std::vector<std::string>{"user:" + id, "user_profile:" + id, "user_list"};
    });
    (void)registry.dispatch(*bus, "user_updated", UserUpdated{std::stoi(args[4])});
  } else {
    throw strata::InvalidArgumentError("inval_peer: bad arguments for mode " + mode);
  }
  if (bus->stats().publish_failures != 0) {
    throw strata::UnavailableError("inval_peer: a message could not be published");
  }
  std::cout << "inval_peer: ok\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(std::vector<std::string>(argv, argv + argc));
  } catch (const std::exception& e) {
    std::cerr << "inval_peer: " << e.what() << "\n";
    return 1;
  }
}
