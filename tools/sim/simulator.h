// sim/simulator.h: replays a trace through an eviction policy and counts hits: the engine of
// `strata sim`. Use simulate<P>() for any strata::EvictionPolicy, simulate_opt() for Belady's
// bound, or the registry (run_policy / run_cells) to pick policies by name.
//
//   strata::sim::SimResult r = strata::sim::simulate<strata::LruPolicy>(trace, 1000, false);
//   r.hits;  r.hit_ratio();
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sim/trace_reader.h"
#include "strata/error.h"
#include "strata/local/eviction_policy.h"

namespace strata::sim {

// What one (trace, policy, capacity) run counted. Every request counts: cold start, no warm-up.
struct SimResult {
  std::string policy;
  std::uint64_t capacity = 0;  // entries, or bytes when weighted
  bool weighted = false;
  std::uint64_t requests = 0;
  std::uint64_t hits = 0;
  std::uint64_t bytes = 0;      // sum of the requests' weights (1 each when not weighted)
  std::uint64_t hit_bytes = 0;  // sum of the weights of the hits

  [[nodiscard]] double hit_ratio() const noexcept {
    return requests == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(requests);
  }
  [[nodiscard]] double byte_hit_ratio() const noexcept {
    return bytes == 0 ? 0.0 : static_cast<double>(hit_bytes) / static_cast<double>(bytes);
  }
};

namespace internal {

// A simulated cache entry: the policy's node plus whether the key is resident. One per distinct
// key of the trace, allocated once per run (the trace's dense ids index them).
struct SimNode : PolicyNode {
  bool resident = false;
};

[[noreturn]] void throw_unweighted_trace();
[[noreturn]] void throw_bad_victim();

}  // namespace internal

// Replays `trace` through a fresh P(capacity). A hit calls on_access; a miss admits the key
// (on_insert) and then removes every node evict() returns. `weighted` gives each entry its
// request's size (the trace must have sizes) and makes `capacity` a number of bytes; otherwise
// every entry weighs 1. If a hit's size differs from the resident entry's, on_update is called.
template <EvictionPolicy P>
[[nodiscard]] SimResult simulate(const Trace& trace, std::uint64_t capacity, bool weighted) {
  if (weighted && !trace.has_weights()) internal::throw_unweighted_trace();
  const auto& ids = trace.ids();
  const auto& weights = trace.weights();
  const auto& id_keys = trace.id_keys();
  std::vector<internal::SimNode> nodes(trace.distinct_keys());
  P policy(capacity);
  SimResult r;
  r.capacity = capacity;
  r.weighted = weighted;
  r.requests = ids.size();
  for (std::size_t i = 0; i < ids.size(); ++i) {
    internal::SimNode& node = nodes[ids[i]];
    const std::uint32_t weight = weighted ? weights[i] : 1;
    r.bytes += weight;
    if (node.resident) {
      ++r.hits;
      r.hit_bytes += weight;
      if (node.weight == weight) {
        policy.on_access(&node);
        continue;
      }
      const std::uint32_t old_weight = node.weight;
      node.weight = weight;
      policy.on_update(&node, old_weight);
    } else {
      // A fresh node, as a cache would allocate: only hash and weight are set.
      static_cast<PolicyNode&>(node) = PolicyNode{};
      node.hash = mix64(id_keys[ids[i]]);
      node.weight = weight;
      node.resident = true;
      policy.on_insert(&node);
    }
    while (PolicyNode* victim = policy.evict()) {
      auto* v = static_cast<internal::SimNode*>(victim);
      if (!v->resident) internal::throw_bad_victim();
      v->resident = false;
    }
  }
  return r;
}

// Belady's MIN (the optimal offline policy for object counting): on a miss with a full cache,
// evict the resident key whose next request is furthest in the future (or never comes); every
// miss is admitted. Throws InvalidArgumentError when `weighted` (MIN is not optimal by bytes).
[[nodiscard]] SimResult simulate_opt(const Trace& trace, std::uint64_t capacity, bool weighted);

// The policy registry: every name `strata sim --policy` accepts.
using SimulateFn = SimResult (*)(const Trace&, std::uint64_t, bool);
struct PolicyEntry {
  std::string_view name;
  std::string_view description;
  SimulateFn simulate;
};
[[nodiscard]] std::span<const PolicyEntry> policies() noexcept;
// Every name, comma-separated.
[[nodiscard]] std::string policy_names();
// Throws InvalidArgumentError for an unknown name.
[[nodiscard]] const PolicyEntry& find_policy(std::string_view name);
// simulate with the named policy; the result carries the name.
[[nodiscard]] SimResult run_policy(std::string_view name, const Trace& trace,
                                   std::uint64_t capacity, bool weighted);

// One (policy, capacity) pair to run on a trace.
struct SimCell {
  std::string policy;
  std::uint64_t capacity = 0;
};
// Runs independent cells on up to `threads` threads; results are in the order of `cells`.
// Every policy name is checked before any cell runs. The first exception is rethrown.
[[nodiscard]] std::vector<SimResult> run_cells(const Trace& trace, std::span<const SimCell> cells,
                                               bool weighted, unsigned threads);

}  // namespace strata::sim
