#include "source/pg_connection.h"

#include <bit>
#include <cstring>
#include <optional>
#include <string_view>

namespace strata::pg {
namespace {

void put_be32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xff));
}

std::string trimmed(const char* message) {
  std::string s = message != nullptr ? message : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// libpq reports a TLS failure only as text (PQerrorMessage); these are its words in PostgreSQL
// 15 (fe-secure-openssl.c, fe-connect.c). A failure not recognised stays an UnavailableError.
std::optional<TlsFailure> tls_failure(std::string_view message) {
  const auto has = [&](std::string_view words) {
    return message.find(words) != std::string_view::npos;
  };
  if (has("does not match host name")) return TlsFailure::kHostnameMismatch;
  if (has("certificate has expired") || has("certificate is not yet valid")) {
    return TlsFailure::kCertificateExpired;
  }
  if (has("certificate verify failed")) return TlsFailure::kUntrustedCertificate;
  if (has("server does not support SSL")) return TlsFailure::kPeerNotTls;
  // A pg_hba.conf that accepts this client only over TLS (hostssl), met with sslmode=disable.
  if (has("no encryption") && (has("pg_hba.conf rejects") || has("no pg_hba.conf entry"))) {
    return TlsFailure::kPeerRequiresTls;
  }
  if (has("SSL error") || has("could not establish SSL")) return TlsFailure::kHandshake;
  return std::nullopt;
}

}  // namespace

void Params::add_null() {
  values_.emplace_back(std::nullopt);
  lengths_.push_back(0);
  formats_.push_back(1);
}

void Params::add(std::string bytes) {
  lengths_.push_back(static_cast<int>(bytes.size()));
  formats_.push_back(1);
  values_.emplace_back(std::move(bytes));
}

const char* const* Params::values() {
  pointers_.clear();
  for (const auto& v : values_) pointers_.push_back(v ? v->data() : nullptr);
  return pointers_.data();
}

std::string encode_int8(std::int64_t v) {
  std::string out;
  const auto u = static_cast<std::uint64_t>(v);
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((u >> shift) & 0xff));
  return out;
}

std::string encode_float8(double v) {
  return encode_int8(std::bit_cast<std::int64_t>(v));
}

std::int64_t decode_int8(std::string_view bytes) {
  if (bytes.size() != 8)
    throw ProtocolError("int8 value of " + std::to_string(bytes.size()) + " bytes");
  std::uint64_t u = 0;
  for (const char c : bytes) u = (u << 8) | static_cast<unsigned char>(c);
  return static_cast<std::int64_t>(u);
}

double decode_float8(std::string_view bytes) {
  return std::bit_cast<double>(decode_int8(bytes));
}

void ArrayBuilder::add_null() {
  put_be32(body_, 0xffffffffu);  // length -1
  has_null_ = true;
  ++count_;
}

void ArrayBuilder::add(std::string_view element) {
  put_be32(body_, static_cast<std::uint32_t>(element.size()));
  body_.append(element);
  ++count_;
}

std::string ArrayBuilder::finish() const {
  std::string out;
  out.reserve(20 + body_.size());
  put_be32(out, count_ == 0 ? 0 : 1);  // dimensions
  put_be32(out, has_null_ ? 1 : 0);
  put_be32(out, element_oid_);
  if (count_ == 0) return out;
  put_be32(out, count_);  // length of the dimension
  put_be32(out, 1);       // lower bound
  out += body_;
  return out;
}

Connection::Connection(const std::string& url, std::chrono::seconds connect_timeout) {
  const std::string timeout = std::to_string(connect_timeout.count());
  const char* keywords[] = {"dbname", "connect_timeout", "client_encoding", nullptr};
  const char* values[] = {url.c_str(), timeout.c_str(), "UTF8", nullptr};
  conn_.reset(PQconnectdbParams(keywords, values, /*expand_dbname=*/1));
  if (!conn_) throw UnavailableError("postgres connect: out of memory");
  if (PQstatus(conn_.get()) != CONNECTION_OK) {
    const std::string message = "postgres connect: " + trimmed(PQerrorMessage(conn_.get()));
    if (const auto failure = tls_failure(message)) {
      throw TlsError(*failure, message + " (TLS: " + std::string(to_string(*failure)) + ")");
    }
    throw UnavailableError(message);
  }
}

void Connection::throw_error(const PGresult* result, std::string_view context) {
  const std::string message =
      "postgres " + std::string(context) + ": " +
      trimmed(result != nullptr ? PQresultErrorMessage(result) : PQerrorMessage(conn_.get()));
  const char* field = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const std::string state = field != nullptr ? field : "";
  if (PQstatus(conn_.get()) == CONNECTION_BAD || state.starts_with("08") || state == "57P01" ||
      state == "57P02" || state == "57P03" || (result == nullptr && state.empty())) {
    broken_ = true;
    throw ConnectionLost(message);
  }
  const std::string cls = state.substr(0, 2);
  // Transient states first: the server refuses now, the same statement succeeds later. A
  // standby during a failover answers 25006 (read-only transaction); 55P03 (lock not available)
  // and 55006 (object in use) come from lock_timeout / NOWAIT; 40001 and 40P01 (serialization
  // failure, deadlock) roll the transaction back and ask for a retry. The write-behind flusher
  // retries these with backoff instead of dead-lettering (docs/reliability.md).
  if (state == "57014") throw TimeoutError(message + " (sqlstate " + state + ")");
  if (state == "25006" || state == "55P03" || state == "55006" || cls == "40") {
    throw UnavailableError(message + " (sqlstate " + state + ", transient)");
  }
  if (cls == "22" || cls == "23" || cls == "42" || cls == "0A" || cls == "25" || cls == "2B") {
    throw InvalidArgumentError(message + " (sqlstate " + state + ")");
  }
  if (cls == "53") throw ResourceExhaustedError(message);
  throw ReplyError(message + (state.empty() ? "" : " (sqlstate " + state + ")"));
}

Result Connection::exec(const std::string& sql, ExecStatusType expected) {
  Result result(PQexec(conn_.get(), sql.c_str()));
  if (!result || PQresultStatus(result.get()) != expected) throw_error(result.get(), "exec");
  return result;
}

Result Connection::exec_prepared(const std::string& name, const std::string& sql, Params& params,
                                 ExecStatusType expected) {
  if (!prepared_.contains(name)) {
    Result prepared(PQprepare(conn_.get(), name.c_str(), sql.c_str(), 0, nullptr));
    if (!prepared || PQresultStatus(prepared.get()) != PGRES_COMMAND_OK) {
      throw_error(prepared.get(), "prepare " + name);
    }
    prepared_.insert(name);
  }
  Result result(PQexecPrepared(conn_.get(), name.c_str(), params.size(), params.values(),
                               params.lengths(), params.formats(), /*resultFormat=*/1));
  if (!result || PQresultStatus(result.get()) != expected) throw_error(result.get(), name);
  return result;
}

Pool::Lease::~Lease() {
  if (conn_) pool_->release(std::move(conn_));
}

Pool::Pool(std::string url, std::size_t size, std::chrono::seconds connect_timeout,
           std::chrono::milliseconds acquire_timeout)
    : url_(std::move(url)),
      size_(size),
      connect_timeout_(connect_timeout),
      acquire_timeout_(acquire_timeout) {}

Pool::Lease Pool::acquire() {
  std::unique_lock lock(mutex_);
  const auto deadline = std::chrono::steady_clock::now() + acquire_timeout_;
  while (true) {
    if (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(conn));
    }
    if (open_ < size_) break;
    if (!available_.wait_until(lock, deadline, [&] { return !idle_.empty() || open_ < size_; })) {
      throw ResourceExhaustedError("postgres pool: no connection free within " +
                                   std::to_string(acquire_timeout_.count()) + " ms (pool_size " +
                                   std::to_string(size_) + ")");
    }
  }
  ++open_;
  lock.unlock();
  try {
    return Lease(this, std::make_unique<Connection>(url_, connect_timeout_));
  } catch (...) {
    lock.lock();
    --open_;
    available_.notify_one();
    throw;
  }
}

void Pool::release(std::unique_ptr<Connection> conn) noexcept {
  std::vector<std::unique_ptr<Connection>> discarded;  // closed outside the lock
  {
    std::lock_guard lock(mutex_);
    const bool reusable = !conn->broken() && PQstatus(conn->handle()) == CONNECTION_OK &&
                          PQtransactionStatus(conn->handle()) == PQTRANS_IDLE;
    bool kept = false;
    if (reusable) {
      try {
        idle_.push_back(std::move(conn));
        kept = true;
      } catch (...) {  // out of memory: close it instead
      }
    }
    if (!kept) {
      --open_;
      if (conn && conn->broken()) {
        // The server probably restarted: the idle connections are likely broken as well.
        open_ -= idle_.size();
        discarded.swap(idle_);
      }
    }
  }
  available_.notify_all();
  // `conn` (if not kept) and `discarded` close here, outside the lock.
}

CopyIn::CopyIn(Connection& conn, const std::string& copy_sql) : conn_(conn) {
  (void)conn_.exec(copy_sql, PGRES_COPY_IN);
}

CopyIn::~CopyIn() {
  if (!open_) return;
  // Abort: the server rolls the COPY back. Errors are irrelevant here (and must not escape).
  PQputCopyEnd(conn_.handle(), "aborted by the client");
  while (Result extra{PQgetResult(conn_.handle())}) {
  }
}

void CopyIn::row(std::initializer_list<std::string_view> fields) {
  bool first = true;
  for (const std::string_view field : fields) {
    if (!first) chunk_ += '\t';
    first = false;
    for (const char c : field) {
      switch (c) {
        case '\\':
          chunk_ += "\\\\";
          break;
        case '\t':
          chunk_ += "\\t";
          break;
        case '\n':
          chunk_ += "\\n";
          break;
        case '\r':
          chunk_ += "\\r";
          break;
        default:
          chunk_ += c;
      }
    }
  }
  chunk_ += '\n';
  if (chunk_.size() >= (256u << 10)) send();
}

void CopyIn::send() {
  if (PQputCopyData(conn_.handle(), chunk_.data(), static_cast<int>(chunk_.size())) != 1) {
    conn_.throw_error(nullptr, "COPY data");
  }
  chunk_.clear();
}

void CopyIn::finish() {
  if (!chunk_.empty()) send();
  open_ = false;
  if (PQputCopyEnd(conn_.handle(), nullptr) != 1) conn_.throw_error(nullptr, "COPY end");
  Result result(PQgetResult(conn_.handle()));
  const bool ok = result && PQresultStatus(result.get()) == PGRES_COMMAND_OK;
  while (Result extra{PQgetResult(conn_.handle())}) {
  }
  if (!ok) conn_.throw_error(result.get(), "COPY");
}

}  // namespace strata::pg
