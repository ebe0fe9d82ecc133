// The simulator's non-template parts: Belady's MIN, the policy registry and the cell runner.
//
// Belady's MIN in O(n log n) with no hash map and no "is this heap entry stale?" check:
// 1. next[i] = the index of the next request for the key of request i, or "never".
// 2. A max-heap holds, for every resident key, the index of its next request. "Never" is
//    encoded as n + i (i = the key's last request), so every value is unique and names its
//    key: value v < n is the key of request v, v >= n the key of request v - n.
// 3. On a hit at request i the key's entry (value i) goes stale and next[i] is pushed. On a miss
//    with a full cache the top is popped and its key evicted, then the new key is pushed.
// The top is never stale: stale values are <= the current index i (their request has already
// happened), while every resident key has a live value > i, and the top is the maximum. A key
// evicted leaves the heap with its pop, so a miss never finds its own old value inside. Stale
// entries stay buried in the heap, which grows to at most n entries.
// The new key is pushed after the eviction, so it is never its own victim ("always admit"), as
// in libCacheSim's belady and the anchors' check_lru_opt.py.
#include "sim/simulator.h"

#include <array>
#include <atomic>
#include <exception>
#include <mutex>
#include <queue>
#include <thread>

namespace strata::sim {

namespace internal {

void throw_unweighted_trace() {
  throw InvalidArgumentError(
      "--weighted needs a trace with object sizes (adapt_size, csv or oracle-general)");
}

void throw_bad_victim() {
  throw InternalError("the eviction policy returned a node that is not resident");
}

}  // namespace internal

SimResult simulate_opt(const Trace& trace, std::uint64_t capacity, bool weighted) {
  if (weighted) {
    throw InvalidArgumentError("policy opt counts objects only; run it without --weighted");
  }
  const auto& ids = trace.ids();
  const std::uint64_t n = ids.size();
  SimResult r;
  r.capacity = capacity;
  r.requests = n;
  r.bytes = n;
  if (n == 0) return r;

  std::vector<std::uint64_t> next(n);
  {
    std::vector<std::uint64_t> upcoming(trace.distinct_keys(), UINT64_MAX);
    for (std::uint64_t i = n; i-- > 0;) {
      const std::uint64_t u = upcoming[ids[i]];
      next[i] = u == UINT64_MAX ? n + i : u;
      upcoming[ids[i]] = i;
    }
  }
  std::vector<bool> resident(trace.distinct_keys(), false);
  std::vector<std::uint64_t> storage;
  storage.reserve(std::min<std::uint64_t>(n, capacity + (n >> 4) + 1024));
  std::priority_queue<std::uint64_t> heap(std::less<std::uint64_t>(), std::move(storage));
  std::uint64_t size = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::uint32_t id = ids[i];
    if (resident[id]) {
      ++r.hits;
    } else if (capacity == 0) {
      continue;  // nothing fits: every request misses
    } else {
      if (size == capacity) {
        const std::uint64_t v = heap.top();
        heap.pop();
        const std::uint32_t victim = ids[v < n ? v : v - n];
        if (!resident[victim]) throw InternalError("opt: stale heap top");
        resident[victim] = false;
      } else {
        ++size;
      }
      resident[id] = true;
    }
    heap.push(next[i]);
  }
  r.hit_bytes = r.hits;
  return r;
}

namespace {

// The registry. Adding a policy is one line: {name, description, &simulate<ItsClass>}.
constexpr std::array<PolicyEntry, 3> kPolicies = {{
    {"lru", "least recently used (strata::LruPolicy)", &simulate<LruPolicy>},
    {"opt", "Belady's MIN: evicts the key needed furthest in the future (offline bound)",
     &simulate_opt},
    {"wtinylfu", "strata's default: adaptive W-TinyLFU (strata::WindowTinyLfuPolicy; alias strata)",
     &simulate<WindowTinyLfuPolicy>},
}};

}  // namespace

std::span<const PolicyEntry> policies() noexcept {
  return kPolicies;
}

std::string policy_names() {
  std::string names;
  for (const auto& p : kPolicies) {
    if (!names.empty()) names += ", ";
    names += p.name;
  }
  return names;
}

const PolicyEntry& find_policy(std::string_view name) {
  // "strata" named the default policy before it was named after its algorithm.
  if (name == "strata") name = "wtinylfu";
  for (const auto& p : kPolicies) {
    if (p.name != name) continue;
    return p;
  }
  throw InvalidArgumentError("--policy: unknown policy '" + std::string(name) +
                             "' (known: " + policy_names() + ")");
}

SimResult run_policy(std::string_view name, const Trace& trace, std::uint64_t capacity,
                     bool weighted) {
  SimResult r = find_policy(name).simulate(trace, capacity, weighted);
  r.policy = std::string(name);
  return r;
}

std::vector<SimResult> run_cells(const Trace& trace, std::span<const SimCell> cells, bool weighted,
                                 unsigned threads) {
  for (const auto& cell : cells) (void)find_policy(cell.policy);
  std::vector<SimResult> results(cells.size());
  std::atomic<std::size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto worker = [&] {
    for (std::size_t i; (i = next.fetch_add(1)) < cells.size();) {
      try {
        results[i] = run_policy(cells[i].policy, trace, cells[i].capacity, weighted);
      } catch (...) {
        const std::lock_guard lock(error_mutex);
        if (!error) error = std::current_exception();
        next.store(cells.size());
      }
    }
  };
  const std::size_t n_threads =
      std::max<std::size_t>(1, std::min<std::size_t>(threads, cells.size()));
  {
    std::vector<std::jthread> pool;
    for (std::size_t t = 1; t < n_threads; ++t) pool.emplace_back(worker);
    worker();
  }
  if (error) std::rethrow_exception(error);
  return results;
}

}  // namespace strata::sim
