// strata/write_behind/journal_inspect.h: read-only inspection of a write-behind journal directory
// (segments, records, damaged ranges, checkpoint, dead letters, quarantine files), as plain
// structs. Use it for tooling (`strata journal verify`, `strata dead-letters list`) and
// monitoring: it never takes the directory lock and never writes, truncates or deletes anything,
// so it is safe beside the live owner (it may then see a record being appended as a torn tail).
//
//   const strata::JournalInspection j = strata::inspect_journal("/var/lib/app/wb");
//   if (j.damaged()) std::cerr << j.segments.size() << " segments, damage found\n";
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "strata/write_behind/write_behind_options.h"

namespace strata {

// One record as stored (the value is the codec's encoding).
struct JournalRecordInfo {
  std::uint64_t sequence = 0;
  WriteOp op = WriteOp::kPut;
  std::string key;
  std::string value;
  std::string error;  // dead letters only: why the write failed
};

// Damaged bytes recovery would skip (and quarantine).
struct JournalDamagedRange {
  std::uint64_t offset = 0;
  std::uint64_t bytes = 0;
  std::string reason;
};

// One segment or the dead-letter file.
struct JournalFileInspection {
  std::filesystem::path path;
  std::uint64_t bytes = 0;        // file size
  std::uint64_t valid_bytes = 0;  // end of the last intact record
  bool header_ok = true;
  std::vector<JournalRecordInfo> records;    // every intact record
  std::vector<JournalDamagedRange> damaged;  // damage that is not a crash's torn tail
  std::optional<JournalTruncation> tail;     // bytes after the last intact record, if any
  bool tail_torn = false;                    // that tail is a crash's partial write

  // Damage that recovery quarantines (a torn tail alone is an ordinary crash's trace).
  [[nodiscard]] bool damaged_any() const noexcept { return !damaged.empty(); }
};

struct JournalInspection {
  std::filesystem::path directory;
  bool checkpoint_present = false;
  std::uint64_t checkpoint = 0;                       // 0 when absent or unreadable
  std::string checkpoint_error;                       // "" when fine or absent
  std::vector<JournalFileInspection> segments;        // by first sequence
  std::optional<JournalFileInspection> dead_letters;  // when deadletters.log exists
  std::vector<std::filesystem::path> quarantine;      // earlier recoveries' quarantine files
  long lock_pid = 0;  // the pid in the lock file: the current or last owner (0: none)
  std::vector<std::string> order_errors;  // sequences that do not increase across segments

  // Anything recovery would have to cut or skip, an unreadable checkpoint, or disorder.
  [[nodiscard]] bool damaged() const noexcept;
};

// Reads the directory; throws InvalidArgumentError when it is not a directory and
// UnavailableError when a file cannot be read.
[[nodiscard]] JournalInspection inspect_journal(const std::filesystem::path& directory);
// Only the dead-letter file (nullopt when there is none); same errors.
[[nodiscard]] std::optional<JournalFileInspection> inspect_dead_letters(
    const std::filesystem::path& directory);

}  // namespace strata
