#include "redis/connection.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <iostream>
#include <mutex>
#include <vector>

#include "strata/error.h"

namespace strata::redis {
namespace {

using Clock = std::chrono::steady_clock;

// Milliseconds left until `deadline` for poll(2): -1 (forever) for time_point::max(), at least
// 1 while any time is left, 0 once it passed.
int poll_timeout(Clock::time_point deadline) {
  if (deadline == Clock::time_point::max()) return -1;
  const auto left = deadline - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::min<long long>(ms, 1 << 30));
}

std::string errno_text(int err) {
  char buffer[128];
  // GNU strerror_r returns the message (maybe not in buffer).
  return ::strerror_r(err, buffer, sizeof buffer);
}

// Appends `n` in decimal.
void append_number(std::string& out, std::size_t n) {
  char digits[24];
  char* end = digits + sizeof digits;
  char* p = end;
  do {
    *--p = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n != 0);
  out.append(p, end);
}

}  // namespace

void frame(std::string& out, std::span<const std::string_view> argv) {
  std::size_t size = 16;
  for (const auto arg : argv) size += arg.size() + 16;
  out.reserve(out.size() + size);
  out += '*';
  append_number(out, argv.size());
  out += "\r\n";
  for (const auto arg : argv) {
    out += '$';
    append_number(out, arg.size());
    out += "\r\n";
    out.append(arg.data(), arg.size());
    out += "\r\n";
  }
}

namespace {

void set_socket_options(int fd) {
  const int on = 1;
  // Small commands go out at once (pipelines are written in one send anyway).
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  // Keep-alive notices a dead peer on an idle connection (a pooled one, a subscriber): probes
  // after 30 s idle, every 10 s, 3 of them.
  (void)::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  const int idle = 30, interval = 10, count = 3;
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}

// --- TLS (OpenSSL) ---------------------------------------------------------------------------

// OpenSSL's socket BIO writes with write(2): a peer that closed its end would raise SIGPIPE and
// kill the process. Plaintext connections use send(MSG_NOSIGNAL); for TLS, SIGPIPE is ignored
// once, unless the application installed its own handler.
void ignore_sigpipe_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction current {};
    if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
      std::signal(SIGPIPE, SIG_IGN);
    }
  });
}

// The OpenSSL errors queued on this thread, as text (the queue is emptied).
std::string ssl_errors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(e, buffer, sizeof buffer);
    if (!out.empty()) out += "; ";
    out += buffer;
  }
  return out;
}

bool is_ip_literal(const std::string& host) {
  in_addr v4{};
  in6_addr v6{};
  return ::inet_pton(AF_INET, host.c_str(), &v4) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), &v6) == 1;
}

struct ContextDeleter {
  void operator()(SSL_CTX* context) const noexcept { SSL_CTX_free(context); }
};
using Context = std::shared_ptr<SSL_CTX>;

// Called by OpenSSL when the server asks for a client certificate and none is configured: notes
// it (the flag the connection set as the session's app data) and sends none. A TLS 1.3 server
// that requires one then closes the connection after the handshake has completed on our side,
// so this note is what lets the failure say why.
int note_client_certificate_request(SSL* ssl, X509** /*certificate*/, EVP_PKEY** /*key*/) {
  if (auto* requested = static_cast<bool*>(SSL_get_app_data(ssl))) *requested = true;
  return 0;
}

Context make_context(const RedisTlsOptions& o) {
  const std::string prefix = "redis TLS: ";
  Context context(SSL_CTX_new(TLS_client_method()), ContextDeleter{});
  if (!context) throw ResourceExhaustedError(prefix + "cannot create a context: " + ssl_errors());
  SSL_CTX* ctx = context.get();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // One read(2) takes whatever the socket holds (a record's header and body, or several
  // records of a pipeline's replies) instead of a header read and a body read per record.
  SSL_CTX_set_read_ahead(ctx, 1);
  if (o.insecure_skip_verify) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    std::cerr << "strata: WARNING: TLS certificate verification is OFF for Redis "
                 "(tls_insecure_skip_verify=true): any server, an attacker's included, is "
                 "trusted. Never use this outside a throwaway test setup.\n";
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    if (!o.ca_file.empty() || !o.ca_dir.empty()) {
      if (SSL_CTX_load_verify_locations(ctx, o.ca_file.empty() ? nullptr : o.ca_file.c_str(),
                                        o.ca_dir.empty() ? nullptr : o.ca_dir.c_str()) != 1) {
        throw InvalidArgumentError(prefix + "cannot load the trusted CAs (tls_ca '" + o.ca_file +
                                   "', tls_ca_dir '" + o.ca_dir + "'): " + ssl_errors());
      }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      throw InvalidArgumentError(prefix + "cannot load the system's trusted CAs: " + ssl_errors());
    }
  }
  if (!o.key_file.empty() && o.cert_file.empty()) {
    throw InvalidArgumentError(prefix + "tls_key needs tls_cert (the client certificate)");
  }
  if (o.cert_file.empty()) SSL_CTX_set_client_cert_cb(ctx, note_client_certificate_request);
  if (!o.cert_file.empty()) {
    const std::string& key = o.key_file.empty() ? o.cert_file : o.key_file;
    if (SSL_CTX_use_certificate_chain_file(ctx, o.cert_file.c_str()) != 1) {
      throw InvalidArgumentError(prefix + "cannot load the client certificate '" + o.cert_file +
                                 "': " + ssl_errors());
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
      throw InvalidArgumentError(prefix + "cannot load the private key '" + key +
                                 "' for the client certificate: " + ssl_errors());
    }
  }
  return context;
}

// One context per distinct TLS configuration, shared by every connection that uses it, so that
// CAs and keys are loaded once (and the warning of insecure_skip_verify printed once).
Context tls_context(const RedisTlsOptions& o) {
  static std::mutex mutex;
  static std::vector<std::pair<RedisTlsOptions, Context>> contexts;
  std::lock_guard lock(mutex);
  for (const auto& [options, context] : contexts) {
    if (options == o) return context;
  }
  Context context = make_context(o);
  contexts.emplace_back(o, context);
  return context;
}

// What a failed handshake or TLS read means, from the verification result and the error text.
TlsError tls_error(SSL* ssl, const std::string& prefix, std::string reason) {
  const long verify = ssl != nullptr ? SSL_get_verify_result(ssl) : X509_V_OK;
  if (verify != X509_V_OK) {
    const std::string why = X509_verify_cert_error_string(verify);
    switch (verify) {
      case X509_V_ERR_HOSTNAME_MISMATCH:
      case X509_V_ERR_IP_ADDRESS_MISMATCH:
        return TlsError(TlsFailure::kHostnameMismatch,
                        prefix + "the server's certificate is not for this host (" + why +
                            "; set tls_server_name to the name in the certificate)");
      case X509_V_ERR_CERT_HAS_EXPIRED:
      case X509_V_ERR_CERT_NOT_YET_VALID:
        return TlsError(TlsFailure::kCertificateExpired,
                        prefix + "the server's certificate is not valid now (" + why + ")");
      default:
        return TlsError(TlsFailure::kUntrustedCertificate,
                        prefix + "the server's certificate is not trusted (" + why +
                            "; check tls_ca / tls_ca_dir)");
    }
  }
  if (reason.find("wrong version number") != std::string::npos ||
      reason.find("packet length too long") != std::string::npos ||
      reason.find("http request") != std::string::npos ||
      reason.find("unknown protocol") != std::string::npos) {
    return TlsError(
        TlsFailure::kPeerNotTls,
        prefix + "the server does not speak TLS (a plaintext port? use redis://): " + reason);
  }
  if (reason.find("certificate required") != std::string::npos) {
    return TlsError(TlsFailure::kClientCertificateRequired,
                    prefix + "the server requires a client certificate (set tls_cert and " +
                        "tls_key): " + reason);
  }
  if (reason.empty()) reason = "the connection was closed during the TLS handshake";
  return TlsError(TlsFailure::kHandshake, prefix + "TLS handshake failed: " + reason);
}

}  // namespace

ConnectOptions connect_options(const RedisUrl& url) {
  return ConnectOptions{
      url.connect_timeout, url.command_timeout, url.user, url.password, url.db, url.tls,
      url.sentinel,        url.multiplex};
}

std::string to_address(const RedisEndpoint& endpoint) {
  const bool v6 = endpoint.host.find(':') != std::string::npos;
  return (v6 ? "[" + endpoint.host + "]" : endpoint.host) + ":" + std::to_string(endpoint.port);
}

Connection::Fd& Connection::Fd::operator=(Fd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

Connection::Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

void Connection::SslDeleter::operator()(ssl_st* ssl) const noexcept {
  SSL_free(ssl);
}

Connection::Connection(Fd fd, Ssl ssl, std::string address,
                       std::chrono::milliseconds command_timeout)
    : fd_(std::move(fd)),
      ssl_(std::move(ssl)),
      address_(std::move(address)),
      command_timeout_(command_timeout),
      last_used_(Clock::now()) {}

Connection::~Connection() {
  // A close_notify for a clean TLS close, best effort (never blocks: the socket is
  // non-blocking, and the answer is not awaited).
  if (ssl_ && !broken_) (void)SSL_shutdown(ssl_.get());
}

std::unique_ptr<Connection> Connection::open(const RedisEndpoint& endpoint,
                                             const ConnectOptions& options) {
  std::string address = to_address(endpoint);
  const std::string prefix = "redis " + address + ": ";
  const auto connect_deadline = options.connect_timeout.count() > 0
                                    ? Clock::now() + options.connect_timeout
                                    : Clock::time_point::max();

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(endpoint.port);
  if (const int rc = ::getaddrinfo(endpoint.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    throw UnavailableError(prefix + "cannot resolve the host: " + ::gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, &::freeaddrinfo);

  // Every address in turn, all within the one connect timeout.
  std::string last_error = "no address";
  bool timed_out = false;
  Fd fd;
  for (const addrinfo* ai = addresses.get(); ai != nullptr; ai = ai->ai_next) {
    Fd candidate(
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
    if (candidate.get() < 0) {
      last_error = errno_text(errno);
      continue;
    }
    if (::connect(candidate.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        last_error = errno_text(errno);
        continue;
      }
      pollfd pfd{candidate.get(), POLLOUT, 0};
      int ready;
      do {
        ready = ::poll(&pfd, 1, poll_timeout(connect_deadline));
      } while (ready < 0 && errno == EINTR);
      if (ready == 0) {
        timed_out = true;
        break;
      }
      int err = 0;
      socklen_t len = sizeof err;
      if (ready < 0 || ::getsockopt(candidate.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
        last_error = errno_text(errno);
        continue;
      }
      if (err != 0) {
        last_error = errno_text(err);
        continue;
      }
    }
    fd = std::move(candidate);
    break;
  }
  if (fd.get() < 0) {
    if (timed_out) {
      throw TimeoutError(prefix + "connect timed out after " +
                         std::to_string(options.connect_timeout.count()) + "ms");
    }
    throw UnavailableError(prefix + "cannot connect: " + last_error);
  }
  set_socket_options(fd.get());
  Ssl ssl;
  bool client_certificate_requested = false;  // the handshake's note (see make_context)
  if (options.tls.enabled) {
    ignore_sigpipe_once();
    const Context context = tls_context(options.tls);
    ssl.reset(SSL_new(context.get()));
    if (!ssl || SSL_set_fd(ssl.get(), fd.get()) != 1) {
      throw ResourceExhaustedError(prefix + "cannot create a TLS session: " + ssl_errors());
    }
    const std::string& name =
        options.tls.server_name.empty() ? endpoint.host : options.tls.server_name;
    const bool ip = is_ip_literal(name);
    if (!ip) (void)SSL_set_tlsext_host_name(ssl.get(), name.c_str());  // SNI takes names only
    if (!options.tls.insecure_skip_verify) {
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      const int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str())
                        : X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
      if (ok != 1) throw InvalidArgumentError(prefix + "bad TLS server name '" + name + "'");
    }
    SSL_set_app_data(ssl.get(), &client_certificate_requested);
    for (;;) {
      ERR_clear_error();
      const int rc = SSL_connect(ssl.get());
      if (rc == 1) break;
      const int err = SSL_get_error(ssl.get(), rc);
      short events = 0;
      if (err == SSL_ERROR_WANT_READ) events = POLLIN;
      if (err == SSL_ERROR_WANT_WRITE) events = POLLOUT;
      if (events == 0) {
        std::string reason = ssl_errors();
        if (reason.empty() && err == SSL_ERROR_SYSCALL && errno != 0) reason = errno_text(errno);
        throw tls_error(ssl.get(), prefix, std::move(reason));
      }
      pollfd pfd{fd.get(), events, 0};
      int ready;
      do {
        ready = ::poll(&pfd, 1, poll_timeout(connect_deadline));
      } while (ready < 0 && errno == EINTR);
      if (ready == 0) {
        const std::string after = std::to_string(options.connect_timeout.count()) + "ms";
        // Not a byte back to our ClientHello: what a plaintext Redis does (it waits for the end
        // of an inline command that never comes).
        if (BIO_number_read(SSL_get_rbio(ssl.get())) == 0) {
          throw TlsError(TlsFailure::kPeerNotTls,
                         prefix + "no answer to the TLS handshake within " + after +
                             ": the server does not speak TLS (a plaintext port? use redis://)");
        }
        throw TimeoutError(prefix + "TLS handshake timed out after " + after);
      }
      if (ready < 0) throw UnavailableError(prefix + "poll failed: " + errno_text(errno));
    }
  }
  if (ssl) SSL_set_app_data(ssl.get(), nullptr);  // the flag lives on this stack frame only
  std::unique_ptr<Connection> connection(
      new Connection(std::move(fd), std::move(ssl), std::move(address), options.command_timeout));
  connection->client_certificate_requested_ = client_certificate_requested;

  if (!options.password.empty()) {
    RedisReply reply;
    if (options.user.empty()) {
      const std::string_view argv[] = {"AUTH", options.password};
      reply = connection->command(argv);
    } else {
      const std::string_view argv[] = {"AUTH", options.user, options.password};
      reply = connection->command(argv);
    }
    if (reply.is_error()) {
      // The server's text (e.g. "WRONGPASS invalid username-password pair") never holds the
      // password; neither does this message.
      throw ReplyError("redis " + connection->address_ + ": AUTH failed" +
                       (options.user.empty() ? std::string() : " for user '" + options.user + "'") +
                       ": " + reply.str);
    }
  }
  if (options.db != 0) {
    const std::string db = std::to_string(options.db);
    const std::string_view argv[] = {"SELECT", db};
    const RedisReply reply = connection->command(argv);
    if (reply.is_error()) {
      throw ReplyError("redis " + connection->address_ + ": SELECT " + db +
                       " failed: " + reply.str);
    }
  }
  if (options.require_master) {
    static constexpr std::string_view kRole[] = {"ROLE"};
    const RedisReply reply = connection->command(kRole);
    const std::string role = reply.is_array() && !reply.elements.empty()
                                 ? reply.elements[0].str
                                 : (reply.is_error() ? reply.str : std::string("?"));
    if (role != "master") {
      throw UnavailableError("redis " + connection->address_ + " is not a master (ROLE: " + role +
                             "): a failover moved the master elsewhere");
    }
  }
  return connection;
}

Connection::Clock::time_point Connection::deadline() const noexcept {
  if (command_timeout_.count() <= 0) return Clock::time_point::max();
  return Clock::now() + command_timeout_;
}

void Connection::fail_io(const char* what, int saved_errno) {
  broken_ = true;
  throw UnavailableError("redis " + address_ + ": " + what + ": " + errno_text(saved_errno));
}

void Connection::fail_timeout(const char* what) {
  broken_ = true;
  throw TimeoutError("redis " + address_ + ": " + what + " within the command timeout (" +
                     std::to_string(command_timeout_.count()) + "ms)");
}

void Connection::fail_closed() {
  broken_ = true;
  throw UnavailableError("redis " + address_ + ": connection closed by the server");
}

void Connection::fail_client_certificate_required() {
  broken_ = true;
  ERR_clear_error();
  throw TlsError(TlsFailure::kClientCertificateRequired,
                 "redis " + address_ +
                     ": the server asked for a client certificate and closed the connection "
                     "(mutual TLS: set tls_cert and tls_key)");
}

void Connection::fail_reset_before_reply() {
  broken_ = true;
  // What a TLS-only port (Redis with --port 0 --tls-port) does to a plaintext client: it resets
  // the connection without a byte. (A plaintext server never resets a new connection before
  // answering; one that crashed at that instant is still an UnavailableError.)
  throw TlsError(TlsFailure::kPeerRequiresTls,
                 "redis " + address_ +
                     ": the server reset the connection before answering: a TLS-only port? "
                     "(use rediss://)");
}

void Connection::fail_protocol(const ProtocolError& error) {
  broken_ = true;
  throw ProtocolError("redis " + address_ + ": bad reply: " + error.what());
}

bool Connection::wait_for(short events, Clock::time_point deadline, int wake_fd, bool* woken) {
  pollfd fds[2] = {{fd_.get(), events, 0}, {wake_fd, POLLIN, 0}};
  const nfds_t count = wake_fd >= 0 ? 2 : 1;
  for (;;) {
    const int ready = ::poll(fds, count, poll_timeout(deadline));
    if (ready > 0) break;
    if (ready == 0) return false;
    if (errno != EINTR) fail_io("poll failed", errno);
  }
  if (woken != nullptr) *woken = count == 2 && (fds[1].revents & POLLIN) != 0;
  // POLLHUP/POLLERR: the read or write that follows reports what happened.
  return fds[0].revents != 0;
}

bool Connection::read_some() {
  char buffer[16 * 1024];
  for (;;) {
    std::size_t n = 0;
    if (ssl_) {
      int rc;
      int err = SSL_ERROR_NONE;
      {
        std::lock_guard lock(ssl_mutex_);
        ERR_clear_error();
        rc = SSL_read_ex(ssl_.get(), buffer, sizeof buffer, &n);
        if (rc != 1) err = SSL_get_error(ssl_.get(), rc);
      }
      if (rc != 1) {
        if (err == SSL_ERROR_WANT_READ) return false;
        if (err == SSL_ERROR_WANT_WRITE) {  // renegotiation: rare; wait until writable
          if (!wait_for(POLLOUT, deadline())) fail_timeout("could not read the reply");
          continue;
        }
        if (client_certificate_requested_ && !got_bytes_) fail_client_certificate_required();
        if (err == SSL_ERROR_ZERO_RETURN) fail_closed();
        std::string reason = ssl_errors();
        if (err == SSL_ERROR_SYSCALL && reason.empty()) {
          if (errno == 0 || errno == ECONNRESET || errno == EPIPE) fail_closed();
          fail_io("TLS read failed", errno);
        }
        broken_ = true;
        // E.g. a TLS 1.3 server that wants a client certificate says so after the handshake.
        throw tls_error(nullptr, "redis " + address_ + ": ", std::move(reason));
      }
    } else {
      const ssize_t got = ::recv(fd_.get(), buffer, sizeof buffer, 0);
      if (got == 0) fail_closed();
      if (got < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
        if (errno == ECONNRESET && !got_bytes_) fail_reset_before_reply();
        fail_io("read failed", errno);
      }
      n = static_cast<std::size_t>(got);
      // A TLS record (alert 0x15, handshake 0x16, then version 3.x) as the very first bytes of
      // a plaintext connection: the port speaks TLS only.
      if (!got_bytes_ && n >= 2 && (buffer[0] == 0x15 || buffer[0] == 0x16) && buffer[1] == 0x03) {
        broken_ = true;
        throw TlsError(TlsFailure::kPeerRequiresTls,
                       "redis " + address_ + ": the server speaks TLS only (use rediss://)");
      }
    }
    got_bytes_ = true;
    try {
      reader_.feed(std::string_view(buffer, n));
    } catch (const ProtocolError& error) {
      fail_protocol(error);
    }
    return true;
  }
}

void Connection::write_all(Clock::time_point deadline) {
  write_bytes(out_, deadline);
  out_.clear();
  // A big pipeline's buffer is not kept for the life of the connection.
  if (out_.capacity() > 1 << 20) out_.shrink_to_fit();
}

void Connection::write_bytes(std::string_view bytes, Clock::time_point deadline) {
  std::size_t offset = 0;
  while (offset < bytes.size()) {
    const char* data = bytes.data() + offset;
    const std::size_t size = bytes.size() - offset;
    if (ssl_) {
      std::size_t n = 0;
      int rc;
      int err = SSL_ERROR_NONE;
      {
        std::lock_guard lock(ssl_mutex_);
        ERR_clear_error();
        rc = SSL_write_ex(ssl_.get(), data, size, &n);
        if (rc != 1) err = SSL_get_error(ssl_.get(), rc);
      }
      if (rc == 1) {
        offset += n;
        continue;
      }
      if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
        if (!wait_for(err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN, deadline)) {
          fail_timeout("could not write the command");
        }
        continue;
      }
      if (client_certificate_requested_ && !got_bytes_) fail_client_certificate_required();
      if (err == SSL_ERROR_ZERO_RETURN) fail_closed();
      const std::string reason = ssl_errors();
      if (err == SSL_ERROR_SYSCALL && reason.empty()) fail_io("TLS write failed", errno);
      broken_ = true;
      throw tls_error(nullptr, "redis " + address_ + ": ", reason);
    }
    const ssize_t n = ::send(fd_.get(), data, size, MSG_NOSIGNAL);
    if (n >= 0) {
      offset += static_cast<std::size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if ((errno == ECONNRESET || errno == EPIPE) && !got_bytes_) fail_reset_before_reply();
    if (errno != EAGAIN && errno != EWOULDBLOCK) fail_io("write failed", errno);
    if (!wait_for(POLLOUT, deadline)) fail_timeout("could not write the command");
  }
}

void Connection::shutdown() noexcept {
  broken_ = true;
  (void)::shutdown(fd_.get(), SHUT_RDWR);
}

RedisReply Connection::command(std::span<const std::string_view> argv) {
  append(argv);
  return read_reply();
}

void Connection::append(std::span<const std::string_view> argv) {
  if (broken_) throw UnavailableError("redis " + address_ + ": connection is broken");
  frame(out_, argv);
}

void Connection::flush() {
  if (broken_) throw UnavailableError("redis " + address_ + ": connection is broken");
  write_all(deadline());
}

std::optional<RedisReply> Connection::parsed_reply() {
  std::optional<RedisReply> reply;
  try {
    reply = reader_.next();
  } catch (const ProtocolError& error) {
    fail_protocol(error);
  }
  if (reply) last_used_ = Clock::now();
  return reply;
}

RedisReply Connection::read_reply() {
  const auto until = deadline();
  if (!out_.empty()) write_all(until);
  for (;;) {
    if (auto reply = parsed_reply()) return std::move(*reply);
    if (read_some()) continue;
    if (!wait_for(POLLIN, until)) fail_timeout("no reply");
  }
}

std::optional<RedisReply> Connection::read_reply_within(std::chrono::milliseconds wait,
                                                        int wake_fd) {
  if (!out_.empty()) write_all(deadline());
  const auto until = Clock::now() + wait;
  for (;;) {
    if (auto reply = parsed_reply()) return reply;
    if (read_some()) continue;
    bool woken = false;
    if (!wait_for(POLLIN, until, wake_fd, &woken) || woken) return std::nullopt;
  }
}

}  // namespace strata::redis
