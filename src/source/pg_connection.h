// pg_connection.h: RAII libpq handles (connection, result), binary parameter encoding, the
// mapping of libpq failures to strata errors, and a connection pool that discards broken
// connections. Used by PostgresTable and by `strata bench source`.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "strata/error.h"

namespace strata::pg {

// A connection that broke (server restart, network): the pool discards it; callers may retry.
class ConnectionLost : public UnavailableError {
 public:
  using UnavailableError::UnavailableError;
};

struct ResultDeleter {
  void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

// Binary-format parameters for PQexecPrepared / PQexecParams.
class Params {
 public:
  void add_null();
  void add(std::string bytes);  // already in the binary format of the parameter's type
  [[nodiscard]] int size() const noexcept { return static_cast<int>(values_.size()); }
  // Pointer arrays for libpq; valid until the next add.
  [[nodiscard]] const char* const* values();
  [[nodiscard]] const int* lengths() const noexcept { return lengths_.data(); }
  [[nodiscard]] const int* formats() const noexcept { return formats_.data(); }

 private:
  std::vector<std::optional<std::string>> values_;
  std::vector<const char*> pointers_;
  std::vector<int> lengths_;
  std::vector<int> formats_;
};

// Binary encodings (big-endian) of the types strata uses.
[[nodiscard]] std::string encode_int8(std::int64_t v);
[[nodiscard]] std::string encode_float8(double v);
[[nodiscard]] std::int64_t decode_int8(std::string_view bytes);
[[nodiscard]] double decode_float8(std::string_view bytes);

// A one-dimensional array in PostgreSQL's binary array format; elements already binary.
class ArrayBuilder {
 public:
  explicit ArrayBuilder(std::uint32_t element_oid) : element_oid_(element_oid) {}
  void add_null();
  void add(std::string_view element);
  [[nodiscard]] std::string finish() const;

 private:
  std::uint32_t element_oid_;
  std::uint32_t count_ = 0;
  bool has_null_ = false;
  std::string body_;
};

// Type OIDs (pg_type.dat; stable across PostgreSQL versions).
inline constexpr std::uint32_t kByteaOid = 17;
inline constexpr std::uint32_t kInt8Oid = 20;
inline constexpr std::uint32_t kTextOid = 25;
inline constexpr std::uint32_t kFloat8Oid = 701;
inline constexpr std::uint32_t kJsonbOid = 3802;

// One libpq connection with the names of the statements prepared on it.
class Connection {
 public:
  // Connects; throws UnavailableError (with libpq's message) on failure.
  Connection(const std::string& url, std::chrono::seconds connect_timeout);

  // Runs SQL without parameters; throws on failure (ConnectionLost when the connection broke).
  Result exec(const std::string& sql, ExecStatusType expected = PGRES_COMMAND_OK);
  // Prepares `sql` as `name` on first use, then executes it with binary results.
  Result exec_prepared(const std::string& name, const std::string& sql, Params& params,
                       ExecStatusType expected);
  // Throws the strata::Error for a failed result (or a null one), marking the connection broken
  // when the failure is a lost connection.
  [[noreturn]] void throw_error(const PGresult* result, std::string_view context);

  [[nodiscard]] PGconn* handle() const noexcept { return conn_.get(); }
  [[nodiscard]] bool broken() const noexcept { return broken_; }
  void mark_broken() noexcept { broken_ = true; }

 private:
  struct Closer {
    void operator()(PGconn* c) const noexcept { PQfinish(c); }
  };
  std::unique_ptr<PGconn, Closer> conn_;
  std::unordered_set<std::string> prepared_;
  bool broken_ = false;
};

// A bounded pool of connections to one server.
class Pool {
 public:
  // A borrowed connection, returned to the pool (or discarded if broken) on destruction.
  class Lease {
   public:
    Lease(Pool* pool, std::unique_ptr<Connection> conn) : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    ~Lease();
    Connection& operator*() const noexcept { return *conn_; }
    Connection* operator->() const noexcept { return conn_.get(); }

   private:
    Pool* pool_;
    std::unique_ptr<Connection> conn_;
  };

  Pool(std::string url, std::size_t size, std::chrono::seconds connect_timeout,
       std::chrono::milliseconds acquire_timeout);

  // An idle connection, or a new one while fewer than `size` are open; waits up to the acquire
  // timeout (then ResourceExhaustedError). Throws UnavailableError when connecting fails.
  [[nodiscard]] Lease acquire();

  // Runs fn(Connection&); on ConnectionLost discards the connection (and the idle ones) and runs
  // fn once more on a fresh connection. Throws UnavailableError if that fails too.
  template <typename F>
  auto with_retry(F&& fn) -> decltype(fn(std::declval<Connection&>())) {
    for (int attempt = 0;; ++attempt) {
      Lease lease = acquire();
      try {
        return fn(*lease);
      } catch (const ConnectionLost& e) {
        lease->mark_broken();
        if (attempt >= 1) throw UnavailableError(e.what());
      }
    }
  }

 private:
  void release(std::unique_ptr<Connection> conn) noexcept;

  std::string url_;
  std::size_t size_;
  std::chrono::seconds connect_timeout_;
  std::chrono::milliseconds acquire_timeout_;
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::size_t open_ = 0;  // idle + leased
};

// COPY ... FROM STDIN in PostgreSQL's text format, streamed in 256 KiB chunks: the bulk-load
// baseline of strata's benchmarks. Fields are escaped (backslash, tab, newline, carriage
// return), so any text is safe.
//
//   pg::CopyIn copy(conn, "COPY \"t\" (id, name) FROM STDIN");
//   copy.row({"1", "alice"});
//   copy.finish();
class CopyIn {
 public:
  CopyIn(Connection& conn, const std::string& copy_sql);
  CopyIn(const CopyIn&) = delete;
  CopyIn& operator=(const CopyIn&) = delete;
  // An unfinished COPY is aborted (its rows are not committed).
  ~CopyIn();

  void row(std::initializer_list<std::string_view> fields);
  // Sends what is buffered, ends the COPY and checks the server's answer.
  void finish();

 private:
  void send();

  Connection& conn_;
  std::string chunk_;
  bool open_ = true;
};

}  // namespace strata::pg
