// connection_hook.h: a setup step that every pooled connection of a CommandRouter runs before
// it carries a command, and runs again whenever the hook says its node's setup changed.
//
// Redis server-assisted client-side caching (src/coherence/redis_tracking.cc) needs it: every
// data connection must run CLIENT TRACKING on REDIRECT <id> towards the invalidation connection
// of its node, on connect, on every reconnect, and again when that invalidation connection was
// replaced (a new id). The pool asks epoch() on each checkout (a cheap comparison) and calls
// setup() only when the connection's recorded epoch differs.
//
// Contract:
//  - epoch() is called on every checkout, from any thread: it must be cheap and never block on
//    I/O. A non-zero value; a change means "set the connections of this node up again".
//  - setup() runs on the borrowing thread, with no pool lock held, on a connection nobody else
//    uses; it returns the epoch it set the connection up for (read together with what it sent,
//    so a concurrent change is never recorded as applied). It throws strata::Error to refuse
//    the connection: the pool then drops it and the caller sees the error.
#pragma once

#include <cstdint>

namespace strata::redis {

class Connection;
class NodePool;

class ConnectionHook {
 public:
  virtual ~ConnectionHook() = default;
  [[nodiscard]] virtual std::uint64_t epoch(const NodePool& node) const = 0;
  [[nodiscard]] virtual std::uint64_t setup(NodePool& node, Connection& connection) = 0;
};

}  // namespace strata::redis
