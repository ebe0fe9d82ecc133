// Fuzzes parse_redis_url: any input parses or throws InvalidArgumentError. A parsed URL's
// redacted() form does not depend on the password (so it cannot reveal any of it) and
// parses back to the same scheme, nodes, user, master name and db (redacted() leaves the
// options out).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "strata/error.h"
#include "strata/redis/redis_url.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  strata::RedisUrl url;
  try {
    url = strata::parse_redis_url(text);
  } catch (const strata::InvalidArgumentError&) {
    return 0;
  }
  if (url.nodes.empty()) std::abort();
  if (!url.cluster && !url.sentinel && url.nodes.size() != 1) std::abort();
  if (url.sentinel && url.master_name.empty()) std::abort();
  const std::string redacted = url.redacted();
  if (!url.password.empty()) {  // redacted() must not depend on the password at all
    strata::RedisUrl other = url;
    other.password = "another-password";
    if (other.redacted() != redacted) std::abort();
  }
  strata::RedisUrl again;
  try {
    again = strata::parse_redis_url(redacted);
  } catch (const strata::InvalidArgumentError&) {
    std::abort();  // what redacted() prints must parse
  }
  if (again.cluster != url.cluster || again.sentinel != url.sentinel ||
      again.master_name != url.master_name || again.nodes != url.nodes || again.user != url.user ||
      again.db != url.db || again.password.empty() != url.password.empty()) {
    std::abort();
  }
  return 0;
}
