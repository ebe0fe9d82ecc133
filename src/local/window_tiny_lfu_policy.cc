// WindowTinyLfuPolicy: the public face of local::WindowTinyLfu (kept behind a pointer so that the
// public header does not expose the sketch and the climber).
#include "local/window_tiny_lfu.h"
#include "strata/local/eviction_policy.h"

namespace strata {

struct WindowTinyLfuPolicy::Impl {
  explicit Impl(std::uint64_t capacity) : policy(capacity) {}
  local::WindowTinyLfu policy;
};

WindowTinyLfuPolicy::WindowTinyLfuPolicy(std::uint64_t capacity)
    : impl_(std::make_unique<Impl>(capacity)) {}
WindowTinyLfuPolicy::WindowTinyLfuPolicy(WindowTinyLfuPolicy&&) noexcept = default;
WindowTinyLfuPolicy& WindowTinyLfuPolicy::operator=(WindowTinyLfuPolicy&&) noexcept = default;
WindowTinyLfuPolicy::~WindowTinyLfuPolicy() = default;

void WindowTinyLfuPolicy::on_insert(PolicyNode* n) {
  impl_->policy.on_insert(n);
}
void WindowTinyLfuPolicy::on_access(PolicyNode* n) {
  impl_->policy.on_access(n);
}
void WindowTinyLfuPolicy::prefetch(const PolicyNode* n) const noexcept {
  impl_->policy.prefetch(n);
}
void WindowTinyLfuPolicy::on_update(PolicyNode* n, std::uint32_t old_weight) {
  impl_->policy.on_update(n, old_weight);
}
void WindowTinyLfuPolicy::on_remove(PolicyNode* n) {
  impl_->policy.on_remove(n);
}
PolicyNode* WindowTinyLfuPolicy::evict() {
  return impl_->policy.evict();
}
void WindowTinyLfuPolicy::set_capacity(std::uint64_t capacity) {
  impl_->policy.set_capacity(capacity);
}
std::uint64_t WindowTinyLfuPolicy::capacity() const {
  return impl_->policy.capacity();
}
std::uint64_t WindowTinyLfuPolicy::weight() const {
  return impl_->policy.weight();
}

}  // namespace strata
