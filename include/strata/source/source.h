// strata/source/source.h: the contract of a source of record (the database behind the cache), as
// the C++20 concept Source<S>, with its transaction scope for write-through. Implementations:
// SqliteSource, PostgresSource (strata/source/table_source.h), FunctionSource.
//
//   template <strata::Source S> void warm(S& source) { auto user = source.load("user:1"); }
#pragma once

#include <concepts>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace strata {

// One entry of a batch write.
template <typename V>
using KeyValue = std::pair<std::string, V>;

// A write-through transaction: writes and erases become visible together at commit(); an
// object destroyed before commit() rolls them back (its destructor never throws). Move-only.
template <typename T, typename V>
concept SourceTransaction = std::movable<T> &&
    requires(T& txn, std::string_view key, const V& value) {
  txn.write(key, value);
  txn.erase(key);
  txn.commit();
};

// A source of record holding values of S::value_type under string keys.
//  - load(key): the value, or std::nullopt when there is none (a miss is not an error).
//  - load_many(keys): one optional per requested key, in request order (duplicates repeat).
//  - write(key, value): insert or replace. write_batch(entries): all of them, atomically where
//    the backend allows (last entry wins for a key repeated in a batch).
//  - erase(key) / erase_batch(keys): delete; erasing a missing key is not an error.
//  - begin(): a SourceTransaction for write-through.
// Failures throw strata::Error: UnavailableError (cannot reach the backend), TimeoutError,
// InvalidArgumentError (bad key or value for this backend), CorruptedError (unreadable row).
template <typename S>
concept Source = requires {
  typename S::value_type;
}
&&requires(S& source, std::string_view key, std::span<const std::string> keys,
           const typename S::value_type& value,
           std::span<const KeyValue<typename S::value_type>> entries) {
  { source.load(key) } -> std::same_as<std::optional<typename S::value_type>>;
  { source.load_many(keys) } -> std::same_as<std::vector<std::optional<typename S::value_type>>>;
  source.write(key, value);
  source.write_batch(entries);
  source.erase(key);
  source.erase_batch(keys);
  { source.begin() } -> SourceTransaction<typename S::value_type>;
};

// True when `name` matches ^[A-Za-z_][A-Za-z0-9_]{0,62}$, the only SQL identifiers (table and
// column names) strata accepts. strata always double-quotes them in SQL, so they are
// case-sensitive and may be reserved words.
[[nodiscard]] bool is_valid_identifier(std::string_view name) noexcept;

// Throws InvalidArgumentError naming `what` and the bad identifier unless is_valid_identifier.
void validate_identifier(std::string_view what, std::string_view name);

}  // namespace strata
