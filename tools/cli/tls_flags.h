// tls_flags.h: the TLS flags every command that takes a Redis URL accepts (--tls-ca,
// --tls-ca-dir, --tls-cert, --tls-key, --tls-server-name, --tls-insecure), turned into the
// URL's tls_* options (strata/redis/redis_url.h), so that a flag and a URL option mean the same.
//
//   TlsFlags tls;
//   tls.add_to(*command);
//   const std::string url = tls.apply_to(options.redis_url);  // in the command's callback
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace strata::tools {

struct TlsFlags {
  std::string ca;           // --tls-ca FILE
  std::string ca_dir;       // --tls-ca-dir DIR
  std::string cert;         // --tls-cert FILE (mutual TLS)
  std::string key;          // --tls-key FILE
  std::string server_name;  // --tls-server-name NAME
  bool insecure = false;    // --tls-insecure: no certificate verification at all

  void add_to(CLI::App& command);
  [[nodiscard]] bool any() const noexcept;
  // `url` with the flags appended as tls_* options (percent-encoded). An empty url stays empty.
  // Throws InvalidArgumentError when a flag is given for a url that is not rediss://,
  // rediss+cluster:// or rediss+sentinel://.
  [[nodiscard]] std::string apply_to(const std::string& url) const;
  // For a command with two URLs (--redis and --redis-cluster): the flags go to each TLS one;
  // throws InvalidArgumentError when flags are given and neither is a TLS URL.
  void apply_to_each(std::string& first, std::string& second) const;
  [[nodiscard]] static bool is_tls_url(const std::string& url) noexcept;
};

}  // namespace strata::tools
