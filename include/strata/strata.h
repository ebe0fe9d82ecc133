// strata/strata.h: every public header of strata, for a quick start or a precompiled header.
// Use the layer headers (strata/cache/cache.h, strata/local/local_cache.h, ...) in real code:
// each includes only what it needs, and compiles faster.
//
//   #include <strata/strata.h>
//   auto users = strata::CacheBuilder<User>().local({.maximum_size = 100'000}).build();
#pragma once

#include "strata/cache/cache.h"
#include "strata/cache/circuit_breaker.h"
#include "strata/clock.h"
#include "strata/codec/codec.h"
#include "strata/codec/envelope.h"
#include "strata/coherence/coherence.h"
#include "strata/coherence/redis_tracking.h"
#include "strata/error.h"
#include "strata/executor.h"
#include "strata/invalidation/invalidation.h"
#include "strata/local/cache_stats.h"
#include "strata/local/eviction_policy.h"
#include "strata/local/local_cache.h"
#include "strata/metrics/latency_histogram.h"
#include "strata/metrics/latency_summary.h"
#include "strata/metrics/metrics.h"
#include "strata/metrics/metrics_server.h"
#include "strata/redis/key_slot.h"
#include "strata/redis/redis_client.h"
#include "strata/redis/redis_reply.h"
#include "strata/redis/redis_script.h"
#include "strata/redis/redis_subscriber.h"
#include "strata/redis/redis_url.h"
#include "strata/redis/remote_tier.h"
#include "strata/source/function_source.h"
#include "strata/source/postgres_source.h"
#include "strata/source/source.h"
#include "strata/source/sqlite_source.h"
#include "strata/source/table_mapping.h"
#include "strata/source/table_source.h"
#include "strata/stampede/stampede.h"
#include "strata/write_behind/write_behind.h"
#include "strata/write_behind/write_behind_options.h"
#include "strata/write_behind/write_behind_sink.h"
