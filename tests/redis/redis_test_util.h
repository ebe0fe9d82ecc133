// redis_test_util.h: small helpers shared by the Redis suites.
#pragma once

#include "support/eventually.h"
#include "support/unique.h"

namespace strata::testing {}  // namespace strata::testing
