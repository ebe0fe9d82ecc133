#include "strata/redis/redis_url.h"

#include <charconv>
#include <limits>

#include "strata/error.h"

namespace strata {
namespace {

[[noreturn]] void bad_url(const std::string& what) {
  throw InvalidArgumentError("redis url: " + what);
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes; `part` names the URL part for the error (its value is never echoed,
// since it may be a password).
std::string percent_decode(std::string_view text, const char* part) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) {
      bad_url(std::string("incomplete percent escape in the ") + part);
    }
    const int hi = hex_digit(text[i + 1]);
    const int lo = hex_digit(text[i + 2]);
    if (hi < 0 || lo < 0) bad_url(std::string("bad percent escape in the ") + part);
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

template <typename Int>
Int parse_int(std::string_view text, Int min, Int max, const std::string& what) {
  Int value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < min || value > max) {
    bad_url(what + " must be an integer from " + std::to_string(min) + " to " +
            std::to_string(max) + ", got '" + std::string(text) + "'");
  }
  return value;
}

std::chrono::milliseconds parse_duration(std::string_view text, const std::string& option) {
  long long scale = 1;
  if (text.ends_with("ms")) {
    text.remove_suffix(2);
  } else if (text.ends_with("s")) {
    text.remove_suffix(1);
    scale = 1000;
  }
  const auto n = parse_int<long long>(text, 0, 24LL * 3600 * 1000, "option " + option);
  return std::chrono::milliseconds(n * scale);
}

// A host is a name (letters, digits, '-', '.', '_') or an IP address; in brackets, an IPv6
// address (hex digits, ':', '.', and '%' with an alphanumeric zone). Anything else (a NUL, a
// space, a newline, '/', '@') is refused, naming the byte and where it is.
void check_host(std::string_view host, bool bracketed) {
  for (std::size_t i = 0; i < host.size(); ++i) {
    const auto c = static_cast<unsigned char>(host[i]);
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool ok =
        alnum || c == '.' || (bracketed ? (c == ':' || c == '%') : (c == '-' || c == '_'));
    if (!ok) {
      bad_url("host has a byte it cannot contain (" + std::to_string(c) + ") at offset " +
              std::to_string(i));
    }
  }
}

RedisEndpoint parse_endpoint(std::string_view text, bool port_required,
                             std::uint16_t default_port) {
  RedisEndpoint endpoint;
  endpoint.port = default_port;
  std::string_view port_text;
  if (text.starts_with('[')) {  // [ipv6]:port
    const auto close = text.find(']');
    if (close == std::string_view::npos)
      bad_url("unclosed '[' in host '" + std::string(text) + "'");
    endpoint.host = std::string(text.substr(1, close - 1));
    const auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') bad_url("expected ':port' after ']' in '" + std::string(text) + "'");
      port_text = rest.substr(1);
    }
  } else {
    const auto colon = text.rfind(':');
    endpoint.host = std::string(text.substr(0, colon));
    if (colon != std::string_view::npos) port_text = text.substr(colon + 1);
  }
  if (endpoint.host.empty()) bad_url("missing host in '" + std::string(text) + "'");
  check_host(endpoint.host, text.starts_with('['));
  if (text.starts_with('[') && endpoint.host.find(':') == std::string::npos) {
    bad_url("a host in brackets must be an IPv6 address");
  }
  if (port_text.empty()) {
    if (port_required) bad_url("missing port in cluster node '" + std::string(text) + "'");
  } else {
    endpoint.port = parse_int<std::uint16_t>(port_text, 1, 65535, "port");
  }
  return endpoint;
}

void apply_option(RedisUrl& url, std::string_view name, std::string_view value) {
  const std::string option(name);
  if (name == "connect_timeout") {
    url.connect_timeout = parse_duration(value, option);
  } else if (name == "command_timeout") {
    url.command_timeout = parse_duration(value, option);
  } else if (name == "pool_size") {
    url.pool_size = parse_int<int>(value, 1, 1024, "option pool_size");
  } else if (name == "retries") {
    url.retries = parse_int<int>(value, 0, 100, "option retries");
  } else if (name == "multiplex") {
    if (value != "true" && value != "false") bad_url("option multiplex must be true or false");
    url.multiplex = value == "true";
  } else if (name == "sentinel_user" || name == "sentinel_password") {
    if (!url.sentinel) bad_url("option '" + option + "' needs a redis+sentinel:// URL");
    const std::string part = "option " + option;
    (name == "sentinel_user" ? url.sentinel_user : url.sentinel_password) =
        percent_decode(value, part.c_str());
  } else if (name.starts_with("tls_")) {
    if (!url.tls.enabled) bad_url("option '" + option + "' needs the rediss:// scheme");
    const std::string part = "option " + option;
    std::string decoded = percent_decode(value, part.c_str());
    if (name == "tls_ca") {
      url.tls.ca_file = std::move(decoded);
    } else if (name == "tls_ca_dir") {
      url.tls.ca_dir = std::move(decoded);
    } else if (name == "tls_cert") {
      url.tls.cert_file = std::move(decoded);
    } else if (name == "tls_key") {
      url.tls.key_file = std::move(decoded);
    } else if (name == "tls_server_name") {
      url.tls.server_name = std::move(decoded);
    } else if (name == "tls_insecure_skip_verify") {
      if (decoded != "true" && decoded != "false") {
        bad_url("option tls_insecure_skip_verify must be true or false");
      }
      url.tls.insecure_skip_verify = decoded == "true";
    } else {
      bad_url("unknown option '" + option +
              "' (known: tls_ca, tls_ca_dir, tls_cert, tls_key, tls_server_name, "
              "tls_insecure_skip_verify)");
    }
  } else {
    bad_url("unknown option '" + option +
            "' (known: connect_timeout, command_timeout, pool_size, retries, multiplex, tls_*, "
            "sentinel_user, sentinel_password)");
  }
}

}  // namespace

RedisUrl parse_redis_url(std::string_view text) {
  RedisUrl url;
  struct Scheme {
    std::string_view prefix;
    bool cluster;
    bool sentinel;
    bool tls;
  };
  static constexpr Scheme kSchemes[] = {
      {"redis://", false, false, false},         {"redis+cluster://", true, false, false},
      {"redis+sentinel://", false, true, false}, {"rediss://", false, false, true},
      {"rediss+cluster://", true, false, true},  {"rediss+sentinel://", false, true, true}};
  bool known = false;
  for (const Scheme& scheme : kSchemes) {
    if (!text.starts_with(scheme.prefix)) continue;
    text.remove_prefix(scheme.prefix.size());
    url.cluster = scheme.cluster;
    url.sentinel = scheme.sentinel;
    url.tls.enabled = scheme.tls;
    known = true;
    break;
  }
  if (!known) {
    bad_url(
        "scheme must be redis://, redis+cluster://, redis+sentinel://, rediss://, "
        "rediss+cluster:// or rediss+sentinel://");
  }

  // The user info first, up to the last '@': a password may hold '?', '/', '#' or '@' (the
  // parts split below), and no part of it may ever reach an error message.
  if (const auto at = text.rfind('@'); at != std::string_view::npos) {
    const auto userinfo = text.substr(0, at);
    text = text.substr(at + 1);
    const auto colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      url.password = percent_decode(userinfo, "password");  // redis://secret@host, as redis-cli
    } else {
      url.user = percent_decode(userinfo.substr(0, colon), "user");
      url.password = percent_decode(userinfo.substr(colon + 1), "password");
    }
  }

  if (const auto query = text.find('?'); query != std::string_view::npos) {
    std::string_view options = text.substr(query + 1);
    text = text.substr(0, query);
    while (!options.empty()) {
      const auto amp = options.find('&');
      const auto pair = options.substr(0, amp);
      const auto eq = pair.find('=');
      if (eq == std::string_view::npos || eq == 0) {
        bad_url("option '" + std::string(pair.substr(0, 64)) + "' must be name=value");
      }
      apply_option(url, pair.substr(0, eq), pair.substr(eq + 1));
      options = amp == std::string_view::npos ? std::string_view{} : options.substr(amp + 1);
    }
  }

  if (url.sentinel) {  // /master-name[/db]
    const auto slash = text.find('/');
    std::string_view path =
        slash == std::string_view::npos ? std::string_view{} : text.substr(slash + 1);
    if (slash != std::string_view::npos) text = text.substr(0, slash);
    const auto db_slash = path.find('/');
    url.master_name = percent_decode(path.substr(0, db_slash), "master name");
    if (url.master_name.empty()) {
      bad_url("a sentinel URL names its master: redis+sentinel://host:port/<master-name>");
    }
    if (db_slash != std::string_view::npos && db_slash + 1 < path.size()) {
      url.db = parse_int<int>(path.substr(db_slash + 1), 0, 1 << 20, "db");
    }
  } else if (const auto slash = text.find('/'); slash != std::string_view::npos) {
    const auto db = text.substr(slash + 1);
    text = text.substr(0, slash);
    if (!db.empty()) {
      if (url.cluster) bad_url("a cluster URL cannot select a db (Redis Cluster only has db 0)");
      url.db = parse_int<int>(db, 0, 1 << 20, "db");
    }
  }

  while (!text.empty()) {
    const auto comma = text.find(',');
    const auto node = text.substr(0, comma);
    if (!url.cluster && !url.sentinel && comma != std::string_view::npos) {
      bad_url("several hosts need the redis+cluster:// or redis+sentinel:// scheme");
    }
    url.nodes.push_back(parse_endpoint(node, url.cluster, url.sentinel ? 26379 : 6379));
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    if (comma != std::string_view::npos && text.empty()) bad_url("empty node after ','");
  }
  if (url.nodes.empty()) bad_url("missing host");
  return url;
}

std::string RedisUrl::redacted() const {
  std::string out = cluster ? "redis+cluster://" : sentinel ? "redis+sentinel://" : "redis://";
  if (tls.enabled) out.insert(5, "s");  // rediss://, rediss+cluster:// or rediss+sentinel://
  // Percent-encoded, so that the result parses back.
  const auto append_encoded = [&out](std::string_view text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (const char ch : text) {
      const auto c = static_cast<unsigned char>(ch);
      const bool plain = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                         (c >= 'A' && c <= 'Z') || c == '-' || c == '.' || c == '_' || c == '~';
      if (plain) {
        out += ch;
      } else {
        out += '%';
        out += kHex[c >> 4];
        out += kHex[c & 15];
      }
    }
  };
  if (!user.empty() || !password.empty()) {
    append_encoded(user);
    out += password.empty() ? ":" : ":***";  // "user:@" keeps a user without a password
    out += '@';
  }
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (i > 0) out += ',';
    const bool v6 = nodes[i].host.find(':') != std::string::npos;
    out += v6 ? "[" + nodes[i].host + "]" : nodes[i].host;
    out += ':' + std::to_string(nodes[i].port);
  }
  if (sentinel) {
    out += '/';
    append_encoded(master_name);
  }
  if (db != 0) out += '/' + std::to_string(db);
  return out;
}

}  // namespace strata
