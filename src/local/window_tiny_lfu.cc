#include "local/window_tiny_lfu.h"

#include <algorithm>
#include <cmath>

namespace strata::local {

WindowTinyLfu::WindowTinyLfu(std::uint64_t capacity, const WindowTinyLfuOptions& options)
    : options_(options),
      capacity_(capacity),
      sketch_(std::max<std::uint64_t>(
          static_cast<std::uint64_t>(static_cast<double>(capacity) * options.sketch_width), 1)),
      rng_(static_cast<std::minstd_rand::result_type>(options.seed)),
      step_(-options.climber_step * static_cast<double>(capacity)) {
  set_capacity(capacity);
}

void WindowTinyLfu::set_capacity(std::uint64_t capacity) {
  capacity_ = capacity;
  const auto main = static_cast<std::uint64_t>(
      std::floor(static_cast<double>(capacity) * (1.0 - options_.initial_window)));
  window_max_ = capacity - main;
  protected_max_ = static_cast<std::uint64_t>(static_cast<double>(main) * options_.protected_share);
}

void WindowTinyLfu::add_to(Queue q, PolicyNode* n) {
  n->queue = q;
  switch (q) {
    case kWindow:
      window_.push_back(n);
      window_weight_ += n->weight;
      break;
    case kProbation:
      probation_.push_back(n);
      probation_weight_ += n->weight;
      break;
    case kProtected:
      protected_.push_back(n);
      protected_weight_ += n->weight;
      break;
  }
}

void WindowTinyLfu::remove_from_queue(PolicyNode* n) {
  NodeList::unlink(n);
  switch (n->queue) {
    case kWindow:
      window_weight_ -= n->weight;
      break;
    case kProbation:
      probation_weight_ -= n->weight;
      break;
    case kProtected:
      protected_weight_ -= n->weight;
      break;
    default:
      break;
  }
  n->queue = 0;
}

void WindowTinyLfu::on_insert(PolicyNode* n) {
  ++entries_;
  if (entries_ > sketch_.table_entries() / 16) sketch_.ensure_capacity(entries_);
  sketch_.increment(n->hash);
  ++misses_in_sample_;
  if (options_.ghost_adapt) consult_ghosts(n);
  add_to(kWindow, n);
  climb();
}

void WindowTinyLfu::remember(const PolicyNode* n, Side side) {
  if (!options_.ghost_adapt) return;
  if (ghost_ring_.empty()) {
    const auto size =
        static_cast<std::size_t>(options_.ghost_size * static_cast<double>(capacity_)) + 1;
    ghost_ring_.assign(size, 0);
    ghosts_.reserve(size);
  }
  const std::size_t slot = ghost_next_;
  ghost_next_ = (ghost_next_ + 1) % ghost_ring_.size();
  // The slot's previous ghost is forgotten, unless its hash was remembered again since.
  if (const auto old = ghosts_.find(ghost_ring_[slot]);
      old != ghosts_.end() && (old->second >> 1) == slot) {
    --ghost_counts_[old->second & 1];
    ghosts_.erase(old);
  }
  ghost_ring_[slot] = n->hash;
  auto [it, inserted] = ghosts_.try_emplace(n->hash, 0);
  if (!inserted) --ghost_counts_[it->second & 1];
  it->second = static_cast<std::uint32_t>(slot << 1) | (side == kMainVictim ? 1u : 0u);
  ++ghost_counts_[it->second & 1];
}

void WindowTinyLfu::consult_ghosts(const PolicyNode* n) {
  const auto it = ghosts_.find(n->hash);
  if (it == ghosts_.end()) return;
  const Side side = (it->second & 1) != 0 ? kMainVictim : kRejected;
  --ghost_counts_[it->second & 1];
  ghosts_.erase(it);
  auto step = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(options_.ghost_step * static_cast<double>(capacity_)));
  if (options_.ghost_balance) {
    // ARC's rule: the rarer kind of ghost hit moves the split further.
    const double rejected = static_cast<double>(std::max<std::uint64_t>(ghost_counts_[0], 1));
    const double victims = static_cast<double>(std::max<std::uint64_t>(ghost_counts_[1], 1));
    const double ratio = side == kRejected ? victims / rejected : rejected / victims;
    step = static_cast<std::uint64_t>(static_cast<double>(step) * std::max(1.0, ratio));
  }
  if (side == kRejected) {
    if (options_.ghost_boost) sketch_.increment(n->hash);
    increase_window(step);
  } else {
    decrease_window(step);
  }
}

void WindowTinyLfu::on_access(PolicyNode* n) {
  sketch_.increment(n->hash);
  ++hits_in_sample_;
  switch (n->queue) {
    case kWindow:
      window_.move_to_back(n);
      break;
    case kProbation:
      remove_from_queue(n);
      add_to(kProtected, n);
      demote_protected();
      break;
    case kProtected:
      protected_.move_to_back(n);
      break;
    default:
      break;
  }
  climb();
}

void WindowTinyLfu::on_update(PolicyNode* n, std::uint32_t old_weight) {
  const std::uint32_t new_weight = n->weight;
  n->weight = old_weight;
  const auto q = static_cast<Queue>(n->queue);
  remove_from_queue(n);
  n->weight = new_weight;
  add_to(q, n);
  on_access(n);
}

void WindowTinyLfu::on_remove(PolicyNode* n) {
  remove_from_queue(n);
  --entries_;
}

void WindowTinyLfu::demote_protected() {
  while (protected_weight_ > protected_max_ && !protected_.empty()) {
    PolicyNode* n = protected_.front();
    remove_from_queue(n);
    add_to(kProbation, n);
  }
}

bool WindowTinyLfu::admit(const PolicyNode* candidate, const PolicyNode* victim) {
  const int victim_freq = sketch_.frequency(victim->hash);
  const int candidate_freq = sketch_.frequency(candidate->hash);
  if (candidate_freq > victim_freq) return true;
  if (candidate_freq >= 6) return (rng_() & 127) == 0;  // against hash flooding
  return false;
}

PolicyNode* WindowTinyLfu::evict() {
  {
    const bool over = weight() > capacity_;
    const bool window_overflows = window_weight_ > window_max_ && !window_.empty();
    if (!over) {
      // Room in the main space: the window's overflow moves there without an admission test.
      while (window_weight_ > window_max_ && !window_.empty()) {
        PolicyNode* n = window_.front();
        remove_from_queue(n);
        add_to(kProbation, n);
      }
      return nullptr;
    }
    PolicyNode* loser = nullptr;
    if (window_overflows) {
      // The window's oldest entry is a candidate for the main space: it enters only if it is
      // more popular than the main space's victim.
      PolicyNode* candidate = window_.front();
      PolicyNode* victim = !probation_.empty() ? probation_.front() : protected_.front();
      if (victim == nullptr || candidate->weight > capacity_ || !admit(candidate, victim)) {
        loser = candidate;
        remember(candidate, kRejected);
      } else {
        loser = victim;
        remember(victim, kMainVictim);
        remove_from_queue(candidate);
        add_to(kProbation, candidate);
      }
    } else {
      // Over capacity without a window overflow (a weight grew, or the window shrank).
      loser = !probation_.empty()   ? probation_.front()
              : !protected_.empty() ? protected_.front()
                                    : window_.front();
    }
    if (loser == nullptr) return nullptr;
    remove_from_queue(loser);
    --entries_;
    return loser;
  }
}

void WindowTinyLfu::climb() {
  if (!options_.adaptive) return;
  const std::uint64_t requests = hits_in_sample_ + misses_in_sample_;
  if (static_cast<double>(requests) <
      std::max(options_.climber_sample * static_cast<double>(capacity_), 64.0)) {
    return;
  }
  const double hit_rate = static_cast<double>(hits_in_sample_) / static_cast<double>(requests);
  const double change = hit_rate - previous_hit_rate_;
  const double amount = change >= 0 ? step_ : -step_;
  const double cap = static_cast<double>(capacity_);
  step_ = std::abs(change) >= options_.climber_restart
              ? options_.climber_step * cap * (amount >= 0 ? 1 : -1)
              : options_.climber_decay * amount;
  previous_hit_rate_ = hit_rate;
  hits_in_sample_ = misses_in_sample_ = 0;
  const auto whole = static_cast<std::int64_t>(amount);
  if (whole > 0) {
    increase_window(static_cast<std::uint64_t>(whole));
  } else if (whole < 0) {
    decrease_window(static_cast<std::uint64_t>(-whole));
  }
}

void WindowTinyLfu::increase_window(std::uint64_t amount) {
  const std::uint64_t quota = std::min(amount, protected_max_);
  protected_max_ -= quota;
  window_max_ += quota;
  demote_protected();
}

void WindowTinyLfu::decrease_window(std::uint64_t amount) {
  if (window_max_ <= 1) return;
  const std::uint64_t quota = std::min(amount, window_max_ - 1);
  window_max_ -= quota;
  protected_max_ += quota;
  // Entries beyond the smaller window move to probation as they overflow (in evict()).
  while (window_weight_ > window_max_ && !window_.empty()) {
    PolicyNode* n = window_.front();
    remove_from_queue(n);
    add_to(kProbation, n);
  }
}

}  // namespace strata::local
