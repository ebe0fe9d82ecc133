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

}  // namespace strata::ops
