// strata/error.h: the one error type of strata, with a canonical code.
// Use it to tell failures apart: catch strata::Error (or a subclass such as TimeoutError)
// and switch on code(). A cache *miss* is never an error: it is an empty std::optional.
//
//   try { cache.put(key, value); }
//   catch (const strata::UnavailableError& e) { log(e.what()); }
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace strata {

// Canonical error kinds (after absl::StatusCode), narrowed to what a cache meets.
enum class ErrorCode {
  kInvalidArgument,    // the caller's input or configuration is wrong; retrying will not help
  kUnavailable,        // a server or connection cannot be reached now; retrying later may help
  kTimeout,            // an operation did not finish within its deadline
  kCorrupted,          // stored bytes could not be decoded (bad envelope, checksum, truncation)
  kReply,              // a server answered with an error reply (e.g. Redis "-ERR ...")
  kProtocol,           // a server answered something the protocol does not allow
  kResourceExhausted,  // a bounded queue or pool is full past its deadline
  kInternal,           // a broken invariant inside strata: a bug, please report it
};

// The name of a code, e.g. "unavailable".
[[nodiscard]] std::string_view to_string(ErrorCode code) noexcept;

// Every exception strata throws is an Error. what() reads "<code>: <message>".
class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message);
  [[nodiscard]] ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

// One subclass per code, so callers can catch the kinds they handle.
template <ErrorCode Code>
class CodedError : public Error {
 public:
  explicit CodedError(const std::string& message) : Error(Code, message) {}
};
using InvalidArgumentError = CodedError<ErrorCode::kInvalidArgument>;
using UnavailableError = CodedError<ErrorCode::kUnavailable>;
using TimeoutError = CodedError<ErrorCode::kTimeout>;
using CorruptedError = CodedError<ErrorCode::kCorrupted>;
using ReplyError = CodedError<ErrorCode::kReply>;
using ProtocolError = CodedError<ErrorCode::kProtocol>;
using ResourceExhaustedError = CodedError<ErrorCode::kResourceExhausted>;
using InternalError = CodedError<ErrorCode::kInternal>;

// Why a TLS connection could not be made (TlsError::failure()).
enum class TlsFailure {
  kUntrustedCertificate,       // the server's certificate does not chain to a trusted CA
  kHostnameMismatch,           // the certificate is not for the name (or IP) connected to
  kCertificateExpired,         // the certificate is expired or not yet valid
  kClientCertificateRequired,  // the server wants a client certificate (mutual TLS)
  kPeerNotTls,                 // the server does not speak TLS (a plaintext port?)
  kPeerRequiresTls,            // a plaintext client met a TLS-only port
  kHandshake,                  // any other handshake failure (protocol versions, ciphers, ...)
};
[[nodiscard]] std::string_view to_string(TlsFailure failure) noexcept;

// A TLS connection that failed, and why. An UnavailableError, so that breakers and fallbacks
// treat it as an unreachable server; catch TlsError to tell a configuration error apart.
class TlsError : public UnavailableError {
 public:
  TlsError(TlsFailure failure, const std::string& message)
      : UnavailableError(message), failure_(failure) {}
  [[nodiscard]] TlsFailure failure() const noexcept { return failure_; }

 private:
  TlsFailure failure_;
};

}  // namespace strata
