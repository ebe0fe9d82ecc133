// ops/key_commands.h: the per-key operator commands as library calls (the CLI in ops_cli.cc is a
// thin shell over them): `strata inspect`, `strata get`, `strata put`, `strata del`, and
// `strata invalidate --key`. Each returns its report as JSON (what --json prints) and has a
// renderer for people.
//
//   strata::ops::OpsContext ctx(options);
//   std::cout << strata::ops::render_inspect(strata::ops::inspect_key(ctx, "42"));
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "ops/ops_context.h"
#include "strata/codec/json.h"

namespace strata::ops {

// What L2 holds for `key` (raw length, the decoded envelope and value, TTL, fill token), and the
// source row when the options map a table. Undecodable bytes are reported, never thrown.
[[nodiscard]] Json inspect_key(OpsContext& ctx, std::string_view key);
[[nodiscard]] std::string render_inspect(const Json& report);

// Cache<nlohmann::json>::get: {"key", "found", "value"}.
[[nodiscard]] Json get_key(OpsContext& ctx, std::string_view key);
[[nodiscard]] std::string render_get(const Json& report);

// Cache<nlohmann::json>::put per the write mode: {"key", "write_mode", "value"}.
[[nodiscard]] Json put_key(OpsContext& ctx, std::string_view key, const Json& value);
// Cache<nlohmann::json>::erase per the write mode: {"key", "write_mode", "l2_had_value"}.
[[nodiscard]] Json del_key(OpsContext& ctx, std::string_view key);
[[nodiscard]] std::string render_write(const Json& report);

// Cache<nlohmann::json>::invalidate for each key (L2 value and fill token, and the L1):
// {"keys": [{"key", "l2_had_value"}], "invalidated", "present"}.
[[nodiscard]] Json invalidate_keys(OpsContext& ctx, std::span<const std::string> keys);

// Cache<nlohmann::json>::invalidate_entity for each entity: the entity's own value and
// every key recorded in its dependency set deps:{entity}. A dry run lists them and deletes
// nothing. {"by": "entity", "entities": [{"entity", "dependents": [...]}], "invalidated"}.
[[nodiscard]] Json invalidate_entities(OpsContext& ctx, std::span<const std::string> entities,
                                       bool dry_run);
// strata::invalidate_pattern: SCAN MATCH `pattern` (a Redis key glob) on every master, DEL in
// batches, announced on the bus. {"by": "pattern", "matched", "deleted", "batches", "keys"}.
[[nodiscard]] Json invalidate_by_pattern(OpsContext& ctx, const std::string& pattern, bool dry_run,
                                         std::size_t batch);
// NamespaceVersions::bump for each namespace (broadcast: every instance flushes its L1s).
// {"by": "namespace", "namespaces": [{"namespace", "generation", "new_generation"}]}.
[[nodiscard]] Json bump_namespaces(OpsContext& ctx, std::span<const std::string> names,
                                   bool dry_run);
[[nodiscard]] std::string render_invalidate(const Json& report);

// The entities whose dependency sets list `key`'s Redis key: SCAN PREFIX* + SISMEMBER.
[[nodiscard]] std::vector<std::string> entities_of(OpsContext& ctx, std::string_view key);

}  // namespace strata::ops
