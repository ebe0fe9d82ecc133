// A consumer of an installed strata, built by tests/package/run.sh with the README's CMake
// snippet and no C++ standard of its own: it must compile and link as a user's project would.
#include <strata/cache/cache.h>
#include <strata/redis/key_slot.h>
#include <strata/redis/redis_url.h>

#include <iostream>
#include <string>

int main() {
  const auto url = strata::parse_redis_url("redis+cluster://127.0.0.1:7000,127.0.0.1:7001");
  auto cache = strata::CacheBuilder<std::string>()
                   .local({.maximum_size = 100})
                   .loader([](std::string_view key) {
                     return std::optional<std::string>("v:" + std::string(key));
                   })
                   .build();
  const auto value = cache.get("42");
  std::cout << "nodes=" << url.nodes.size() << " slot(foo)=" << strata::key_slot("foo")
            << " get(42)=" << value.value_or("(none)") << '\n';
  return url.nodes.size() == 2 && strata::key_slot("foo") == 12182 && value == "v:42" ? 0 : 1;
}
