// strata/cache/bulk_result.h: BulkResult<V>, the per-key answer of Cache<V>::get_or_load_many:
// a value, "not found", or the error of the load that was to fetch it. Use it when some keys of a
// bulk read may fail while the others still get their values.
//
//   for (const auto& r : cache.get_or_load_many(ids, load_users))
//     if (r.failed()) log(r.error()); else if (r.found()) use(*r.value());
#pragma once

#include <exception>
#include <optional>
#include <utility>

namespace strata {

// One key of a bulk read, in request order. Exactly one of: a value (found()), not found
// (neither found() nor failed(): the source has no value, or a cache-only read missed), or
// failed() (the batch load that was to fetch this key threw, or the load of another caller this
// key joined threw; error() is what it threw). Keys answered by L1 or L2 never fail.
template <typename V>
class BulkResult {
 public:
  BulkResult() = default;
  explicit BulkResult(std::optional<V> value) : value_(std::move(value)) {}
  explicit BulkResult(std::exception_ptr error) : error_(std::move(error)) {}

  [[nodiscard]] bool failed() const noexcept { return error_ != nullptr; }
  [[nodiscard]] bool found() const noexcept { return value_.has_value(); }
  [[nodiscard]] const std::exception_ptr& error() const noexcept { return error_; }
  // The value, or nullopt when not found. REQUIRES nothing: a failed key rethrows its error here.
  [[nodiscard]] const std::optional<V>& value() const& {
    if (error_) std::rethrow_exception(error_);
    return value_;
  }
  [[nodiscard]] std::optional<V> value() && {
    if (error_) std::rethrow_exception(error_);
    return std::move(value_);
  }

 private:
  std::optional<V> value_;
  std::exception_ptr error_;
};

}  // namespace strata
