// commands.h: how each area plugs its commands into the `strata` tool. Every function adds its
// subcommand (with options, help and a callback) to the app or to `strata bench`.
#pragma once

#include <CLI/CLI.hpp>

namespace strata::cli {

// `strata bench`: the main job (tools/bench/user_service_cli.cc). Returns the `bench` command so
// that the other benchmarks can hang under it as `strata bench <name>`.
CLI::App& add_bench(CLI::App& app);

// `strata bench redis` (tools/bench/redis/): strata's Redis client against raw hiredis.
void add_bench_redis(CLI::App& bench);
// `strata bench source` (tools/bench/source/): PostgreSQL batch upserts against row-per-txn and
// COPY.
void add_bench_source(CLI::App& bench);
// `strata bench write-behind` (tools/bench/write_behind/): write-behind vs write-through vs COPY.
void add_bench_write_behind(CLI::App& bench);
// `strata bench l1` (tools/bench/l1/): LocalCache throughput against a raw map and a mutex LRU.
void add_bench_l1(CLI::App& bench);
// `strata bench stampede` (tools/bench/stampede/): source loads per expiry across processes, with
// and without each stampede protection.
void add_bench_stampede(CLI::App& bench);
// `strata bench coherence` (tools/bench/coherence/): L1 staleness across processes per coherence
// mode.
void add_bench_coherence(CLI::App& bench);
// `strata sim` (tools/sim/): replays cache traces through eviction policies.
void add_sim(CLI::App& app);
// `strata inspect|get|put|del|invalidate|stats|dead-letters|journal` (tools/ops/): the
// operator commands (docs/operations-cli.md).
void add_ops(CLI::App& app);

}  // namespace strata::cli
