#include "ops/key_commands.h"

#include <chrono>
#include <cstdio>
#include <sstream>

#include "strata/cache/key_layout.h"
#include "strata/codec/envelope.h"

namespace strata::ops {

namespace {

std::string hex_preview(std::string_view bytes, std::size_t max = 32) {
  std::string out;
  char buf[4];
  for (std::size_t i = 0; i < bytes.size() && i < max; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", static_cast<unsigned char>(bytes[i]));
    out += buf;
  }
  if (bytes.size() > max) out += "...";
  return out;
}

std::int64_t micros(EnvelopeTime t) {
  return t.time_since_epoch().count();
}

Json time_json(EnvelopeTime t, EnvelopeTime now) {
  return Json{
      {"unix_us", micros(t)},
      {"utc", format_time(t)},
      {"from_now_ms", std::chrono::duration_cast<std::chrono::milliseconds>(t - now).count()}};
}

// The L2 half of an inspection.
Json inspect_l2(OpsContext& ctx, std::string_view key) {
  RedisClient& redis = *ctx.redis();
  const std::string rkey = ctx.remote_key(key);
  Json l2{{"redis_key", rkey}};
  const std::optional<std::string> bytes = redis.get(rkey);
  l2["present"] = bytes.has_value() && !is_fill_placeholder(*bytes);
  l2["fill_placeholder"] = bytes.has_value() && is_fill_placeholder(*bytes);
  l2["refresh_lease"] = redis.exists(ctx.cache().remote_refresh_key(key));
  if (!bytes) return l2;
  const auto pttl = redis.pttl(rkey).count();
  l2["ttl_ms"] = pttl;  // -1: no expiry (-2 if it went meanwhile)
  l2["bytes"] = bytes->size();
  const auto now =
      std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
  if (is_fill_placeholder(*bytes)) {
    l2["kind"] = "fill-placeholder";
    l2["note"] = "a reader missed and is loading the value from the source (docs/redis-keys.md)";
    return l2;
  }
  if (*bytes == kNegativeMarker) {
    l2["kind"] = "negative";
    l2["note"] = "cached \"not found\" (negative caching or a write-behind delete)";
    return l2;
  }
  if (looks_like_envelope(*bytes)) {
    l2["kind"] = "envelope";
    try {
      const DecodedEnvelope env = decode_envelope(*bytes);
      Json e{{"version", env.version},
             {"codec", codec_name(env.codec_id)},
             {"codec_id", env.codec_id},
             {"compression", std::string(to_string(env.compression))},
             {"payload_bytes", env.payload.size()},
             {"computed_at", time_json(env.times.computed_at, now)},
             {"compute_time_us", env.times.compute_time.count()}};
      e["soft_expiry"] = env.times.soft_expiry ? time_json(*env.times.soft_expiry, now) : Json();
      e["hard_expiry"] = env.times.hard_expiry ? time_json(*env.times.hard_expiry, now) : Json();
      l2["envelope"] = std::move(e);
      if (env.codec_id != codec_id_of(ctx.options()) || ctx.options().format != "envelope") {
        // A plain-JSON reader leaves values it cannot read (another program's); an envelope
        // reader deletes them (docs/sources-and-codecs.md).
        const bool plain = ctx.options().format == "plain";
        l2["warning"] = "written with codec " + codec_name(env.codec_id) + ": a cache configured " +
                        "with --format " + ctx.options().format + " --codec " +
                        ctx.options().codec +
                        (plain ? " reads it as foreign (a miss, left in place)"
                               : " reads it as corrupted (and deletes it)");
      }
      l2["value"] = decode_by_codec_id(env.codec_id, env.payload);
    } catch (const CorruptedError& e) {
      l2["error"] = e.what();
      l2["head_hex"] = hex_preview(*bytes);
    }
    return l2;
  }
  constexpr std::size_t kDepth = internal::kDefaultMaxNestingDepth;
  if (internal::json_nesting_depth(*bytes, kDepth) > kDepth) {  // parsing it would recurse
    l2["kind"] = "unknown";
    l2["error"] = "corrupted: nesting deeper than " + std::to_string(kDepth) + " levels";
    l2["head_hex"] = hex_preview(*bytes);
    return l2;
  }
  Json parsed = Json::parse(*bytes, nullptr, false);
  if (!parsed.is_discarded()) {
    l2["kind"] = "plain";
    l2["value"] = std::move(parsed);
    if (ctx.options().format != "plain") {
      l2["warning"] =
          "bare JSON: a cache configured with --format envelope reads it as "
          "corrupted (and deletes it)";
    }
    return l2;
  }
  l2["kind"] = "unknown";
  l2["error"] = "corrupted: neither a strata envelope nor JSON text";
  l2["head_hex"] = hex_preview(*bytes);
  return l2;
}

// For the terminal: JSON text (controls below 0x20 are JSON-escaped, invalid UTF-8 replaced),
// then escape_terminal for DEL and C1 controls.
std::string dump(const Json& j) {
  return escape_terminal(j.dump(-1, ' ', false, Json::error_handler_t::replace));
}

// A string of a report (often from a server: keys, entities, errors) for the terminal.
std::string txt(const Json& j) {
  return escape_terminal(j.get<std::string>());
}

std::string when(const Json& t) {
  if (t.is_null()) return "-";
  const auto from_now = std::chrono::milliseconds(t["from_now_ms"].get<std::int64_t>());
  const std::string rel = from_now.count() >= 0 ? "in " + format_duration(from_now)
                                                : format_duration(-from_now) + " ago";
  return txt(t["utc"]) + " (" + rel + ")";
}

}  // namespace

Json inspect_key(OpsContext& ctx, std::string_view key) {
  Json report{{"key", std::string(key)}};
  if (ctx.redis()) {
    report["l2"] = inspect_l2(ctx, key);
  } else {
    report["l2"] = nullptr;
  }
  if (ctx.redis()) {
    try {
      report["entities"] = entities_of(ctx, key);
    } catch (const Error& e) {
      report["entities_error"] = e.what();
    }
  }
  if (ctx.source()) {
    Json source{{"table", ctx.options().table}};
    try {
      std::optional<Json> row = ctx.load_row(key);
      source["found"] = row.has_value();
      if (row) source["row"] = std::move(*row);
    } catch (const Error& e) {
      source["error"] = e.what();
    }
    report["source"] = std::move(source);
  } else {
    report["source"] = nullptr;
  }
  return report;
}

std::string render_inspect(const Json& r) {
  std::ostringstream out;
  out << "key          " << txt(r["key"]) << '\n';
  const Json& l2 = r["l2"];
  if (l2.is_null()) {
    out << "L2           (no --redis / --redis-cluster given)\n";
  } else {
    out << "redis key    " << txt(l2["redis_key"]) << '\n';
    if (!l2["present"].get<bool>()) {
      out << "L2           missing\n";
    } else {
      const auto ttl = l2["ttl_ms"].get<std::int64_t>();
      out << "L2           " << txt(l2["kind"]) << ", " << l2["bytes"].get<std::size_t>()
          << " bytes, TTL " << (ttl >= 0 ? format_duration(std::chrono::milliseconds(ttl)) : "none")
          << '\n';
      if (l2.contains("envelope")) {
        const Json& e = l2["envelope"];
        out << "  envelope   v" << e["version"].get<int>() << ", codec " << txt(e["codec"])
            << ", compression " << txt(e["compression"]) << ", payload "
            << e["payload_bytes"].get<std::size_t>() << " bytes\n";
        out << "  computed   " << when(e["computed_at"]) << '\n';
        out << "  soft exp   " << when(e["soft_expiry"]) << '\n';
        out << "  hard exp   " << when(e["hard_expiry"]) << '\n';
        out << "  recompute  "
            << format_duration(std::chrono::microseconds(e["compute_time_us"].get<std::int64_t>()))
            << '\n';
      }
      if (l2.contains("value")) out << "  value      " << dump(l2["value"]) << '\n';
      if (l2.contains("note")) out << "  note       " << txt(l2["note"]) << '\n';
      if (l2.contains("error")) {
        out << "  ERROR      " << txt(l2["error"]) << '\n';
        out << "  head       " << txt(l2["head_hex"]) << '\n';
      }
      if (l2.contains("warning")) out << "  warning    " << txt(l2["warning"]) << '\n';
    }
    out << "placeholder  "
        << (l2["fill_placeholder"].get<bool>() ? "present (a reader is loading)" : "none") << '\n';
    out << "refreshing   "
        << (l2["refresh_lease"].get<bool>() ? "yes (its refresh lease is held)" : "no") << '\n';
  }
  if (r.contains("entities")) {
    out << "entities     ";
    if (r["entities"].empty()) out << "(none)";
    for (const auto& t : r["entities"]) out << txt(t) << ' ';
    out << '\n';
  }
  const Json& s = r["source"];
  if (!s.is_null()) {
    out << "source       " << txt(s["table"]) << ": ";
    if (s.contains("error")) {
      out << "ERROR " << txt(s["error"]);
    } else if (s["found"].get<bool>()) {
      out << dump(s["row"]);
    } else {
      out << "no row";
    }
    out << '\n';
  }
  return out.str();
}

Json get_key(OpsContext& ctx, std::string_view key) {
  std::optional<Json> value = ctx.cache().get(key);
  Json report{{"key", std::string(key)}, {"found", value.has_value()}};
  report["value"] = value ? std::move(*value) : Json();
  return report;
}

std::string render_get(const Json& r) {
  if (!r["found"].get<bool>()) return "(not found)\n";
  return dump(r["value"]) + "\n";
}

namespace {
// Without L2 and without a source the command would write a one-entry L1 that dies with it.
void require_target(OpsContext& ctx, std::string_view what) {
  if (!ctx.redis() && !ctx.source()) {
    throw InvalidArgumentError(std::string(what) +
                               ": nothing to write to: give --redis or --redis-cluster, or a "
                               "source (--sqlite or --postgres and --table)");
  }
}
}  // namespace

Json put_key(OpsContext& ctx, std::string_view key, const Json& value) {
  require_target(ctx, "put");
  const OpsContext::Counts before = ctx.counts();
  ctx.cache().put(key, value);
  ctx.close();  // write-behind: drained into the source before the command reports
  ctx.require_done(before, "put " + escape_terminal(key));
  return Json{{"key", std::string(key)},
              {"operation", "put"},
              {"write_mode", ctx.options().write_mode},
              {"value", value}};
}

Json del_key(OpsContext& ctx, std::string_view key) {
  require_target(ctx, "del");
  bool had = false;
  if (ctx.redis()) had = ctx.redis()->exists(ctx.remote_key(key));
  const OpsContext::Counts before = ctx.counts();
  ctx.cache().erase(key);
  ctx.close();
  ctx.require_done(before, "del " + escape_terminal(key));
  return Json{{"key", std::string(key)},
              {"operation", "del"},
              {"write_mode", ctx.options().write_mode},
              {"l2_had_value", had}};
}

std::string render_write(const Json& r) {
  std::ostringstream out;
  out << (r["operation"] == "put" ? "stored " : "deleted ") << txt(r["key"]) << " (write mode "
      << txt(r["write_mode"]);
  if (r.contains("l2_had_value")) {
    out << (r["l2_had_value"].get<bool>() ? ", was in L2" : ", was not in L2");
  }
  out << ")\n";
  return out.str();
}

Json invalidate_keys(OpsContext& ctx, std::span<const std::string> keys) {
  if (!ctx.redis()) throw InvalidArgumentError("invalidate: give --redis or --redis-cluster");
  const OpsContext::Counts before = ctx.counts();
  Json list = Json::array();
  std::size_t present = 0;
  for (const auto& key : keys) {
    bool had = false;
    if (ctx.redis()) had = ctx.redis()->exists(ctx.remote_key(key));
    ctx.cache().invalidate(key);
    present += had ? 1 : 0;
    list.push_back(Json{{"key", key}, {"l2_had_value", had}});
  }
  ctx.require_done(before, "invalidate");
  return Json{{"by", "key"},
              {"keys", list},
              {"invalidated", keys.size()},
              {"present", present},
              {"broadcast", ctx.bus() != nullptr}};
}

namespace {
RedisClient& require_redis(OpsContext& ctx) {
  if (!ctx.redis()) throw InvalidArgumentError("give --redis or --redis-cluster");
  return *ctx.redis();
}
}  // namespace

Json invalidate_entities(OpsContext& ctx, std::span<const std::string> entities, bool dry_run) {
  RedisClient& redis = require_redis(ctx);
  const OpsContext::Counts before = ctx.counts();
  const std::string prefix =
      ctx.bus() ? ctx.bus()->options().dependency_prefix : std::string("deps:");
  DependencyIndex index(redis, prefix);
  Json list = Json::array();
  std::size_t total = 0;
  for (const auto& entity : entities) {
    const std::vector<std::string> dependents = index.dependents(entity);
    const bool own = redis.exists(ctx.remote_key(entity));
    if (!dry_run) ctx.cache().invalidate_entity(entity);
    total += dependents.size() + (own ? 1 : 0);
    list.push_back(Json{{"entity", entity},
                        {"set", index.set_key(entity)},
                        {"entity_key", ctx.remote_key(entity)},
                        {"entity_had_value", own},
                        {"dependents", dependents}});
  }
  ctx.require_done(before, "invalidate");
  return Json{{"by", "entity"},   {"dry_run", dry_run},
              {"entities", list}, {"invalidated", dry_run ? 0 : total},
              {"matched", total}, {"broadcast", !dry_run && ctx.bus() != nullptr}};
}

Json invalidate_by_pattern(OpsContext& ctx, const std::string& pattern, bool dry_run,
                           std::size_t batch) {
  RedisClient& redis = require_redis(ctx);
  const OpsContext::Counts before = ctx.counts();
  PatternInvalidationOptions options;
  options.batch = batch;
  options.dry_run = dry_run;
  options.collect = true;
  const PatternInvalidationResult r = invalidate_pattern(redis, pattern, options, ctx.bus().get());
  ctx.require_done(before, "invalidate");
  return Json{{"by", "pattern"},
              {"pattern", pattern},
              {"dry_run", dry_run},
              {"matched", r.matched},
              {"deleted", r.deleted},
              {"invalidated", r.deleted},
              {"batches", r.batches},
              {"keys", r.keys},
              {"broadcast", !dry_run && ctx.bus() != nullptr}};
}

Json bump_namespaces(OpsContext& ctx, std::span<const std::string> names, bool dry_run) {
  RedisClient& redis = require_redis(ctx);
  const OpsContext::Counts before = ctx.counts();
  NamespaceVersions versions(redis, ctx.bus());
  Json list = Json::array();
  for (const auto& name : names) {
    Json entry{{"namespace", name}, {"generation", versions.generation(name)}};
    if (!dry_run) entry["new_generation"] = versions.bump(name);
    list.push_back(std::move(entry));
  }
  ctx.require_done(before, "invalidate");
  return Json{{"by", "namespace"},
              {"dry_run", dry_run},
              {"namespaces", list},
              {"invalidated", dry_run ? 0 : names.size()},
              {"broadcast", !dry_run && ctx.bus() != nullptr}};
}

std::string render_invalidate(const Json& r) {
  std::ostringstream out;
  const std::string by = txt(r["by"]);
  const bool dry = r.value("dry_run", false);
  if (by == "key") {
    out << "invalidated " << r["invalidated"].get<std::size_t>() << " key(s) by key ("
        << r["present"].get<std::size_t>() << " held a value in L2)";
  } else if (by == "entity") {
    for (const auto& t : r["entities"]) {
      out << "entity " << txt(t["entity"]) << ": " << txt(t["entity_key"])
          << (t["entity_had_value"].get<bool>() ? " (cached)" : " (not cached)") << ", "
          << t["dependents"].size() << " dependent(s)\n";
      for (const auto& d : t["dependents"]) out << "  " << txt(d) << '\n';
    }
    out << (dry ? "would invalidate " : "invalidated ") << r["matched"].get<std::size_t>()
        << " key(s) by entity";
  } else if (by == "pattern") {
    if (dry) {
      for (const auto& k : r["keys"]) out << txt(k) << '\n';
      out << "would delete " << r["matched"].get<std::uint64_t>() << " key(s) matching "
          << txt(r["pattern"]) << " (dry run)";
    } else {
      out << "deleted " << r["deleted"].get<std::uint64_t>() << " of "
          << r["matched"].get<std::uint64_t>() << " key(s) matching " << txt(r["pattern"]) << " in "
          << r["batches"].get<std::uint64_t>() << " batch(es)";
    }
  } else {
    for (const auto& n : r["namespaces"]) {
      out << "namespace " << txt(n["namespace"]) << ": generation "
          << n["generation"].get<std::uint64_t>();
      if (n.contains("new_generation")) out << " -> " << n["new_generation"].get<std::uint64_t>();
      out << '\n';
    }
    out << (dry ? "would bump " : "bumped ") << r["namespaces"].size() << " namespace(s)";
  }
  if (!dry) out << (r["broadcast"].get<bool>() ? "; broadcast on the bus" : "; not broadcast");
  out << '\n';
  return out.str();
}

std::vector<std::string> entities_of(OpsContext& ctx, std::string_view key) {
  RedisClient& redis = *ctx.redis();
  const std::string member = ctx.remote_key(key);
  const std::string prefix = ctx.options().dependency_prefix;
  std::vector<std::string> entities;
  for (const auto& set : redis.scan(escape_glob(prefix) + "*")) {
    try {
      const RedisReply reply = redis.command({"SISMEMBER", set, member});
      if (reply.is_integer() && reply.integer == 1) entities.push_back(set.substr(prefix.size()));
    } catch (const ReplyError&) {
      // Not a set (WRONGTYPE): not a dependency set, whatever its name.
    }
  }
  return entities;
}

}  // namespace strata::ops
