#include "ops/journal_commands.h"

#include <algorithm>
#include <sstream>

#include "core/crc32c.h"
#include "write_behind/journal.h"

namespace strata::ops {

namespace {

std::string op_name(WriteOp op) {
  return op == WriteOp::kPut ? "put" : "erase";
}

Json decode_value(const ConnectionOptions& o, WriteOp op, std::string_view bytes, Json& entry) {
  if (op != WriteOp::kPut) return nullptr;
  try {
    return decode_by_codec_id(codec_id_of(o), bytes);
  } catch (const CorruptedError& e) {
    entry["decode_error"] = e.what();
    return nullptr;
  }
}

std::string dump(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Json truncation_json(const JournalTruncation& t) {
  return Json{{"file", t.file},
              {"offset", t.offset},
              {"bytes_after", t.bytes_dropped},
              {"reason", t.reason}};
}

std::uint64_t u64_le(const std::string& s) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[i]);
  return v;
}
std::uint32_t u32_le(const char* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

void require_directory(const std::filesystem::path& directory) {
  if (!std::filesystem::is_directory(directory)) {
    throw InvalidArgumentError("not a journal directory: " + directory.string());
  }
}

}  // namespace

Json list_dead_letters(const std::filesystem::path& directory, const ConnectionOptions& o) {
  require_directory(directory);
  const auto path = write_behind::dead_letter_path(directory);
  Json report{{"directory", directory.string()}, {"letters", Json::array()}};
  if (!std::filesystem::exists(path)) {
    report["count"] = 0;
    return report;
  }
  const write_behind::ScanResult scan = write_behind::scan_file(path, /*repair=*/false);
  for (const auto& r : scan.records) {
    Json entry{{"sequence", r.sequence},
               {"key", r.key},
               {"op", op_name(r.op)},
               {"value_bytes", r.value.size()},
               {"error", r.error}};
    entry["value"] = decode_value(o, r.op, r.value, entry);
    report["letters"].push_back(std::move(entry));
  }
  report["count"] = scan.records.size();
  if (scan.truncation) report["damaged_tail"] = truncation_json(*scan.truncation);
  return report;
}

std::string render_dead_letters(const Json& r) {
  std::ostringstream out;
  out << r["count"].get<std::size_t>() << " dead letter(s) in " << r["directory"].get<std::string>()
      << '\n';
  for (const auto& l : r["letters"]) {
    out << "  #" << l["sequence"].get<std::uint64_t>() << "  " << l["op"].get<std::string>() << ' '
        << l["key"].get<std::string>();
    if (!l["value"].is_null()) out << " = " << dump(l["value"]);
    if (l.contains("decode_error"))
      out << " (" << l["value_bytes"].get<std::size_t>()
          << " bytes, undecodable: " << l["decode_error"].get<std::string>() << ")";
    out << "\n      error: " << l["error"].get<std::string>() << '\n';
  }
  if (r.contains("damaged_tail")) {
    const Json& t = r["damaged_tail"];
    out << "DAMAGED TAIL at offset " << t["offset"].get<std::uint64_t>() << " ("
        << t["bytes_after"].get<std::uint64_t>() << " bytes): " << t["reason"].get<std::string>()
        << '\n';
  }
  return out.str();
}

Json replay_dead_letters(const std::filesystem::path& directory, const ConnectionOptions& o) {
  require_directory(directory);
  Json report{{"directory", directory.string()}, {"action", "replay"}};
  with_write_behind(o, directory, [&](WriteBehindHandle& wb) {
    report["journal_records_recovered"] = wb.recovery.records_replayed;
    const std::size_t before = wb.dead_letters().size();
    const DeadLetterReplay replay = wb.replay_dead_letters();
    Json still = Json::array();
    for (const auto& l : wb.dead_letters()) {
      still.push_back(Json{{"sequence", l.sequence}, {"key", l.key}, {"error", l.error}});
    }
    report["before"] = before;
    report["replayed"] = replay.replayed;
    report["still_failing"] = replay.still_failing;
    report["remaining"] = std::move(still);
  });
  return report;
}

Json drop_dead_letters(const std::filesystem::path& directory, const ConnectionOptions& o) {
  require_directory(directory);
  Json report{{"directory", directory.string()}, {"action", "drop"}};
  with_write_behind(o, directory, [&](WriteBehindHandle& wb) {
    report["journal_records_recovered"] = wb.recovery.records_replayed;
    report["dropped"] = wb.drop_dead_letters();
  });
  return report;
}

std::string render_dead_letter_action(const Json& r) {
  std::ostringstream out;
  if (r["action"] == "replay") {
    out << "replayed " << r["replayed"].get<std::uint64_t>() << " of "
        << r["before"].get<std::size_t>() << " dead letter(s); "
        << r["still_failing"].get<std::uint64_t>() << " still failing\n";
    for (const auto& l : r["remaining"]) {
      out << "  #" << l["sequence"].get<std::uint64_t>() << ' ' << l["key"].get<std::string>()
          << ": " << l["error"].get<std::string>() << '\n';
    }
  } else {
    out << "dropped " << r["dropped"].get<std::size_t>() << " dead letter(s)\n";
  }
  if (r["journal_records_recovered"].get<std::uint64_t>() > 0) {
    out << "(opening the journal replayed " << r["journal_records_recovered"].get<std::uint64_t>()
        << " pending record(s) into the source)\n";
  }
  return out.str();
}

Json verify_journal(const std::filesystem::path& directory, const ConnectionOptions& o) {
  (void)o;
  require_directory(directory);
  Json report{{"directory", directory.string()}, {"segments", Json::array()}};
  bool ok = true;
  // The checkpoint: 8-byte LE sequence + CRC-32C of those 8 bytes.
  std::uint64_t checkpoint = 0;
  const auto checkpoint_path = directory / "checkpoint";
  if (std::filesystem::exists(checkpoint_path)) {
    const std::string data = write_behind::read_file(checkpoint_path);
    if (data.size() != 12) {
      report["checkpoint"] =
          Json{{"ok", false}, {"error", "size " + std::to_string(data.size()) + ", want 12"}};
      ok = false;
    } else if (core::crc32c(std::string_view(data).substr(0, 8)) != u32_le(data.data() + 8)) {
      report["checkpoint"] = Json{{"ok", false}, {"error", "checksum mismatch"}};
      ok = false;
    } else {
      checkpoint = u64_le(data);
      report["checkpoint"] = Json{{"ok", true}, {"sequence", checkpoint}};
    }
  } else {
    report["checkpoint"] = Json{{"ok", true}, {"sequence", 0}, {"note", "no checkpoint file"}};
  }
  std::uint64_t records = 0;
  std::uint64_t pending = 0;
  std::uint64_t last_sequence = 0;
  for (const auto& [first, path] : write_behind::list_segments(directory)) {
    const write_behind::ScanResult scan = write_behind::scan_file(path, /*repair=*/false);
    Json seg{{"file", path.filename().string()},
             {"bytes", std::filesystem::file_size(path)},
             {"records", scan.records.size()},
             {"valid_bytes", scan.valid_bytes}};
    if (!scan.records.empty()) {
      seg["first_sequence"] = scan.records.front().sequence;
      seg["last_sequence"] = scan.records.back().sequence;
    }
    std::uint64_t seg_pending = 0;
    for (const auto& r : scan.records) {
      if (r.sequence <= last_sequence) {
        seg["order_error"] =
            "sequence " + std::to_string(r.sequence) + " after " + std::to_string(last_sequence);
        ok = false;
      }
      last_sequence = std::max(last_sequence, r.sequence);
      if (r.sequence > checkpoint) ++seg_pending;
    }
    seg["pending"] = seg_pending;
    records += scan.records.size();
    pending += seg_pending;
    if (scan.truncation) {
      seg["damaged_tail"] = truncation_json(*scan.truncation);
      ok = false;
    }
    report["segments"].push_back(std::move(seg));
  }
  const auto dl_path = write_behind::dead_letter_path(directory);
  if (std::filesystem::exists(dl_path)) {
    const write_behind::ScanResult scan = write_behind::scan_file(dl_path, /*repair=*/false);
    Json dl{{"file", dl_path.filename().string()}, {"records", scan.records.size()}};
    if (scan.truncation) {
      dl["damaged_tail"] = truncation_json(*scan.truncation);
      ok = false;
    }
    report["dead_letters"] = std::move(dl);
  }
  report["records"] = records;
  report["pending"] = pending;
  report["ok"] = ok;
  return report;
}

std::string render_journal_verify(const Json& r) {
  std::ostringstream out;
  out << "journal " << r["directory"].get<std::string>() << '\n';
  const Json& cp = r["checkpoint"];
  out << "  checkpoint  ";
  if (cp["ok"].get<bool>()) {
    out << cp["sequence"].get<std::uint64_t>() << '\n';
  } else {
    out << "DAMAGED: " << cp["error"].get<std::string>() << " (recovery replays everything)\n";
  }
  for (const auto& s : r["segments"]) {
    out << "  " << s["file"].get<std::string>() << "  " << s["records"].get<std::size_t>()
        << " records";
    if (s.contains("first_sequence")) {
      out << " (#" << s["first_sequence"].get<std::uint64_t>() << "..#"
          << s["last_sequence"].get<std::uint64_t>() << ")";
    }
    out << ", " << s["pending"].get<std::uint64_t>() << " pending, "
        << s["bytes"].get<std::uint64_t>() << " bytes";
    if (s.contains("damaged_tail")) {
      const Json& t = s["damaged_tail"];
      out << "\n    DAMAGED TAIL at offset " << t["offset"].get<std::uint64_t>() << ": "
          << t["reason"].get<std::string>() << " (" << t["bytes_after"].get<std::uint64_t>()
          << " bytes after it; recovery truncates them)";
    } else {
      out << ", checksums ok";
    }
    if (s.contains("order_error"))
      out << "\n    OUT OF ORDER: " << s["order_error"].get<std::string>();
    out << '\n';
  }
  if (r.contains("dead_letters")) {
    const Json& d = r["dead_letters"];
    out << "  " << d["file"].get<std::string>() << "  " << d["records"].get<std::size_t>()
        << " dead letter(s)";
    if (d.contains("damaged_tail")) {
      out << "\n    DAMAGED TAIL at offset " << d["damaged_tail"]["offset"].get<std::uint64_t>()
          << ": " << d["damaged_tail"]["reason"].get<std::string>();
    }
    out << '\n';
  }
  out << (r["ok"].get<bool>() ? "OK" : "DAMAGED") << ": " << r["records"].get<std::uint64_t>()
      << " records, " << r["pending"].get<std::uint64_t>() << " after the checkpoint\n";
  return out.str();
}

Json replay_journal(const std::filesystem::path& directory, const ConnectionOptions& o) {
  require_directory(directory);
  Json report{{"directory", directory.string()}};
  with_write_behind(o, directory, [&](WriteBehindHandle& wb) {
    const RecoveryReport& rec = wb.recovery;
    report["checkpoint"] = rec.checkpoint;
    report["records_replayed"] = rec.records_replayed;
    report["records_skipped"] = rec.records_skipped;
    Json truncations = Json::array();
    for (const auto& t : rec.truncations) truncations.push_back(truncation_json(t));
    report["truncations"] = std::move(truncations);
    wb.flush(std::chrono::seconds(60));
    const WriteBehindStats stats = wb.stats();
    report["flushed"] = stats.flushed;
    report["coalesced"] = stats.coalesced;
    report["dead_lettered"] = stats.dead_lettered;
    report["checkpoint_after"] = stats.checkpoint;
  });
  return report;
}

std::string render_journal_replay(const Json& r) {
  std::ostringstream out;
  out << "replayed " << r["records_replayed"].get<std::uint64_t>() << " record(s) after checkpoint "
      << r["checkpoint"].get<std::uint64_t>() << " (" << r["records_skipped"].get<std::uint64_t>()
      << " already in the source): " << r["flushed"].get<std::uint64_t>() << " written, "
      << r["coalesced"].get<std::uint64_t>() << " coalesced, "
      << r["dead_lettered"].get<std::uint64_t>() << " dead-lettered\n";
  for (const auto& t : r["truncations"]) {
    out << "  truncated " << t["file"].get<std::string>() << " at offset "
        << t["offset"].get<std::uint64_t>() << ": " << t["reason"].get<std::string>() << " ("
        << t["bytes_after"].get<std::uint64_t>() << " bytes dropped)\n";
  }
  out << "checkpoint now " << r["checkpoint_after"].get<std::uint64_t>() << '\n';
  return out.str();
}

}  // namespace strata::ops
