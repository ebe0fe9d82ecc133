// ops/journal_commands.h: the write-behind operator commands as library calls:
// `strata dead-letters list|replay|drop` and `strata journal verify|replay`.
// `list` and `verify` only read the directory (strata/write_behind/journal_inspect.h): no lock,
// no checkpoint, no truncation, safe beside the running application. `replay` and `drop` open
// the directory as a WriteBehind<nlohmann::json> over the source, which first takes the
// directory lock (JournalLockedError naming the owner's pid while the application runs) and
// recovers the journal (replaying what it holds into the source, as the application does at
// start-up).
//
//   Json report = strata::ops::verify_journal("/var/lib/app/wb", options);
//   std::cout << strata::ops::render_journal_verify(report);
#pragma once

#include <filesystem>
#include <string>

#include "ops/ops_context.h"
#include "strata/codec/json.h"

namespace strata::ops {

// The dead letters of `directory` (deadletters.log), values decoded with the options' codec.
[[nodiscard]] Json list_dead_letters(const std::filesystem::path& directory,
                                     const ConnectionOptions& o);
[[nodiscard]] std::string render_dead_letters(const Json& report);
// WriteBehind::replay_dead_letters into the options' source.
[[nodiscard]] Json replay_dead_letters(const std::filesystem::path& directory,
                                       const ConnectionOptions& o);
// WriteBehind::drop_dead_letters.
[[nodiscard]] Json drop_dead_letters(const std::filesystem::path& directory,
                                     const ConnectionOptions& o);
[[nodiscard]] std::string render_dead_letter_action(const Json& report);

// Every segment's records and checksums, the checkpoint, the dead-letter file, the quarantine
// files. A damaged tail (file, offset, bytes after it, reason, torn or not) and every damaged
// range before it (offset, bytes, reason) are reported; the scan resynchronises after damage
// and goes on. report["ok"] is false when anything is damaged.
[[nodiscard]] Json verify_journal(const std::filesystem::path& directory,
                                  const ConnectionOptions& o);
[[nodiscard]] std::string render_journal_verify(const Json& report);
// Opens the directory as a WriteBehind over the source (recovery: torn tails cut, damage
// quarantined and listed in report["damaged"], records after the checkpoint replayed), flushes
// and closes it.
[[nodiscard]] Json replay_journal(const std::filesystem::path& directory,
                                  const ConnectionOptions& o);
[[nodiscard]] std::string render_journal_replay(const Json& report);

}  // namespace strata::ops
