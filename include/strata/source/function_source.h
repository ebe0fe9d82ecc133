// strata/source/function_source.h: FunctionSource<V>, a Source built from your own functions (an
// RPC client, a legacy DAO, a computation). Use it when the data does not live in a table strata
// maps.
//
//   strata::FunctionSource<User> users({.load = [&](std::string_view id) { return dao.find(id); },
//                                       .write = [&](std::string_view id, const User& u) { ... }});
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "strata/error.h"
#include "strata/source/source.h"

namespace strata {

// The functions behind a FunctionSource. Only `load` is required. load_many, write_batch and
// erase_batch default to calling load, write and erase once per key. A write or erase whose
// function is missing throws InvalidArgumentError.
template <typename V>
struct SourceFunctions {
  std::function<std::optional<V>(std::string_view key)> load{};
  std::function<std::vector<std::optional<V>>(std::span<const std::string> keys)> load_many{};
  std::function<void(std::string_view key, const V& value)> write{};
  std::function<void(std::span<const KeyValue<V>> entries)> write_batch{};
  std::function<void(std::string_view key)> erase{};
  std::function<void(std::span<const std::string> keys)> erase_batch{};
};

// A Source<V> over user functions. It is as thread-safe as the functions are, and its
// transaction is only as atomic as they are: a Transaction buffers writes and erases and, at
// commit(), applies them in order (consecutive writes through write_batch, consecutive erases
// through erase_batch); if a function throws midway, what ran before stays applied.
template <typename V>
class FunctionSource {
 public:
  using value_type = V;

  class Transaction {
   public:
    // Buffers an upsert of `key`.
    void write(std::string_view key, const V& value) {
      check_open();
      ops_.emplace_back(KeyValue<V>{std::string(key), value});
    }
    // Buffers an erase of `key`.
    void erase(std::string_view key) {
      check_open();
      ops_.emplace_back(std::string(key));
    }
    // Applies the buffered operations in order.
    void commit() {
      check_open();
      committed_ = true;
      std::size_t i = 0;
      while (i < ops_.size()) {
        if (std::holds_alternative<KeyValue<V>>(ops_[i])) {
          std::vector<KeyValue<V>> run;
          for (; i < ops_.size() && std::holds_alternative<KeyValue<V>>(ops_[i]); ++i) {
            run.push_back(std::move(std::get<KeyValue<V>>(ops_[i])));
          }
          source_->write_batch(run);
        } else {
          std::vector<std::string> run;
          for (; i < ops_.size() && std::holds_alternative<std::string>(ops_[i]); ++i) {
            run.push_back(std::move(std::get<std::string>(ops_[i])));
          }
          source_->erase_batch(run);
        }
      }
      ops_.clear();
    }

   private:
    friend class FunctionSource;
    explicit Transaction(FunctionSource* source) : source_(source) {}
    void check_open() const {
      if (committed_) throw InvalidArgumentError("transaction already committed");
    }
    FunctionSource* source_;
    std::vector<std::variant<KeyValue<V>, std::string>> ops_;
    bool committed_ = false;
  };

  // Throws InvalidArgumentError when `functions.load` is empty.
  explicit FunctionSource(SourceFunctions<V> functions) : fn_(std::move(functions)) {
    if (!fn_.load) throw InvalidArgumentError("FunctionSource needs a load function");
  }

  // fn.load(key).
  [[nodiscard]] std::optional<V> load(std::string_view key) { return fn_.load(key); }

  // fn.load_many(keys) (which must return one optional per key), else fn.load per key.
  [[nodiscard]] std::vector<std::optional<V>> load_many(std::span<const std::string> keys) {
    if (fn_.load_many) {
      auto values = fn_.load_many(keys);
      if (values.size() != keys.size()) {
        throw InvalidArgumentError("load_many returned " + std::to_string(values.size()) +
                                   " values for " + std::to_string(keys.size()) + " keys");
      }
      return values;
    }
    std::vector<std::optional<V>> values;
    values.reserve(keys.size());
    for (const auto& key : keys) values.push_back(fn_.load(key));
    return values;
  }

  // fn.write(key, value), else fn.write_batch with one entry.
  void write(std::string_view key, const V& value) {
    if (fn_.write) return fn_.write(key, value);
    if (!fn_.write_batch) throw InvalidArgumentError("FunctionSource has no write function");
    const KeyValue<V> entry{std::string(key), value};
    fn_.write_batch(std::span<const KeyValue<V>>(&entry, 1));
  }

  // fn.write_batch(entries), else fn.write per entry.
  void write_batch(std::span<const KeyValue<V>> entries) {
    if (entries.empty()) return;
    if (fn_.write_batch) return fn_.write_batch(entries);
    for (const auto& [key, value] : entries) write(key, value);
  }

  // fn.erase(key), else fn.erase_batch with one key.
  void erase(std::string_view key) {
    if (fn_.erase) return fn_.erase(key);
    if (!fn_.erase_batch) throw InvalidArgumentError("FunctionSource has no erase function");
    const std::string one(key);
    fn_.erase_batch(std::span<const std::string>(&one, 1));
  }

  // fn.erase_batch(keys), else fn.erase per key.
  void erase_batch(std::span<const std::string> keys) {
    if (keys.empty()) return;
    if (fn_.erase_batch) return fn_.erase_batch(keys);
    for (const auto& key : keys) erase(key);
  }

  // A buffering transaction (see the class comment for its atomicity).
  [[nodiscard]] Transaction begin() { return Transaction(this); }

 private:
  SourceFunctions<V> fn_;
};

}  // namespace strata
