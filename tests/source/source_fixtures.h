// source_fixtures.h: the value type of the source suites, its two table mappings, and AnySource,
// a type-erased Source<User> so that one parameterised suite runs over every implementation.
#pragma once

#include <unistd.h>

#include <atomic>
#include <map>
#include <memory>
#include <msgpack.hpp>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>

#include "strata/source/function_source.h"
#include "strata/source/postgres_source.h"
#include "strata/source/source.h"
#include "strata/source/sqlite_source.h"
#include "support/unique.h"

namespace strata::testing {

struct User {
  std::string name;                  // text (unicode, SQL in it)
  std::optional<std::string> email;  // nullable text
  std::int64_t version = 0;
  double score = 0;
  std::string avatar;  // raw bytes (bytea / BLOB)
  friend bool operator==(const User&, const User&) = default;
  MSGPACK_DEFINE(name, email, version, score, avatar)
};

inline std::string hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) {
    out += kHex[static_cast<unsigned char>(c) >> 4];
    out += kHex[static_cast<unsigned char>(c) & 0xf];
  }
  return out;
}

inline std::string unhex(std::string_view text) {
  const auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  std::string out;
  for (std::size_t i = 0; i + 1 < text.size(); i += 2) {
    out += static_cast<char>(nibble(text[i]) * 16 + nibble(text[i + 1]));
  }
  return out;
}

// JSON cannot hold raw bytes: the document mapping stores the avatar hex-encoded.
inline void to_json(nlohmann::json& j, const User& u) {
  j = {{"name", u.name}, {"version", u.version}, {"score", u.score}, {"avatar", hex(u.avatar)}};
  j["email"] = u.email ? nlohmann::json(*u.email) : nlohmann::json(nullptr);
}
inline void from_json(const nlohmann::json& j, User& u) {
  j.at("name").get_to(u.name);
  j.at("version").get_to(u.version);
  j.at("score").get_to(u.score);
  u.avatar = unhex(j.at("avatar").get<std::string>());
  u.email = j.at("email").is_null() ? std::nullopt
                                    : std::optional<std::string>(j.at("email").get<std::string>());
}

inline TableMapping<User> user_columns(const std::string& table) {
  return TableMapping<User>::columns(
             table, "id",
             {column("name", &User::name), column("email", &User::email),
              column("version", &User::version), column("score", &User::score),
              column("avatar", ColumnType::kBytes, &User::avatar)})
      .create_table_if_missing();
}

// A type-erased Source<User>.
class AnySource {
 public:
  class Txn {
   public:
    virtual ~Txn() = default;
    virtual void write(std::string_view key, const User& value) = 0;
    virtual void erase(std::string_view key) = 0;
    virtual void commit() = 0;
  };
  virtual ~AnySource() = default;
  virtual std::optional<User> load(std::string_view key) = 0;
  virtual std::vector<std::optional<User>> load_many(std::span<const std::string> keys) = 0;
  virtual void write(std::string_view key, const User& value) = 0;
  virtual void write_batch(std::span<const KeyValue<User>> entries) = 0;
  virtual void erase(std::string_view key) = 0;
  virtual void erase_batch(std::span<const std::string> keys) = 0;
  virtual std::unique_ptr<Txn> begin() = 0;
};

template <Source S>
class SourceModel final : public AnySource {
 public:
  explicit SourceModel(S source) : source_(std::move(source)) {}
  std::optional<User> load(std::string_view key) override { return source_.load(key); }
  std::vector<std::optional<User>> load_many(std::span<const std::string> keys) override {
    return source_.load_many(keys);
  }
  void write(std::string_view key, const User& value) override { source_.write(key, value); }
  void write_batch(std::span<const KeyValue<User>> entries) override {
    source_.write_batch(entries);
  }
  void erase(std::string_view key) override { source_.erase(key); }
  void erase_batch(std::span<const std::string> keys) override { source_.erase_batch(keys); }
  std::unique_ptr<Txn> begin() override { return std::make_unique<TxnModel>(source_.begin()); }
  S& source() { return source_; }

 private:
  class TxnModel final : public Txn {
   public:
    explicit TxnModel(decltype(std::declval<S&>().begin()) txn) : txn_(std::move(txn)) {}
    void write(std::string_view key, const User& value) override { txn_.write(key, value); }
    void erase(std::string_view key) override { txn_.erase(key); }
    void commit() override { txn_.commit(); }

   private:
    decltype(std::declval<S&>().begin()) txn_;
  };
  S source_;
};

// A FunctionSource over a map behind a mutex: what a user's own functions might look like.
inline FunctionSource<User> map_function_source(std::shared_ptr<std::map<std::string, User>> map,
                                                std::shared_ptr<std::mutex> mutex) {
  SourceFunctions<User> fn;
  fn.load = [map, mutex](std::string_view key) -> std::optional<User> {
    std::lock_guard lock(*mutex);
    const auto it = map->find(std::string(key));
    return it == map->end() ? std::nullopt : std::optional<User>(it->second);
  };
  fn.write = [map, mutex](std::string_view key, const User& value) {
    std::lock_guard lock(*mutex);
    (*map)[std::string(key)] = value;
  };
  fn.write_batch = [map, mutex](std::span<const KeyValue<User>> entries) {
    std::lock_guard lock(*mutex);
    for (const auto& [key, value] : entries) (*map)[key] = value;
  };
  fn.erase = [map, mutex](std::string_view key) {
    std::lock_guard lock(*mutex);
    map->erase(std::string(key));
  };
  return FunctionSource<User>(std::move(fn));
}

}  // namespace strata::testing
