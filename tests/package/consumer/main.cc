#include <strata/redis/key_slot.h>
#include <strata/redis/redis_url.h>

#include <iostream>

int main() {
  const auto url = strata::parse_redis_url("redis+cluster://127.0.0.1:7000,127.0.0.1:7001");
  std::cout << "nodes=" << url.nodes.size() << " slot(foo)=" << strata::key_slot("foo") << '\n';
  return url.nodes.size() == 2 && strata::key_slot("foo") == 12182 ? 0 : 1;
}
