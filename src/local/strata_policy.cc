// StrataPolicy: the public face of local::WindowTinyLfu (kept behind a pointer so that the
// public header does not expose the sketch and the climber).
#include "local/window_tiny_lfu.h"
#include "strata/local/eviction_policy.h"

namespace strata {

struct StrataPolicy::Impl {
  explicit Impl(std::uint64_t capacity) : policy(capacity) {}
  local::WindowTinyLfu policy;
};

StrataPolicy::StrataPolicy(std::uint64_t capacity) : impl_(std::make_unique<Impl>(capacity)) {}
StrataPolicy::StrataPolicy(StrataPolicy&&) noexcept = default;
StrataPolicy& StrataPolicy::operator=(StrataPolicy&&) noexcept = default;
StrataPolicy::~StrataPolicy() = default;

void StrataPolicy::on_insert(PolicyNode* n) {
  impl_->policy.on_insert(n);
}
void StrataPolicy::on_access(PolicyNode* n) {
  impl_->policy.on_access(n);
}
void StrataPolicy::prefetch(const PolicyNode* n) const noexcept {
  impl_->policy.prefetch(n);
}
void StrataPolicy::on_update(PolicyNode* n, std::uint32_t old_weight) {
  impl_->policy.on_update(n, old_weight);
}
void StrataPolicy::on_remove(PolicyNode* n) {
  impl_->policy.on_remove(n);
}
PolicyNode* StrataPolicy::evict() {
  return impl_->policy.evict();
}
void StrataPolicy::set_capacity(std::uint64_t capacity) {
  impl_->policy.set_capacity(capacity);
}
std::uint64_t StrataPolicy::capacity() const {
  return impl_->policy.capacity();
}
std::uint64_t StrataPolicy::weight() const {
  return impl_->policy.weight();
}

}  // namespace strata
