#include "ops/ops_context.h"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <utility>
#include <variant>

#include "ops/json_value.h"
#include "strata/codec/envelope.h"
#include "strata/codec/json.h"
#include "strata/codec/msgpack.h"

namespace strata::ops {

namespace {

CompressionOptions compression_of(const ConnectionOptions& o) {
  CompressionOptions c;
  if (o.compression == "zstd") {
    c.algorithm = Compression::kZstd;
  } else if (o.compression == "lz4") {
    c.algorithm = Compression::kLz4;
  } else {
    c.algorithm = Compression::kNone;
  }
  c.threshold = o.compression_threshold;
  return c;
}

WriteMode write_mode_of(const ConnectionOptions& o) {
  if (o.write_mode == "through") return WriteMode::kWriteThrough;
  if (o.write_mode == "behind") return WriteMode::kWriteBehind;
  return WriteMode::kWriteAround;
}

// Calls f(codec) with the codec object --codec names.
template <typename F>
decltype(auto) with_codec(const ConnectionOptions& o, F&& f) {
  if (o.codec == "msgpack") return f(JsonMsgpackCodec{});
  return f(JsonCodec<Json>{});
}

}  // namespace

void ConnectionOptions::validate() const {
  if (!redis.empty() && !redis_cluster.empty()) {
    throw InvalidArgumentError("--redis and --redis-cluster are exclusive");
  }
  if (!postgres.empty() && !sqlite.empty()) {
    throw InvalidArgumentError("--postgres and --sqlite are exclusive");
  }
  if (format != "envelope" && format != "plain") {
    throw InvalidArgumentError("--format must be envelope or plain");
  }
  if (codec != "json" && codec != "msgpack") {
    throw InvalidArgumentError("--codec must be json or msgpack");
  }
  if (format == "plain" && codec != "json") {
    throw InvalidArgumentError("--format plain stores bare JSON: it needs --codec json");
  }
  if (compression != "zstd" && compression != "lz4" && compression != "none") {
    throw InvalidArgumentError("--compression must be zstd, lz4 or none");
  }
  if (has_source() && table.empty()) {
    throw InvalidArgumentError("--postgres/--sqlite need --table (and --key-column)");
  }
  if (!table.empty() && !has_source()) {
    throw InvalidArgumentError("--table needs --postgres or --sqlite");
  }
  if (!(ttl_seconds > 0)) throw InvalidArgumentError("--ttl must be > 0");
  if (write_mode != "around" && write_mode != "through" && write_mode != "behind") {
    throw InvalidArgumentError("--write-mode must be around, through or behind");
  }
  if (write_mode != "around" && !has_source()) {
    throw InvalidArgumentError("--write-mode " + write_mode +
                               " needs a source (--sqlite/--postgres)");
  }
  if (write_mode == "behind" && journal.empty()) {
    throw InvalidArgumentError("--write-mode behind needs --journal DIR");
  }
}

void add_cache_options(CLI::App& cmd, ConnectionOptions& o) {
  cmd.add_option("--redis", o.redis, "Redis URL of the L2 (redis://host:port)");
  cmd.add_option("--redis-cluster", o.redis_cluster,
                 "Redis Cluster URL of the L2 (redis+cluster://seed1,seed2)");
  o.tls.add_to(cmd);
  cmd.add_option("--key-prefix", o.key_prefix,
                 "the cache's key_prefix: the L2 key of KEY is PREFIX + KEY");
  cmd.add_option("--format", o.format, "how values are stored in L2: envelope or plain")
      ->capture_default_str();
  cmd.add_option("--codec", o.codec, "the envelope's codec: json or msgpack")
      ->capture_default_str();
  cmd.add_option("--compression", o.compression, "compression of written values: zstd, lz4, none")
      ->capture_default_str();
  cmd.add_option("--compression-threshold", o.compression_threshold,
                 "compress written payloads of at least this many bytes")
      ->capture_default_str();
  cmd.add_option("--ttl", o.ttl_seconds, "L2 time to live of written values, seconds")
      ->capture_default_str();
  cmd.add_option("--ttl-jitter", o.ttl_jitter, "each TTL shortened by a random share below this")
      ->capture_default_str();
  cmd.add_flag("--json", o.json, "machine-readable output");
}

void add_source_options(CLI::App& cmd, ConnectionOptions& o) {
  cmd.add_option("--postgres", o.postgres, "PostgreSQL URL of the source of record");
  cmd.add_option("--sqlite", o.sqlite, "SQLite database file of the source of record");
  cmd.add_option("--table", o.table, "the source table (TableMapping)");
  cmd.add_option("--key-column", o.key_column, "the key column")->capture_default_str();
  cmd.add_option("--value-column", o.value_column,
                 "document mapping: the column holding the encoded value")
      ->capture_default_str();
  cmd.add_option("--value-column-type", o.value_column_type,
                 "document column type: json, text or bytes (default: json for --codec json, "
                 "bytes for msgpack)");
  cmd.add_option("--column", o.columns,
                 "typed mapping: one column NAME:TYPE per member of the JSON object (TYPE: text, "
                 "bytes, int64, double, json); repeat it");
}

void add_write_options(CLI::App& cmd, ConnectionOptions& o) {
  cmd.add_option("--write-mode", o.write_mode, "around, through or behind (as WriteMode)")
      ->capture_default_str();
  cmd.add_option("--journal", o.journal, "write-behind journal directory (--write-mode behind)");
}

void add_bus_options(CLI::App& cmd, ConnectionOptions& o) {
  cmd.add_flag("!--no-broadcast", o.broadcast,
               "do not announce on the invalidation bus (other instances keep their L1 entries "
               "until their local ttl)");
  cmd.add_option("--bus-channel", o.bus_channel, "the invalidation bus channel")
      ->capture_default_str();
  cmd.add_option("--dependency-prefix", o.dependency_prefix,
                 "where entities' dependency sets live: PREFIX{entity}")
      ->capture_default_str();
}

TableMapping<Json> make_mapping(const ConnectionOptions& o) {
  if (!o.columns.empty()) {
    std::vector<Column<Json>> columns;
    for (const auto& spec : o.columns) {
      const auto colon = spec.rfind(':');
      if (colon == std::string::npos) {
        throw InvalidArgumentError("--column wants NAME:TYPE, got \"" + spec + "\"");
      }
      columns.push_back(
          json_member_column(spec.substr(0, colon), parse_column_type(spec.substr(colon + 1))));
    }
    return TableMapping<Json>::columns(o.table, o.key_column, std::move(columns));
  }
  DocumentColumns names{o.key_column, o.value_column, std::nullopt};
  if (!o.value_column_type.empty()) names.type = parse_column_type(o.value_column_type);
  return with_codec(
      o, [&](auto codec) { return TableMapping<Json>::document(o.table, codec, names); });
}

JsonSource make_source(const ConnectionOptions& o) {
  if (!o.sqlite.empty()) {
    return std::make_shared<SqliteJsonSource>(SqliteOptions{.path = o.sqlite}, make_mapping(o));
  }
  return std::make_shared<PostgresJsonSource>(PostgresOptions{.url = o.postgres}, make_mapping(o));
}

Json row_to_json(const TableSchema& schema, std::string_view key, const Row& row) {
  Json out = Json::object();
  out[schema.key_column] = std::string(key);
  for (std::size_t i = 0; i < schema.columns.size() && i < row.size(); ++i) {
    Json value = sql_value_to_json(row[i]);
    if (schema.columns[i].type == ColumnType::kJson && value.is_string() &&
        internal::json_nesting_depth(value.get<std::string>(),
                                     internal::kDefaultMaxNestingDepth) <=
            internal::kDefaultMaxNestingDepth) {  // deeper: shown as the text it is
      const Json parsed = Json::parse(value.get<std::string>(), nullptr, false);
      if (!parsed.is_discarded()) value = parsed;
    }
    out[schema.columns[i].name] = std::move(value);
  }
  return out;
}

OpsContext::OpsContext(const ConnectionOptions& options, bool with_bus) : options_(options) {
  options_.validate();
  if (!options_.redis.empty()) redis_.emplace(options_.tls.apply_to(options_.redis));
  if (!options_.redis_cluster.empty()) {
    redis_.emplace(options_.tls.apply_to(options_.redis_cluster));
  }
  if (options_.has_source()) source_ = make_source(options_);

  CacheBuilder<Json> builder;
  if (redis_) {
    RemoteTierOptions remote;
    remote.ttl = std::chrono::milliseconds(
        static_cast<std::int64_t>(std::llround(options_.ttl_seconds * 1000)));
    remote.ttl_jitter = options_.ttl_jitter;
    builder.remote(*redis_, remote);
  } else {
    builder.local({.maximum_size = 1});  // a tier is required; one entry keeps nothing stale
  }
  if (redis_ && with_bus && options_.broadcast) {
    InvalidationBusOptions bus_options;
    bus_options.channel = options_.bus_channel;
    bus_options.entity_channel.clear();  // the CLI only sends
    bus_options.dependency_prefix = options_.dependency_prefix;
    bus_ = std::make_shared<InvalidationBus>(
        options_.tls.apply_to(options_.redis.empty() ? options_.redis_cluster : options_.redis),
        bus_options);
    builder.local({.maximum_size = 1}).coherence(L1Coherence::kBus).invalidation_bus(bus_);
  }
  if (options_.format == "plain") {
    builder.format(ValueFormat<Json>::plain_json());
  } else {
    with_codec(options_, [&](auto codec) {
      using C = decltype(codec);
      builder.format(ValueFormat<Json, C>::envelope(codec, compression_of(options_)));
    });
  }
  if (!options_.key_prefix.empty()) builder.key_prefix(options_.key_prefix);
  builder.write_mode(write_mode_of(options_));
  if (source_) {
    std::visit([&](const auto& s) { builder.source(s); }, *source_);
    if (options_.write_mode == "behind") {
      std::visit(
          [&](const auto& s) {
            with_codec(options_, [&](auto codec) {
              using C = decltype(codec);
              auto wb = std::make_shared<WriteBehind<Json, C>>(
                  WriteBehindOptions{.directory = options_.journal}, s, codec);
              close_writer_ = [wb] { wb->close(); };
              writer_stats_ = [wb] { return wb->stats(); };
              writer_ = wb;
            });
          },
          *source_);
      builder.write_behind_sink(writer_);
    }
  }
  cache_.emplace(builder.build());
}

OpsContext::~OpsContext() {
  try {
    close();
  } catch (const std::exception& e) {
    std::cerr << "strata: closing the write-behind journal: " << e.what() << '\n';
  }
}

void OpsContext::close() {
  if (close_writer_) {
    auto closer = std::exchange(close_writer_, nullptr);
    closer();
  }
}

OpsContext::Counts OpsContext::counts() {
  const TieredCacheStats s = cache_->stats();
  Counts c;
  c.l2_errors = s.l2.errors + s.l2.short_circuited;
  c.deletes_deferred = s.l2.deletes_deferred;
  c.deletes_dropped = s.l2.deletes_dropped;
  if (bus_) c.publish_failures = bus_->stats().publish_failures;
  if (writer_stats_) c.dead_lettered = writer_stats_().dead_lettered;
  return c;
}

void OpsContext::require_done(const Counts& before, std::string_view what) {
  const Counts now = counts();
  std::vector<std::string> failed;
  if (now.l2_errors > before.l2_errors || now.deletes_deferred > before.deletes_deferred ||
      now.deletes_dropped > before.deletes_dropped) {
    std::string reason = std::to_string(now.l2_errors - before.l2_errors) + " Redis call(s) failed";
    if (now.deletes_deferred > before.deletes_deferred) {
      reason += ", " + std::to_string(now.deletes_deferred - before.deletes_deferred) +
                " delete(s) deferred (not done)";
    }
    // The reason: the server's words when it refused (READONLY, OOM, NOPERM...), else what a
    // PING says now (unreachable, refused).
    const std::string last = cache_->stats().l2.last_error;
    if (now.l2_errors > before.l2_errors && !last.empty()) {
      reason += ": " + last;
    } else if (redis_) {
      try {
        redis_->ping();
      } catch (const std::exception& e) {
        reason += ": " + std::string(e.what());
      }
    }
    failed.push_back("L2 (" + reason + ")");
  }
  if (now.publish_failures > before.publish_failures) {
    failed.push_back("the invalidation bus announcement (PUBLISH failed)");
  }
  if (now.dead_lettered > before.dead_lettered) {
    failed.push_back("the source write (dead-lettered; see `strata dead-letters list --journal " +
                     options_.journal + "`)");
  }
  if (failed.empty()) return;
  std::string message = std::string(what) + " failed: ";
  for (std::size_t i = 0; i < failed.size(); ++i) message += (i ? "; " : "") + failed[i];
  throw UnavailableError(message);
}

std::string OpsContext::remote_key(std::string_view key) const {
  return cache_->remote_key(key);
}

std::optional<Json> OpsContext::load_row(std::string_view key) {
  if (!source_) throw InvalidArgumentError("no source: give --sqlite or --postgres and --table");
  return std::visit(
      [&](const auto& s) -> std::optional<Json> {
        auto row = s->table().load(key);
        if (!row) return std::nullopt;
        return row_to_json(s->mapping().schema(), key, *row);
      },
      *source_);
}

void with_write_behind(const ConnectionOptions& o, const std::filesystem::path& directory,
                       const std::function<void(WriteBehindHandle&)>& body) {
  o.validate();
  if (!o.has_source()) {
    throw InvalidArgumentError(
        "this command writes to the source of record: give --sqlite or --postgres and --table");
  }
  const JsonSource source = make_source(o);
  std::visit(
      [&](const auto& s) {
        with_codec(o, [&](auto codec) {
          using C = decltype(codec);
          WriteBehind<Json, C> wb(WriteBehindOptions{.directory = directory}, s, codec);
          WriteBehindHandle handle;
          handle.recovery = wb.recovery();
          handle.dead_letters = [&wb] { return wb.dead_letters(); };
          handle.replay_dead_letters = [&wb] { return wb.replay_dead_letters(); };
          handle.drop_dead_letters = [&wb] { return wb.drop_dead_letters(); };
          handle.flush = [&wb](std::chrono::milliseconds timeout) { wb.flush(timeout); };
          handle.stats = [&wb] { return wb.stats(); };
          body(handle);
          wb.close();
        });
      },
      source);
}

Json decode_by_codec_id(std::uint8_t codec_id, std::string_view bytes) {
  switch (codec_id) {
    case kJsonCodecId:
      return JsonCodec<Json>{}.decode(bytes);
    case kMsgpackCodecId:
      return JsonMsgpackCodec{}.decode(bytes);
    case kBytesCodecId:
      return Json(std::string(bytes));
    default:
      throw CorruptedError("unknown codec id " + std::to_string(codec_id));
  }
}

std::string codec_name(std::uint8_t codec_id) {
  switch (codec_id) {
    case kJsonCodecId:
      return "json";
    case kMsgpackCodecId:
      return "msgpack";
    case kBytesCodecId:
      return "bytes";
    default:
      return "unknown(" + std::to_string(codec_id) + ")";
  }
}

std::uint8_t codec_id_of(const ConnectionOptions& o) {
  return o.codec == "msgpack" ? kMsgpackCodecId : kJsonCodecId;
}

void print_report(const ConnectionOptions& o, const Json& report,
                  const std::function<std::string(const Json&)>& render) {
  if (o.json) {
    std::cout << report.dump(2, ' ', false, Json::error_handler_t::replace) << '\n';
  } else {
    std::cout << render(report);
  }
  std::cout.flush();
}

std::string escape_terminal(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  const auto hex = [&out](unsigned char b) {
    static constexpr char kDigits[] = "0123456789abcdef";
    out += "\\x";
    out += kDigits[b >> 4];
    out += kDigits[b & 0x0f];
  };
  std::size_t i = 0;
  while (i < text.size()) {
    const auto b = static_cast<unsigned char>(text[i]);
    if (b < 0x80) {
      if (b == '\n') {
        out += "\\n";
      } else if (b == '\r') {
        out += "\\r";
      } else if (b == '\t') {
        out += "\\t";
      } else if (b == 0x1b) {
        out += "\\e";
      } else if (b < 0x20 || b == 0x7f) {
        hex(b);
      } else {
        out += static_cast<char>(b);
      }
      ++i;
      continue;
    }
    // A UTF-8 sequence: its length from the lead byte, continuation bytes 10xxxxxx, no overlong
    // form, no surrogate, at most U+10FFFF, and not a C1 control.
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (b >= 0xc2 && b <= 0xdf) {
      len = 2;
      cp = b & 0x1f;
    } else if (b >= 0xe0 && b <= 0xef) {
      len = 3;
      cp = b & 0x0f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      len = 4;
      cp = b & 0x07;
    }
    bool valid = len > 0 && i + len <= text.size();
    for (std::size_t k = 1; valid && k < len; ++k) {
      const auto c = static_cast<unsigned char>(text[i + k]);
      valid = (c & 0xc0) == 0x80;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (valid) {
      valid = !(len == 3 && cp < 0x800) && !(len == 4 && (cp < 0x10000 || cp > 0x10ffff)) &&
              !(cp >= 0xd800 && cp <= 0xdfff) && !(cp >= 0x80 && cp <= 0x9f);
    }
    if (!valid) {
      hex(b);
      ++i;
      continue;
    }
    out.append(text.substr(i, len));
    i += len;
  }
  return out;
}

std::string redact_url(std::string_view url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(url);
  const std::size_t start = scheme_end + 3;
  // The user info ends at the last '@' before the path (a password may hold '@', '/', '?').
  const auto at = url.rfind('@');
  if (at == std::string_view::npos || at < start) return std::string(url);
  const std::string_view info = url.substr(start, at - start);
  const auto colon = info.find(':');
  if (colon == std::string_view::npos) return std::string(url);
  return std::string(url.substr(0, start)) + std::string(info.substr(0, colon)) + ":***" +
         std::string(url.substr(at));
}

std::string format_time(std::chrono::sys_time<std::chrono::microseconds> t) {
  const auto secs = std::chrono::floor<std::chrono::seconds>(t);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(t - secs).count();
  const std::time_t tt = static_cast<std::time_t>(secs.time_since_epoch().count());
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[40];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%.*s.%03dZ", static_cast<int>(n), buf, static_cast<int>(millis));
  return out;
}

std::string format_duration(std::chrono::nanoseconds d) {
  const bool negative = d < std::chrono::nanoseconds::zero();
  const double s = std::abs(std::chrono::duration<double>(d).count());
  char buf[64];
  if (s < 1) {
    std::snprintf(buf, sizeof buf, "%.0fms", s * 1000);
  } else if (s < 60) {
    std::snprintf(buf, sizeof buf, "%.1fs", s);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s / 60), static_cast<int>(s) % 60);
  } else if (s < 86400) {
    std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(s / 3600),
                  static_cast<int>(s / 60) % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%dd%02dh", static_cast<int>(s / 86400),
                  static_cast<int>(s / 3600) % 24);
  }
  return negative ? std::string("-") + buf : std::string(buf);
}

}  // namespace strata::ops
