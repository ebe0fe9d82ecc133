#include "strata/error.h"

namespace strata {

std::string_view to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "invalid argument";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kTimeout:
      return "timeout";
    case ErrorCode::kCorrupted:
      return "corrupted";
    case ErrorCode::kReply:
      return "reply error";
    case ErrorCode::kProtocol:
      return "protocol error";
    case ErrorCode::kResourceExhausted:
      return "resource exhausted";
    case ErrorCode::kInternal:
      return "internal error";
  }
  return "unknown";
}

std::string_view to_string(TlsFailure failure) noexcept {
  switch (failure) {
    case TlsFailure::kUntrustedCertificate:
      return "untrusted certificate";
    case TlsFailure::kHostnameMismatch:
      return "hostname mismatch";
    case TlsFailure::kCertificateExpired:
      return "certificate expired or not yet valid";
    case TlsFailure::kClientCertificateRequired:
      return "client certificate required";
    case TlsFailure::kPeerNotTls:
      return "peer does not speak TLS";
    case TlsFailure::kPeerRequiresTls:
      return "peer requires TLS";
    case TlsFailure::kHandshake:
      return "handshake failed";
  }
  return "unknown";
}

Error::Error(ErrorCode code, const std::string& message)
    : std::runtime_error(std::string(to_string(code)) + ": " + message), code_(code) {}

}  // namespace strata
