#include "strata/local/cache_stats.h"

namespace strata {

std::string_view to_string(RemovalCause cause) noexcept {
  switch (cause) {
    case RemovalCause::kExplicit:
      return "explicit";
    case RemovalCause::kReplaced:
      return "replaced";
    case RemovalCause::kExpired:
      return "expired";
    case RemovalCause::kSize:
      return "size";
  }
  return "unknown";
}

}  // namespace strata
