// commands.h: how each area plugs its commands into the `strata` tool. Every function adds its
// subcommand (with options, help and a callback) to the app or to `strata bench`.
#pragma once

#include <CLI/CLI.hpp>

namespace strata::cli {

// `strata bench`: the main job (tools/bench/user_service_cli.cc). Returns the `bench` command so
// that the other benchmarks can hang under it as `strata bench <name>`.
CLI::App& add_bench(CLI::App& app);

}  // namespace strata::cli
