// window_tiny_lfu.h: adaptive Window-TinyLFU, strata's default eviction policy.
//
// The algorithm (W-TinyLFU: Einziger, Friedman, Manes, "TinyLFU: A Highly Efficient Cache
// Admission Policy", ACM ToS 2017; the adaptive window: Einziger, Eytan, Friedman, Manes,
// "Adaptive Software Cache Management", Middleware 2018; as built in Caffeine's
// BoundedLocalCache):
//
//   new entry ──► WINDOW (LRU, ~1% at first) ──overflow──► candidate
//                                                            │ admit if sketch(candidate)
//                                                            ▼   > sketch(victim)
//   MAIN = PROBATION (LRU, ~20%) ◄──demote── PROTECTED (LRU, ~80%)
//            │ hit ─────────────promote─────────►│
//            └─ head = victim
//
// - Every access and insert increments the key in a FrequencySketch (popularity over a sliding
//   horizon). A window overflow is a *candidate* for the main space; it enters only if the
//   sketch says it is more popular than the main space's victim (the probation head). So a
//   one-hit wonder or a scan never pushes out a frequently used entry.
// - The window gives new entries a chance to build up frequency: recency-friendly traces want
//   a big window, frequency-friendly ones a small one. strata sizes it by *ghost feedback*, in
//   the spirit of ARC: the policy remembers the hashes of the last evicted keys (25% of the
//   capacity) and which side evicted them. A miss on a key the admission test just rejected
//   means the window was too small to let it prove itself: the window grows (and the key
//   counts once more in the sketch); a miss on a key just evicted from the main space means
//   the main space was too small: the window shrinks. As in ARC, the step is scaled by the
//   ratio of the two kinds of ghosts, so the rarer signal moves the split further. Caffeine's
//   alternative, a hill climber that samples the hit rate every 10 x capacity requests, is
//   available (`adaptive = true`) but adapts too slowly on short traces. On the 75 cells of
//   the team's policy anchors (`strata sim --anchors`, docs/hit-ratios.md) the mean hit ratio
//   is 53.15% with balanced ghost feedback, 53.00% with unbalanced feedback over 5% ghosts,
//   52.20% with the climber and 51.92% with a fixed 1% window; the best of ten published
//   policies picked per cell averages 53.80 and OPT 57.92.
// - Tiny caches get a sketch of at least 16384 counters and an aging horizon of at least
//   10240 increments: otherwise the sketch saturates (loop and scan traces over 1000+ keys) and
//   halving every 10 x capacity increments forgets a loop before it comes round again.
// - Hash flooding: an attacker can make the victim look popular through collisions; a
//   candidate with a warm estimate (>= 6) is admitted with probability 1/128 regardless.
//
// Costs: O(1) per operation; memory = 8 sketch bytes per entry plus the intrusive links.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <cstdint>
#include <random>
#include <vector>

#include "local/frequency_sketch.h"
#include "strata/local/eviction_policy.h"

namespace strata::local {

struct WindowTinyLfuOptions {
  double initial_window = 0.01;   // share of the capacity given to the window at start
  double protected_share = 0.80;  // share of the main space that is protected
  bool adaptive = false;          // hill-climb the window size (Caffeine's climber)
  double climber_step = 0.0625;   // step as a share of the capacity
  double climber_restart = 0.05;  // a hit-rate change this large restarts the step
  double climber_decay = 0.98;    // the step shrinks by this factor each sample
  double climber_sample = 10.0;   // requests per hit-rate sample, as a multiple of capacity
  std::uint64_t seed = 0x5eed;    // for the random admission against hash flooding
  double sketch_width = 1.0;      // sketch words (16 counters each) per entry of capacity
  bool ghost_adapt = true;        // move the window on misses that hit recently evicted keys
  double ghost_step = 0.0005;     // window change per ghost hit, as a share of capacity
  double ghost_size = 0.25;       // ghost entries remembered, as a multiple of capacity
  bool ghost_boost = true;        // a rejected key that returns soon counts once more
  bool ghost_balance = true;      // scale steps by the ratio of the two ghost kinds (ARC)
};

class WindowTinyLfu {
 public:
  explicit WindowTinyLfu(std::uint64_t capacity, const WindowTinyLfuOptions& options = {});

  void on_insert(PolicyNode* n);
  void on_access(PolicyNode* n);
  void prefetch(const PolicyNode* n) const noexcept { sketch_.prefetch(n->hash); }
  void on_update(PolicyNode* n, std::uint32_t old_weight);
  void on_remove(PolicyNode* n);
  [[nodiscard]] PolicyNode* evict();
  void set_capacity(std::uint64_t capacity);
  [[nodiscard]] std::uint64_t capacity() const { return capacity_; }
  [[nodiscard]] std::uint64_t weight() const {
    return window_weight_ + probation_weight_ + protected_weight_;
  }
  [[nodiscard]] std::uint64_t window_capacity() const { return window_max_; }

 private:
  enum Queue : std::uint8_t { kWindow = 1, kProbation = 2, kProtected = 3 };

  void add_to(Queue q, PolicyNode* n);
  void remove_from_queue(PolicyNode* n);
  void demote_protected();
  void move_window_overflow_to_probation();
  [[nodiscard]] bool admit(const PolicyNode* candidate, const PolicyNode* victim);
  void climb();
  void increase_window(std::uint64_t amount);
  void decrease_window(std::uint64_t amount);

  WindowTinyLfuOptions options_;
  std::uint64_t capacity_;
  std::uint64_t window_max_ = 0;
  std::uint64_t protected_max_ = 0;
  std::uint64_t window_weight_ = 0;
  std::uint64_t probation_weight_ = 0;
  std::uint64_t protected_weight_ = 0;
  std::uint64_t entries_ = 0;
  NodeList window_;
  NodeList probation_;
  NodeList protected_;
  FrequencySketch sketch_;
  std::minstd_rand rng_;

  // Ghosts: hashes of recently evicted keys, and which side evicted them.
  enum Side : std::uint8_t { kRejected = 1, kMainVictim = 2 };
  void remember(const PolicyNode* n, Side side);
  void consult_ghosts(const PolicyNode* n);
  // A ring of the last evicted hashes, and an index from hash to (ring slot << 1 | side).
  std::vector<std::uint64_t> ghost_ring_;
  std::size_t ghost_next_ = 0;
  absl::flat_hash_map<std::uint64_t, std::uint32_t> ghosts_;
  std::uint64_t ghost_counts_[2] = {0, 0};  // live ghosts of each side: rejected, main victim

  // Hill climber state.
  std::uint64_t hits_in_sample_ = 0;
  std::uint64_t misses_in_sample_ = 0;
  double previous_hit_rate_ = 0;
  double step_;
};

}  // namespace strata::local
