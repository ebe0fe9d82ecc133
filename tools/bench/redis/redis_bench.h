// redis_bench.h: `strata bench redis`, strata's RedisClient against raw hiredis.
//
// Both sides use one TCP connection per node (strata with pool_size=1; raw hiredis with one
// context per node, routed by a slot table for a cluster). Each round measures strata and raw
// hiredis back to back, alternating which goes first (A B, B A, ...), and the report gives
// the median ops/s of each side and the median of the per-round ratios strata/raw, because a
// 2-core shared machine is noisy. Operations: GET and SET of one key, and MGET of `mget_keys`
// keys, compared against raw MGET (one per slot, pipelined per node, in a cluster): like for
// like, so the ratio is strata's overhead. The report also shows strata's MGET against a raw
// pipeline of the same GETs, separately and labelled: different commands, not an overhead ratio.
//
// Two optional sections:
//  - `--tls URL` (rediss://): strata over TLS against strata over plaintext (`--redis`), GET, SET
//    and MGET, alternating rounds; meant for the same server's two ports (the report says
//    whether the two URLs reach the same server, by its run_id).
//  - `--threads N`: GET throughput with N calling threads sharing one strata RedisClient
//    (pool_size N) against N raw hiredis connections, one per thread (the strongest simple
//    alternative), on each target.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace strata::bench {

struct RedisBenchOptions {
  std::string redis_url;    // redis://... (standalone); empty: skipped
  std::string cluster_url;  // redis+cluster://...; empty: skipped
  int rounds = 7;           // A/B rounds; medians over them
  int operations = 3000;    // GETs and SETs per round and side
  int mget_batches = 300;   // MGET calls per round and side
  int mget_keys = 100;      // keys per MGET
  int value_size = 64;      // bytes per value
  int keyspace = 1000;      // distinct keys
  std::string tls_url;      // rediss://...: the TLS section against redis_url; empty: skipped
  int threads = 0;          // >= 2: the threaded GET section; 0: skipped

  // Throws InvalidArgumentError naming the option that is out of range.
  void validate() const;
};

struct RedisBenchRow {
  std::string op;        // "GET", "SET", "MGET"
  std::string baseline;  // what raw hiredis did
  double strata_ops_per_sec = 0;
  double raw_ops_per_sec = 0;
  double ratio = 0;  // median over rounds of strata/raw
  // The same commands on both sides (the ratio is strata's overhead); false for MGET against a
  // pipeline of GETs.
  bool like_for_like = true;
};

struct RedisBenchTarget {
  std::string name;  // "standalone" or "cluster"
  std::string url;   // redacted
  std::vector<RedisBenchRow> rows;
  [[nodiscard]] const RedisBenchRow& row(const std::string& op, const std::string& baseline) const;
};

// GET from `threads` threads on one target: strata's shared client, multiplexed (one connection
// per node for all the threads) and with multiplex=false (a pooled connection per caller),
// against one raw hiredis connection per thread (the pool).
struct RedisThreadedRow {
  std::string target;  // "standalone" or "cluster"
  int threads = 0;
  double multiplexed_ops_per_sec = 0;    // strata, multiplexed (the default)
  double strata_pooled_ops_per_sec = 0;  // strata, multiplex=false
  double pool_ops_per_sec = 0;           // raw hiredis, a connection per thread
  double ratio = 0;                      // median over rounds of multiplexed/pool
  double pooled_ratio = 0;               // median over rounds of strata pooled/pool
};

// strata over TLS against strata over plaintext (ratio = TLS ops/s / plaintext ops/s).
struct RedisTlsSection {
  std::string tls_url;              // redacted
  std::string plain_url;            // redacted
  bool same_server = false;         // both URLs answered with the same INFO run_id
  std::vector<RedisBenchRow> rows;  // op GET, SET, MGET; strata = TLS, raw = plaintext
};

struct RedisBenchReport {
  RedisBenchOptions options;
  std::vector<RedisBenchTarget> targets;
  std::vector<RedisThreadedRow> threaded;  // with --threads
  std::optional<RedisTlsSection> tls;      // with --tls
};

// Runs the benchmark (writes and deletes keys under "strata-bench:redis:<pid>:").
[[nodiscard]] RedisBenchReport run_redis_bench(const RedisBenchOptions& options);
// The configuration, then the like-for-like rows (the overhead ratios), then, apart and
// labelled, MGET against the raw GET pipeline.
void print_redis_bench(std::ostream& out, const RedisBenchReport& report);
// Top-level get_ratio_vs_hiredis, set_ratio_vs_hiredis, mget_ratio_vs_hiredis_pipeline,
// mget_ratio_vs_hiredis_mget (of the first target), and every target in "targets"; with
// --threads: threads, multiplexed_get_ops_per_sec, strata_pooled_get_ops_per_sec,
// pool_get_ops_per_sec, multiplexed_ratio_vs_pool, strata_pooled_ratio_vs_pool (first target)
// and "threaded" (every target); with --tls:
// tls_get_ratio_vs_plain, tls_set_ratio_vs_plain, tls_mget_ratio_vs_plain, tls_same_server.
[[nodiscard]] nlohmann::json to_json(const RedisBenchReport& report);

}  // namespace strata::bench
