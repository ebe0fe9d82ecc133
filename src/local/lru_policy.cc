#include "strata/local/eviction_policy.h"

namespace strata {

void LruPolicy::on_insert(PolicyNode* n) {
  list_.push_back(n);
  weight_ += n->weight;
}

void LruPolicy::on_update(PolicyNode* n, std::uint32_t old_weight) {
  weight_ = weight_ - old_weight + n->weight;
  list_.move_to_back(n);
}

void LruPolicy::on_remove(PolicyNode* n) {
  NodeList::unlink(n);
  weight_ -= n->weight;
}

PolicyNode* LruPolicy::evict() {
  if (weight_ <= capacity_ || list_.empty()) return nullptr;
  PolicyNode* victim = list_.front();
  on_remove(victim);
  return victim;
}

}  // namespace strata
