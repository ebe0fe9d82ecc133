#include "cli/tls_flags.h"

#include <CLI/CLI.hpp>

#include "strata/error.h"

namespace strata::tools {
namespace {

std::string percent_encode(const std::string& value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    const bool plain = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                       c == '-' || c == '.' || c == '_' || c == '~' || c == '/';
    if (plain) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

void TlsFlags::add_to(CLI::App& command) {
  const std::string group = "TLS (with rediss://, rediss+cluster:// and rediss+sentinel:// URLs)";
  command.add_option("--tls-ca", ca, "PEM file of the CAs that sign the server's certificate")
      ->group(group);
  command.add_option("--tls-ca-dir", ca_dir, "Hashed directory of trusted CAs")->group(group);
  command.add_option("--tls-cert", cert, "Client certificate (PEM) for mutual TLS")->group(group);
  command.add_option("--tls-key", key, "Private key of --tls-cert (default: the same file)")
      ->group(group);
  command
      .add_option("--tls-server-name", server_name,
                  "Name to verify in the server's certificate (and send as SNI)")
      ->group(group);
  command
      .add_flag("--tls-insecure", insecure,
                "INSECURE: accept any server certificate, an attacker's included")
      ->group(group);
}

bool TlsFlags::is_tls_url(const std::string& url) noexcept {
  return url.starts_with("rediss://") || url.starts_with("rediss+cluster://") ||
         url.starts_with("rediss+sentinel://");
}

void TlsFlags::apply_to_each(std::string& first, std::string& second) const {
  if (!any()) return;
  if (!is_tls_url(first) && !is_tls_url(second)) {
    (void)apply_to(first.empty() ? second : first);  // throws: no TLS URL to apply them to
  }
  if (is_tls_url(first)) first = apply_to(first);
  if (is_tls_url(second)) second = apply_to(second);
}

bool TlsFlags::any() const noexcept {
  return !ca.empty() || !ca_dir.empty() || !cert.empty() || !key.empty() || !server_name.empty() ||
         insecure;
}

std::string TlsFlags::apply_to(const std::string& url) const {
  if (url.empty() || !any()) return url;
  if (!is_tls_url(url)) {
    throw InvalidArgumentError(
        "--tls-* flags need a rediss://, rediss+cluster:// or rediss+sentinel:// URL (got a "
        "plaintext URL)");
  }
  std::string out = url;
  char separator = out.find('?') == std::string::npos ? '?' : '&';
  const auto add = [&](const char* name, const std::string& value) {
    if (value.empty()) return;
    out += separator;
    out += name;
    out += '=';
    out += percent_encode(value);
    separator = '&';
  };
  add("tls_ca", ca);
  add("tls_ca_dir", ca_dir);
  add("tls_cert", cert);
  add("tls_key", key);
  add("tls_server_name", server_name);
  if (insecure) add("tls_insecure_skip_verify", "true");
  return out;
}

}  // namespace strata::tools
