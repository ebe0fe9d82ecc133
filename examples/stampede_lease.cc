// A cache stampede, protected by a lease: several "processes" (here: independent Cache objects,
// each with its own connections and its own single-flight) of several threads read one hot key
// that keeps expiring; the source is slow. With a lease on the miss, one reader in all of them
// loads per expiry and the others wait for its value (docs/stampede.md).
//
//   ./build/examples/example_stampede_lease --redis redis://127.0.0.1:6379
//   ./build/examples/example_stampede_lease --redis redis+cluster://127.0.0.1:7000
#include <strata/cache/cache.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "strata/codec/json.h"

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  std::string url;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--redis") url = argv[i + 1];
  }
  if (url.empty()) {
    std::cerr << "usage: example_stampede_lease --redis URL\n";
    return 2;
  }
  constexpr int kProcesses = 3;
  constexpr int kThreads = 8;
  constexpr int kExpiries = 5;
  const std::string prefix = "example:stampede:" + std::to_string(::getpid()) + ":";

  std::atomic<int> loads{0};
  auto slow_price = [&](std::string_view) -> std::optional<double> {
    ++loads;
    std::this_thread::sleep_for(100ms);  // an expensive query
    return 42.0;
  };
  std::vector<strata::Cache<double>> processes;
  for (int p = 0; p < kProcesses; ++p) {
    processes.push_back(strata::CacheBuilder<double>()
                            .remote(strata::RedisClient(url), {.ttl = 10min})
                            .key_prefix(prefix)
                            .loader(slow_price)
                            .lease({.ttl = 5s, .wait_deadline = 5s})
                            .build());
  }
  strata::RedisClient redis(url);
  for (int e = 0; e < kExpiries; ++e) {
    (void)redis.del(processes[0].remote_key("price"));  // the hot key expires
    std::vector<std::thread> readers;
    std::atomic<int> wrong{0};
    for (int p = 0; p < kProcesses; ++p) {
      for (int t = 0; t < kThreads; ++t) {
        readers.emplace_back([&, p] {
          if (processes[p].get("price") != 42.0) ++wrong;
        });
      }
    }
    for (auto& r : readers) r.join();
    if (wrong != 0) {
      std::cerr << "stampede_lease: a reader got a wrong value\n";
      return 1;
    }
  }
  std::uint64_t waits = 0;
  for (const auto& p : processes) waits += p.stats().stampede.lease_waits;
  (void)redis.del(processes[0].remote_key("price"));
  std::cout << kProcesses * kThreads << " readers, " << kExpiries << " expiries, " << loads
            << " source loads (" << waits << " readers waited for a lease holder)\n";
  if (loads != kExpiries) {
    std::cerr << "stampede_lease: expected one load per expiry\n";
    return 1;
  }
  std::cout << "stampede_lease: OK\n";
  return 0;
}
