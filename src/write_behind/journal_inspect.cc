// journal_inspect.cc: strata/write_behind/journal_inspect.h over journal.h's scan, read-only.
#include "strata/write_behind/journal_inspect.h"

#include <algorithm>

#include "strata/error.h"
#include "write_behind/journal.h"

namespace strata {
namespace {

JournalFileInspection inspect_file(const std::filesystem::path& path,
                                   std::optional<std::uint64_t> first_sequence) {
  const std::string data = write_behind::read_file(path);
  auto scan = write_behind::scan_bytes(data, path.string(), first_sequence);
  JournalFileInspection out;
  out.path = path;
  out.bytes = data.size();
  out.valid_bytes = scan.valid_bytes;
  out.header_ok = scan.header_ok;
  out.records.reserve(scan.records.size());
  for (auto& r : scan.records) {
    out.records.push_back(
        {r.sequence, r.op, std::move(r.key), std::move(r.value), std::move(r.error)});
  }
  for (auto& d : scan.damaged) out.damaged.push_back({d.offset, d.bytes, std::move(d.reason)});
  out.tail = std::move(scan.truncation);
  out.tail_torn = scan.tail_torn;
  return out;
}

void require_directory(const std::filesystem::path& directory) {
  if (!std::filesystem::is_directory(directory)) {
    throw InvalidArgumentError("not a journal directory: " + directory.string());
  }
}

}  // namespace

bool JournalInspection::damaged() const noexcept {
  const auto bad = [](const JournalFileInspection& f) {
    return !f.damaged.empty() || f.tail.has_value() || !f.header_ok;
  };
  return !checkpoint_error.empty() || !order_errors.empty() ||
         std::any_of(segments.begin(), segments.end(), bad) || (dead_letters && bad(*dead_letters));
}

JournalInspection inspect_journal(const std::filesystem::path& directory) {
  require_directory(directory);
  JournalInspection out;
  out.directory = directory;
  out.checkpoint_present = std::filesystem::exists(directory / "checkpoint");
  if (out.checkpoint_present) {
    out.checkpoint_error = write_behind::checkpoint_problem(directory);
    out.checkpoint = write_behind::read_checkpoint(directory);
  }
  std::uint64_t last = 0;
  for (const auto& [first, path] : write_behind::list_segments(directory)) {
    out.segments.push_back(inspect_file(path, first));
    for (const auto& r : out.segments.back().records) {
      if (r.sequence <= last) {
        out.order_errors.push_back(path.filename().string() + ": sequence " +
                                   std::to_string(r.sequence) + " after " + std::to_string(last));
      }
      last = std::max(last, r.sequence);
    }
  }
  out.dead_letters = inspect_dead_letters(directory);
  out.quarantine = write_behind::list_quarantine(directory);
  out.lock_pid = write_behind::lock_file_pid(directory);
  return out;
}

std::optional<JournalFileInspection> inspect_dead_letters(const std::filesystem::path& directory) {
  require_directory(directory);
  const auto path = write_behind::dead_letter_path(directory);
  if (!std::filesystem::exists(path)) return std::nullopt;
  return inspect_file(path, std::nullopt);
}

}  // namespace strata
