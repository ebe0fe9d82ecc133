// ops/ops_context.h: what every operator command (`strata inspect|get|put|del|invalidate|
// dead-letters|journal`) shares: the connection options, spelled as the library's (Redis and
// Redis Cluster URLs, PostgreSQL URL, SQLite path, key prefix, value format, codec, table
// mapping), and OpsContext, which builds from them the same Cache<nlohmann::json> an
// application builds, so that the CLI reads and writes through the library's code path.
//
//   strata::ops::ConnectionOptions o{.redis = "redis://127.0.0.1:6379", .key_prefix = "app:"};
//   strata::ops::OpsContext ctx(o);
//   std::optional<nlohmann::json> v = ctx.cache().get("42");
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "cli/tls_flags.h"
#include "strata/cache/cache.h"
#include "strata/codec/msgpack.h"
#include "strata/invalidation/invalidation.h"
#include "strata/redis/redis_client.h"
#include "strata/source/postgres_source.h"
#include "strata/source/sqlite_source.h"
#include "strata/source/table_mapping.h"
#include "strata/write_behind/write_behind.h"

namespace strata::ops {

using Json = nlohmann::json;

// The options every operator command accepts (the names match the library's options).
struct ConnectionOptions {
  std::string redis;                 // --redis redis://host:port
  std::string redis_cluster;         // --redis-cluster redis+cluster://seed,seed
  tools::TlsFlags tls;               // --tls-ca, --tls-cert, ... (applied to both URLs)
  std::string postgres;              // --postgres postgresql://...
  std::string sqlite;                // --sqlite PATH
  std::string key_prefix;            // --key-prefix: CacheBuilder::key_prefix
  std::string format = "envelope";   // --format envelope|plain
  std::string codec = "json";        // --codec json|msgpack
  std::string compression = "zstd";  // --compression zstd|lz4|none (for writes)
  std::size_t compression_threshold = 1024;
  // The table mapping (TableMapping<V>): typed columns ("name:type") or one document column.
  std::string table;
  std::string key_column = "key";
  std::string value_column = "value";
  std::string value_column_type;      // document column: json|text|bytes (default per codec)
  std::vector<std::string> columns;   // --column name:type (repeatable): a typed mapping
  double ttl_seconds = 600;           // --ttl: RemoteTierOptions::ttl
  double ttl_jitter = 0.1;            // --ttl-jitter: RemoteTierOptions::ttl_jitter
  std::string write_mode = "around";  // --write-mode around|through|behind
  std::string journal;                // --journal DIR: the write-behind directory
  // Invalidation (strata/invalidation/invalidation.h): commands that change L2 announce it on the
  // bus so every instance's L1 drops the key (CacheBuilder::coherence(kBus)), unless
  // --no-broadcast.
  bool broadcast = true;
  std::string bus_channel = "strata:invalidation";  // InvalidationBusOptions::channel
  std::string dependency_prefix = "deps:";          // InvalidationBusOptions::dependency_prefix
  bool json = false;                                // --json: machine-readable output

  // Throws InvalidArgumentError naming the option.
  void validate() const;
  [[nodiscard]] bool has_redis() const { return !redis.empty() || !redis_cluster.empty(); }
  [[nodiscard]] bool has_source() const { return !postgres.empty() || !sqlite.empty(); }
};

// Adds --redis, --redis-cluster, --key-prefix, --format, --codec, --compression,
// --compression-threshold, --ttl, --ttl-jitter and --json.
void add_cache_options(CLI::App& cmd, ConnectionOptions& o);
// Adds --postgres, --sqlite, --table, --key-column, --value-column, --value-column-type,
// --column.
void add_source_options(CLI::App& cmd, ConnectionOptions& o);
// Adds --write-mode and --journal.
void add_write_options(CLI::App& cmd, ConnectionOptions& o);
// Adds --no-broadcast, --bus-channel and --dependency-prefix.
void add_bus_options(CLI::App& cmd, ConnectionOptions& o);

// The source of record the options name, as the application's TableSource<nlohmann::json>.
using SqliteJsonSource = SqliteSource<Json>;
using PostgresJsonSource = PostgresSource<Json>;
using JsonSource =
    std::variant<std::shared_ptr<SqliteJsonSource>, std::shared_ptr<PostgresJsonSource>>;

// The TableMapping<nlohmann::json> the options describe (REQUIRES: o.table set).
[[nodiscard]] TableMapping<Json> make_mapping(const ConnectionOptions& o);
// Opens the source (REQUIRES: o.has_source() and o.table set).
[[nodiscard]] JsonSource make_source(const ConnectionOptions& o);

// A source row as JSON: {"key column": key, "column": value, ...} with each column's SQL value.
[[nodiscard]] Json row_to_json(const TableSchema& schema, std::string_view key, const Row& row);

// The connections and the Cache<nlohmann::json> the options describe. Without --redis the cache
// has a one-entry L1 only (CacheBuilder needs a tier), so reads go to the source. With
// `with_bus` (the commands that change L2) and --redis, the cache joins an InvalidationBus
// (coherence kBus, with a one-entry L1) so that its put, erase, invalidate and
// invalidate_entity reach every instance's L1 as the library's do. With --write-mode behind, a
// WriteBehind journals into --journal and is closed (drained) by close() or the destructor.
class OpsContext {
 public:
  explicit OpsContext(const ConnectionOptions& options, bool with_bus = false);
  OpsContext(const OpsContext&) = delete;
  OpsContext& operator=(const OpsContext&) = delete;
  ~OpsContext();

  [[nodiscard]] Cache<Json>& cache() { return *cache_; }
  [[nodiscard]] RedisClient* redis() { return redis_ ? &*redis_ : nullptr; }
  // The bus, or null (no --redis, --no-broadcast, or a read-only command).
  [[nodiscard]] const std::shared_ptr<InvalidationBus>& bus() const { return bus_; }
  [[nodiscard]] const std::optional<JsonSource>& source() const { return source_; }
  [[nodiscard]] const ConnectionOptions& options() const { return options_; }
  // The Redis key of a cache key (the library's layout: prefix + key).
  [[nodiscard]] std::string remote_key(std::string_view key) const;
  // The source row of `key` as JSON, nullopt when the source has none (REQUIRES: a source).
  [[nodiscard]] std::optional<Json> load_row(std::string_view key);
  // Drains and closes the write-behind writer, if any (throws TimeoutError if it cannot).
  void close();

  // What the library counts when a write does not happen without telling the caller (L2
  // errors never reach a Cache's callers, by design): taken before a command writes, checked
  // by require_done() after it.
  struct Counts {
    std::uint64_t l2_errors = 0;  // failed and short-circuited Redis calls
    std::uint64_t deletes_deferred = 0;
    std::uint64_t deletes_dropped = 0;
    std::uint64_t publish_failures = 0;
    std::uint64_t dead_lettered = 0;
  };
  [[nodiscard]] Counts counts();
  // Throws UnavailableError "<what> failed: ..." naming each thing that did not happen since
  // `before` (an L2 write or delete refused or never sent, with the server's reason when one
  // can be had; a bus announcement not sent; a write-behind write dead-lettered).
  void require_done(const Counts& before, std::string_view what);

 private:
  ConnectionOptions options_;
  std::optional<RedisClient> redis_;
  std::optional<JsonSource> source_;
  std::shared_ptr<WriteBehindSink<Json>> writer_;
  std::function<void()> close_writer_;
  std::function<WriteBehindStats()> writer_stats_;
  std::shared_ptr<InvalidationBus> bus_;  // outlives the cache (which detaches from it)
  std::optional<Cache<Json>> cache_;
};

// Opens a WriteBehind<nlohmann::json> on `directory` over the options' source and codec, runs
// `body` with its dead-letter calls, and closes it (the writer recovers the journal first:
// pending records are replayed into the source, as the application would at start-up).
struct WriteBehindHandle {
  std::function<std::vector<DeadLetter<Json>>()> dead_letters;
  std::function<DeadLetterReplay()> replay_dead_letters;
  std::function<std::size_t()> drop_dead_letters;
  std::function<void(std::chrono::milliseconds)> flush;
  std::function<WriteBehindStats()> stats;
  RecoveryReport recovery;
};
void with_write_behind(const ConnectionOptions& o, const std::filesystem::path& directory,
                       const std::function<void(WriteBehindHandle&)>& body);

// Decodes bytes written by a codec (by id: 1 JSON, 2 MessagePack, 3 raw bytes as a string).
// Throws CorruptedError.
[[nodiscard]] Json decode_by_codec_id(std::uint8_t codec_id, std::string_view bytes);
// "json", "msgpack", "bytes", or "unknown(N)".
[[nodiscard]] std::string codec_name(std::uint8_t codec_id);
// The codec id of --codec.
[[nodiscard]] std::uint8_t codec_id_of(const ConnectionOptions& o);

// Prints `report` as JSON (with --json) or as the text `render` makes of it.
void print_report(const ConnectionOptions& o, const Json& report,
                  const std::function<std::string(const Json&)>& render);

// An ISO-8601 UTC time with milliseconds, e.g. "2026-11-26T10:12:03.512Z".
[[nodiscard]] std::string format_time(std::chrono::sys_time<std::chrono::microseconds> t);

// `text` safe to print on a terminal: control bytes (ESC, CR, BEL, ..., DEL), C1 controls
// (U+0080-U+009F) and bytes that are not UTF-8 become \xNN (\n, \r, \t, \e by name); valid
// UTF-8 stays as it is. For every key, entity, label or message that came from a server.
[[nodiscard]] std::string escape_terminal(std::string_view text);

// `url` with the password of its user info replaced by *** (scheme://user:***@host/...), for
// every URL a command prints or puts in a message (--metrics, --postgres, ...).
[[nodiscard]] std::string redact_url(std::string_view url);
// A duration for people: "950ms", "12.5s", "9m58s", "2h03m", "3d04h".
[[nodiscard]] std::string format_duration(std::chrono::nanoseconds d);

}  // namespace strata::ops
