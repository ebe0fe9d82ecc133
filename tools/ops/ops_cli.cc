// The operator commands of the `strata` tool: inspect, get, put, del, invalidate, stats,
// dead-letters and journal (docs/operations-cli.md). A thin shell over ops/*.h.
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <thread>

#include "cli/commands.h"
#include "ops/journal_commands.h"
#include "ops/key_commands.h"
#include "ops/stats_command.h"
#include "strata/codec/msgpack.h"

namespace strata::cli {

namespace {

using ops::ConnectionOptions;
using ops::Json;

// Exit status 1 without a message (the report said it): `get` of a missing key, a damaged journal.
[[noreturn]] void fail_quietly(int code) {
  throw CLI::RuntimeError(code);
}

void add_key_commands(CLI::App& app) {
  {
    auto* cmd = app.add_subcommand(
        "inspect",
        "Show what is cached for KEY: the L2 bytes, the decoded envelope (codec, "
        "compression, computed-at, soft and hard expiry, recompute time), the value "
        "as JSON, the TTL, and the source row when a table is given");
    auto o = std::make_shared<ConnectionOptions>();
    auto key = std::make_shared<std::string>();
    cmd->add_option("KEY", *key, "the cache key (without --key-prefix)")->required();
    ops::add_cache_options(*cmd, *o);
    ops::add_source_options(*cmd, *o);
    cmd->add_option("--dependency-prefix", o->dependency_prefix,
                    "where entities' dependency sets live: PREFIX{entity}")
        ->capture_default_str();
    cmd->callback([o, key] {
      ops::OpsContext ctx(*o);
      ops::print_report(*o, ops::inspect_key(ctx, *key), ops::render_inspect);
    });
  }
  {
    auto* cmd = app.add_subcommand(
        "get",
        "Read KEY through Cache<json>::get (L2, then the source on a miss, filling L2), "
        "printed as JSON; exit status 1 when there is no value");
    auto o = std::make_shared<ConnectionOptions>();
    auto key = std::make_shared<std::string>();
    cmd->add_option("KEY", *key, "the cache key")->required();
    ops::add_cache_options(*cmd, *o);
    ops::add_source_options(*cmd, *o);
    cmd->callback([o, key] {
      ops::OpsContext ctx(*o);
      const ops::OpsContext::Counts before = ctx.counts();
      const Json report = ops::get_key(ctx, *key);
      const bool found = report["found"].get<bool>();
      // With L2 failing, a miss is not "(not found)": the key may well be in Redis. A value
      // the source served is printed, and the failure still reported.
      if (found) ops::print_report(*o, report, ops::render_get);
      ctx.require_done(
          before, "get " + ops::escape_terminal(*key) + (found ? " (served from the source)" : ""));
      if (!found) {
        ops::print_report(*o, report, ops::render_get);
        fail_quietly(1);
      }
    });
  }
  {
    auto* cmd = app.add_subcommand(
        "put",
        "Write KEY = VALUE (JSON text) through Cache<json>::put, per --write-mode: around "
        "(write the source, invalidate the caches; without a source, store in L2), "
        "through (source in a transaction, then L2), behind (journal, then L2)");
    auto o = std::make_shared<ConnectionOptions>();
    auto key = std::make_shared<std::string>();
    auto value = std::make_shared<std::string>();
    auto as_string = std::make_shared<bool>(false);
    cmd->add_option("KEY", *key, "the cache key")->required();
    cmd->add_option("VALUE", *value, "the value as JSON text, e.g. '{\"name\":\"ada\"}'")
        ->required();
    cmd->add_flag("--string", *as_string, "take VALUE as a string, not as JSON text");
    ops::add_cache_options(*cmd, *o);
    ops::add_source_options(*cmd, *o);
    ops::add_write_options(*cmd, *o);
    ops::add_bus_options(*cmd, *o);
    cmd->callback([o, key, value, as_string] {
      Json parsed;
      if (*as_string) {
        parsed = *value;
      } else {
        if (internal::json_nesting_depth(*value, internal::kDefaultMaxNestingDepth) >
            internal::kDefaultMaxNestingDepth) {
          throw InvalidArgumentError("VALUE nests deeper than " +
                                     std::to_string(internal::kDefaultMaxNestingDepth) + " levels");
        }
        parsed = Json::parse(*value, nullptr, false);
        if (parsed.is_discarded()) {
          throw InvalidArgumentError("VALUE is not JSON text (use --string for a plain string)");
        }
      }
      ops::OpsContext ctx(*o, /*with_bus=*/true);
      ops::print_report(*o, ops::put_key(ctx, *key, parsed), ops::render_write);
    });
  }
  {
    auto* cmd = app.add_subcommand(
        "del",
        "Delete KEY through Cache<json>::erase, per --write-mode (from the source, then "
        "the caches; without a source, from the caches)");
    auto o = std::make_shared<ConnectionOptions>();
    auto key = std::make_shared<std::string>();
    cmd->add_option("KEY", *key, "the cache key")->required();
    ops::add_cache_options(*cmd, *o);
    ops::add_source_options(*cmd, *o);
    ops::add_write_options(*cmd, *o);
    ops::add_bus_options(*cmd, *o);
    cmd->callback([o, key] {
      ops::OpsContext ctx(*o, /*with_bus=*/true);
      ops::print_report(*o, ops::del_key(ctx, *key), ops::render_write);
    });
  }
}

void add_invalidate(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "invalidate",
      "Drop cached values and report counts: by --key (L2 value and fill token, as "
      "Cache::invalidate), by --entity (the entity and its dependency set deps:{entity}, as "
      "Cache::invalidate_entity), by --pattern (a Redis key glob: SCAN on every master, DEL in "
      "batches) or by --namespace (bump its generation). Each is announced on the invalidation "
      "bus so every instance's L1 drops it (--no-broadcast: not)");
  auto o = std::make_shared<ConnectionOptions>();
  auto keys = std::make_shared<std::vector<std::string>>();
  auto entities = std::make_shared<std::vector<std::string>>();
  auto pattern = std::make_shared<std::string>();
  auto namespaces = std::make_shared<std::vector<std::string>>();
  auto dry_run = std::make_shared<bool>(false);
  auto batch = std::make_shared<std::size_t>(500);
  auto* by_key = cmd->add_option("--key", *keys, "a cache key to invalidate (repeat it)");
  auto* by_entity =
      cmd->add_option("--entity", *entities, "an entity whose dependents go (repeat it)");
  auto* by_pattern = cmd->add_option("--pattern", *pattern,
                                     "a Redis key glob, e.g. 'app:user:{42*}' (prefix included)");
  auto* by_ns = cmd->add_option("--namespace", *namespaces,
                                "a namespace whose generation is bumped (repeat it)");
  by_key->excludes(by_entity)->excludes(by_pattern)->excludes(by_ns);
  by_entity->excludes(by_pattern)->excludes(by_ns);
  by_pattern->excludes(by_ns);
  cmd->add_flag("--dry-run", *dry_run, "list what would go, change nothing (entity, pattern)");
  cmd->add_option("--batch", *batch, "keys per SCAN COUNT hint and per DEL (pattern)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  ops::add_cache_options(*cmd, *o);
  ops::add_bus_options(*cmd, *o);
  cmd->callback([=] {
    if (keys->empty() && entities->empty() && pattern->empty() && namespaces->empty()) {
      throw InvalidArgumentError("invalidate: give --key, --entity, --pattern or --namespace");
    }
    if (*dry_run && !keys->empty()) {
      throw InvalidArgumentError(
          "invalidate: --dry-run applies to --entity, --pattern, --namespace");
    }
    ops::OpsContext ctx(*o, /*with_bus=*/!*dry_run);
    Json report;
    if (!keys->empty()) {
      report = ops::invalidate_keys(ctx, *keys);
    } else if (!entities->empty()) {
      report = ops::invalidate_entities(ctx, *entities, *dry_run);
    } else if (!pattern->empty()) {
      report = ops::invalidate_by_pattern(ctx, *pattern, *dry_run, *batch);
    } else {
      report = ops::bump_namespaces(ctx, *namespaces, *dry_run);
    }
    ops::print_report(*o, report, ops::render_invalidate);
  });
}

void add_stats(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "stats",
      "Read a running process's metrics endpoint and print hit ratios per layer, "
      "latency percentiles, L1 size, breaker, write-behind queue depth and oldest age");
  struct StatsOptions {
    std::string url;
    bool watch = false;
    double interval = 2;
    int count = 0;
    double timeout = 2;
    bool json = false;
  };
  auto o = std::make_shared<StatsOptions>();
  cmd->add_option("--metrics", o->url, "the endpoint, e.g. http://127.0.0.1:9464/metrics")
      ->required();
  cmd->add_flag("--watch", o->watch, "refresh the table every --interval");
  cmd->add_option("--interval", o->interval, "seconds between refreshes with --watch")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--count", o->count, "with --watch: stop after this many refreshes (0: never)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--timeout", o->timeout, "seconds to wait for the endpoint")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--json", o->json, "machine-readable output (one JSON object per refresh)");
  cmd->callback([o] {
    const auto timeout = std::chrono::milliseconds(static_cast<std::int64_t>(o->timeout * 1000));
    const bool tty = isatty(STDOUT_FILENO) != 0;
    std::optional<ops::Exposition> previous;
    auto last = std::chrono::steady_clock::now();
    for (int n = 0; o->watch ? (o->count == 0 || n < o->count) : n < 1; ++n) {
      if (n > 0) {
        std::this_thread::sleep_for(std::chrono::duration<double>(o->interval));
      }
      Json summary;
      const auto now = std::chrono::steady_clock::now();
      try {
        ops::Exposition e = ops::parse_exposition(ops::fetch_metrics(o->url, timeout));
        const double seconds = std::chrono::duration<double>(now - last).count();
        summary = ops::summarize_metrics(e, previous ? &*previous : nullptr, seconds);
        previous = std::move(e);
        last = now;
      } catch (const Error& e) {
        if (!o->watch) throw;
        summary = Json{{"error", e.what()}};
      }
      summary["url"] = ops::redact_url(o->url);
      if (o->json) {  // labels that are not UTF-8 are replaced (U+FFFD), never an abort
        std::cout << summary.dump(-1, ' ', false, Json::error_handler_t::replace) << '\n';
      } else {
        if (o->watch && tty) std::cout << "\x1b[H\x1b[2J";
        if (summary.contains("error")) {
          std::cout << "strata stats  " << ops::escape_terminal(ops::redact_url(o->url)) << "\n"
                    << ops::escape_terminal(summary["error"].get<std::string>()) << '\n';
        } else {
          std::cout << ops::render_stats(summary);
        }
        if (o->watch) std::cout << "\n(refresh every " << o->interval << " s; Ctrl-C to stop)\n";
      }
      std::cout.flush();
    }
  });
}

void add_write_behind_commands(CLI::App& app) {
  auto* dl =
      app.add_subcommand("dead-letters",
                         "The write-behind dead-letter store of a journal directory: list what "
                         "failed and why, replay it into the source, or drop it");
  dl->require_subcommand(1);
  auto add = [&](const char* name, const char* help, bool needs_source) {
    auto* cmd = dl->add_subcommand(name, help);
    auto o = std::make_shared<ConnectionOptions>();
    auto dir = std::make_shared<std::string>();
    cmd->add_option("--journal", *dir, "the write-behind directory")->required();
    cmd->add_option("--codec", o->codec, "the writer's codec: json or msgpack")
        ->capture_default_str();
    cmd->add_flag("--json", o->json, "machine-readable output");
    if (needs_source) ops::add_source_options(*cmd, *o);
    return std::tuple{cmd, o, dir};
  };
  {
    auto [cmd, o, dir] = add("list",
                             "List the dead letters (key, operation, value, error) without "
                             "changing anything (safe beside the running application); exit "
                             "status 1 when the file is damaged (the intact letters are listed)",
                             false);
    cmd->callback([o = o, dir = dir] {
      const Json r = ops::list_dead_letters(*dir, *o);
      ops::print_report(*o, r, ops::render_dead_letters);
      if (!r["ok"].get<bool>()) fail_quietly(1);
    });
  }
  {
    auto [cmd, o, dir] = add("replay",
                             "Write every dead letter to the source again (stop the application "
                             "first); the ones that still fail stay, with the new error",
                             true);
    cmd->callback([o = o, dir = dir] {
      const Json r = ops::replay_dead_letters(*dir, *o);
      ops::print_report(*o, r, ops::render_dead_letter_action);
      if (r["still_failing"].get<std::uint64_t>() > 0) fail_quietly(1);
    });
  }
  {
    auto [cmd, o, dir] = add("drop",
                             "Empty the dead-letter store (stop the application first; opening "
                             "the directory replays its pending journal into the source)",
                             true);
    cmd->callback([o = o, dir = dir] {
      ops::print_report(*o, ops::drop_dead_letters(*dir, *o), ops::render_dead_letter_action);
    });
  }

  auto* journal =
      app.add_subcommand("journal",
                         "A write-behind journal directory: verify its records and checksums, or "
                         "replay it into the source");
  journal->require_subcommand(1);
  {
    auto* cmd = journal->add_subcommand(
        "verify",
        "Check every segment's records and checksums, the checkpoint and the "
        "dead-letter file without changing anything (safe beside the running "
        "application); damage (a torn or corrupt tail, damaged records in the middle, a "
        "damaged header or checkpoint) is reported with its offset (exit status 1)");
    auto o = std::make_shared<ConnectionOptions>();
    auto dir = std::make_shared<std::string>();
    cmd->add_option("DIR", *dir, "the write-behind directory")->required();
    cmd->add_flag("--json", o->json, "machine-readable output");
    cmd->callback([o, dir] {
      const Json r = ops::verify_journal(*dir, *o);
      ops::print_report(*o, r, ops::render_journal_verify);
      if (!r["ok"].get<bool>()) fail_quietly(1);
    });
  }
  {
    auto* cmd = journal->add_subcommand(
        "replay",
        "Recover the directory as the application would at start-up (cut a torn tail, "
        "quarantine and skip damaged records, replay the records after the checkpoint "
        "into the source) and flush it; refused while the application holds the "
        "directory; exit status 1 when damage was quarantined");
    auto o = std::make_shared<ConnectionOptions>();
    auto dir = std::make_shared<std::string>();
    cmd->add_option("DIR", *dir, "the write-behind directory")->required();
    cmd->add_option("--codec", o->codec, "the writer's codec: json or msgpack")
        ->capture_default_str();
    cmd->add_flag("--json", o->json, "machine-readable output");
    ops::add_source_options(*cmd, *o);
    cmd->callback([o, dir] {
      const Json r = ops::replay_journal(*dir, *o);
      ops::print_report(*o, r, ops::render_journal_replay);
      if (!r["damaged"].empty()) fail_quietly(1);
    });
  }
}

}  // namespace

void add_ops(CLI::App& app) {
  add_key_commands(app);
  add_invalidate(app);
  add_stats(app);
  add_write_behind_commands(app);
}

}  // namespace strata::cli
