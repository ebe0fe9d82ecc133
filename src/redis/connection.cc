#include "redis/connection.h"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <sys/time.h>

#include <cerrno>
#include <csignal>
#include <mutex>
#include <new>
#include <vector>

#include "redis/reply_reader.h"
#include "strata/error.h"

namespace strata::redis {
namespace {

// hiredis writes with write(2): a peer that closed its end would raise SIGPIPE and kill the
// process. Ignore SIGPIPE once, unless the application installed its own handler.
void ignore_sigpipe_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction current {};
    if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
      std::signal(SIGPIPE, SIG_IGN);
    }
  });
}

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

using ReplyPtr = std::unique_ptr<RedisReply>;

// argv as hiredis wants it (pointers and lengths): on the stack for short commands, in
// per-thread buffers reused across calls for long ones (MGET of many keys), so that sending
// a command allocates nothing of its own.
class ArgvBuffer {
 public:
  explicit ArgvBuffer(std::span<const std::string_view> argv)
      : argc_(static_cast<int>(argv.size())) {
    if (argv.size() > kInline) {
      thread_local std::vector<const char*> heap_ptrs;
      thread_local std::vector<size_t> heap_lens;
      heap_ptrs.resize(argv.size());
      heap_lens.resize(argv.size());
      ptrs_ = heap_ptrs.data();
      lens_ = heap_lens.data();
    }
    for (std::size_t i = 0; i < argv.size(); ++i) {
      ptrs_[i] = argv[i].data();
      lens_[i] = argv[i].size();
    }
  }
  int argc() const { return argc_; }
  const char** ptrs() { return ptrs_; }
  const size_t* lens() const { return lens_; }

 private:
  static constexpr std::size_t kInline = 16;
  const char* inline_ptrs_[kInline];
  size_t inline_lens_[kInline];
  const char** ptrs_ = inline_ptrs_;
  size_t* lens_ = inline_lens_;
  int argc_;
};

}  // namespace

ConnectOptions connect_options(const RedisUrl& url) {
  return ConnectOptions{url.connect_timeout, url.command_timeout, url.user, url.password, url.db};
}

std::string to_address(const RedisEndpoint& endpoint) {
  const bool v6 = endpoint.host.find(':') != std::string::npos;
  return (v6 ? "[" + endpoint.host + "]" : endpoint.host) + ":" + std::to_string(endpoint.port);
}

void Connection::ContextDeleter::operator()(redisContext* context) const noexcept {
  redisFree(context);
}

Connection::Connection(std::unique_ptr<redisContext, ContextDeleter> context, std::string address,
                       std::chrono::milliseconds command_timeout)
    : context_(std::move(context)),
      address_(std::move(address)),
      command_timeout_(command_timeout),
      last_used_(std::chrono::steady_clock::now()) {}

Connection::~Connection() = default;

std::unique_ptr<Connection> Connection::open(const RedisEndpoint& endpoint,
                                             const ConnectOptions& options) {
  ignore_sigpipe_once();
  std::string address = to_address(endpoint);
  std::unique_ptr<redisContext, ContextDeleter> context(redisConnectWithTimeout(
      endpoint.host.c_str(), endpoint.port, to_timeval(options.connect_timeout)));
  if (!context) throw UnavailableError("redis " + address + ": cannot allocate a connection");
  if (context->err != 0) {
    const int saved = errno;
    const std::string reason = context->errstr;
    if (context->err == REDIS_ERR_IO && (saved == ETIMEDOUT || saved == EINPROGRESS ||
                                         reason.find("timed out") != std::string::npos)) {
      throw TimeoutError("redis " + address + ": connect timed out after " +
                         std::to_string(options.connect_timeout.count()) + "ms");
    }
    throw UnavailableError("redis " + address + ": cannot connect: " + reason);
  }
  if (options.command_timeout.count() > 0 &&
      redisSetTimeout(context.get(), to_timeval(options.command_timeout)) != REDIS_OK) {
    throw UnavailableError("redis " + address +
                           ": cannot set the command timeout: " + context->errstr);
  }
  context->reader->fn = reply_functions();
  redisEnableKeepAlive(context.get());  // best effort: notices dead peers on idle connections
  std::unique_ptr<Connection> connection(
      new Connection(std::move(context), std::move(address), options.command_timeout));

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
  return connection;
}

void Connection::fail(int saved_errno) {
  broken_ = true;
  const int err = context_->err;
  const std::string reason = context_->errstr;
  const std::string prefix = "redis " + address_ + ": ";
  switch (err) {
    case REDIS_ERR_IO:
      if (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK || saved_errno == ETIMEDOUT) {
        throw TimeoutError(prefix + "no reply within the command timeout (" +
                           std::to_string(command_timeout_.count()) + "ms)");
      }
      throw UnavailableError(prefix + "I/O error: " + reason);
    case REDIS_ERR_EOF:
      throw UnavailableError(prefix + "connection closed by the server");
    case REDIS_ERR_PROTOCOL:
      throw ProtocolError(prefix + "bad reply: " + reason);
    case REDIS_ERR_OOM:
      throw ResourceExhaustedError(prefix + "out of memory");
    default:
      throw UnavailableError(prefix + reason);
  }
}

RedisReply Connection::command(std::span<const std::string_view> argv) {
  append(argv);
  return read_reply();
}

void Connection::append(std::span<const std::string_view> argv) {
  ArgvBuffer buffer(argv);
  if (redisAppendCommandArgv(context_.get(), buffer.argc(), buffer.ptrs(), buffer.lens()) !=
      REDIS_OK) {
    fail(errno);
  }
}

void Connection::flush() {
  int done = 0;
  do {
    if (redisBufferWrite(context_.get(), &done) != REDIS_OK) fail(errno);
  } while (done == 0);
}

RedisReply Connection::read_reply() {
  void* raw = nullptr;
  if (redisGetReply(context_.get(), &raw) != REDIS_OK) fail(errno);
  ReplyPtr reply(static_cast<RedisReply*>(raw));
  if (!reply) {
    broken_ = true;
    throw ProtocolError("redis " + address_ + ": no reply");
  }
  last_used_ = std::chrono::steady_clock::now();
  return std::move(*reply);
}

std::optional<RedisReply> Connection::read_reply_within(std::chrono::milliseconds wait,
                                                        int wake_fd) {
  void* raw = nullptr;
  if (redisGetReplyFromReader(context_.get(), &raw) != REDIS_OK) fail(errno);
  if (raw == nullptr) {
    flush();
    pollfd fds[2] = {{context_->fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
    const int ready = ::poll(fds, wake_fd >= 0 ? 2 : 1, static_cast<int>(wait.count()));
    if (ready < 0 && errno != EINTR) {
      broken_ = true;
      throw UnavailableError("redis " + address_ + ": poll failed");
    }
    if (ready <= 0 || (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) == 0) return std::nullopt;
    if (redisBufferRead(context_.get()) != REDIS_OK) fail(errno);
    if (redisGetReplyFromReader(context_.get(), &raw) != REDIS_OK) fail(errno);
    if (raw == nullptr) return std::nullopt;
  }
  ReplyPtr reply(static_cast<RedisReply*>(raw));
  last_used_ = std::chrono::steady_clock::now();
  return std::move(*reply);
}

}  // namespace strata::redis
