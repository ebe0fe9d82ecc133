#include "ops/journal_commands.h"

#include <algorithm>
#include <sstream>

#include "strata/write_behind/journal_inspect.h"

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
  return escape_terminal(j.dump(-1, ' ', false, Json::error_handler_t::replace));
}

// A string of a report (keys, errors, file names) for the terminal.
std::string txt(const Json& j) {
  return escape_terminal(j.get<std::string>());
}

Json truncation_json(const JournalTruncation& t) {
  return Json{{"file", t.file},
              {"offset", t.offset},
              {"bytes_after", t.bytes_dropped},
              {"reason", t.reason}};
}

Json damaged_json(const std::vector<JournalDamagedRange>& ranges) {
  Json out = Json::array();
  for (const auto& d : ranges) {
    out.push_back(Json{{"offset", d.offset}, {"bytes", d.bytes}, {"reason", d.reason}});
  }
  return out;
}

// The damage of one file: the tail (torn or corrupt) and every damaged range before it.
void add_damage(Json& out, const JournalFileInspection& f) {
  if (f.tail) {
    out["damaged_tail"] = truncation_json(*f.tail);
    out["damaged_tail"]["torn"] = f.tail_torn;
  }
  if (!f.damaged.empty()) out["damaged"] = damaged_json(f.damaged);
  if (!f.header_ok) out["header_ok"] = false;
}

void render_damage(std::ostringstream& out, const Json& f, const char* tail_note) {
  if (f.contains("damaged")) {
    for (const auto& d : f["damaged"]) {
      // A corrupt tail is both a damaged range and the tail: printed once, as the tail.
      if (f.contains("damaged_tail") && f["damaged_tail"]["offset"] == d["offset"]) continue;
      out << "\n    DAMAGED at offset " << d["offset"].get<std::uint64_t>() << ": "
          << txt(d["reason"]) << " (" << d["bytes"].get<std::uint64_t>()
          << " bytes skipped; recovery quarantines them and keeps every intact record)";
    }
  }
  if (f.contains("damaged_tail")) {
    const Json& t = f["damaged_tail"];
    out << "\n    DAMAGED TAIL at offset " << t["offset"].get<std::uint64_t>() << ": "
        << txt(t["reason"]) << " (" << t["bytes_after"].get<std::uint64_t>() << " bytes after it"
        << tail_note << ")";
  }
}

void require_directory(const std::filesystem::path& directory) {
  if (!std::filesystem::is_directory(directory)) {
    throw InvalidArgumentError("not a journal directory: " + directory.string());
  }
}

}  // namespace

Json list_dead_letters(const std::filesystem::path& directory, const ConnectionOptions& o) {
  require_directory(directory);
  Json report{{"directory", directory.string()}, {"letters", Json::array()}};
  const std::optional<JournalFileInspection> file = inspect_dead_letters(directory);
  if (!file) {
    report["count"] = 0;
    report["ok"] = true;
    return report;
  }
  for (const auto& r : file->records) {
    Json entry{{"sequence", r.sequence},
               {"key", r.key},
               {"op", op_name(r.op)},
               {"value_bytes", r.value.size()},
               {"error", r.error}};
    entry["value"] = decode_value(o, r.op, r.value, entry);
    report["letters"].push_back(std::move(entry));
  }
  report["count"] = file->records.size();
  add_damage(report, *file);
  report["ok"] = !file->tail && file->damaged.empty() && file->header_ok;
  return report;
}

std::string render_dead_letters(const Json& r) {
  std::ostringstream out;
  out << r["count"].get<std::size_t>() << " dead letter(s) in " << txt(r["directory"]) << '\n';
  for (const auto& l : r["letters"]) {
    out << "  #" << l["sequence"].get<std::uint64_t>() << "  " << txt(l["op"]) << ' '
        << txt(l["key"]);
    if (!l["value"].is_null()) out << " = " << dump(l["value"]);
    if (l.contains("decode_error"))
      out << " (" << l["value_bytes"].get<std::size_t>()
          << " bytes, undecodable: " << txt(l["decode_error"]) << ")";
    out << "\n      error: " << txt(l["error"]) << '\n';
  }
  if (r.contains("damaged")) {
    for (const auto& d : r["damaged"]) {
      out << "DAMAGED at offset " << d["offset"].get<std::uint64_t>() << " ("
          << d["bytes"].get<std::uint64_t>() << " bytes): " << txt(d["reason"])
          << "; the letters after it are listed\n";
    }
  }
  if (r.contains("damaged_tail")) {
    const Json& t = r["damaged_tail"];
    out << "DAMAGED TAIL at offset " << t["offset"].get<std::uint64_t>() << " ("
        << t["bytes_after"].get<std::uint64_t>() << " bytes): " << txt(t["reason"]) << '\n';
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
      out << "  #" << l["sequence"].get<std::uint64_t>() << ' ' << txt(l["key"]) << ": "
          << txt(l["error"]) << '\n';
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
  const JournalInspection j = inspect_journal(directory);
  Json report{{"directory", directory.string()}, {"segments", Json::array()}};
  if (!j.checkpoint_present) {
    report["checkpoint"] = Json{{"ok", true}, {"sequence", 0}, {"note", "no checkpoint file"}};
  } else if (!j.checkpoint_error.empty()) {
    report["checkpoint"] = Json{{"ok", false}, {"error", j.checkpoint_error}};
  } else {
    report["checkpoint"] = Json{{"ok", true}, {"sequence", j.checkpoint}};
  }
  std::uint64_t records = 0;
  std::uint64_t pending = 0;
  for (const auto& f : j.segments) {
    Json seg{{"file", f.path.filename().string()},
             {"bytes", f.bytes},
             {"records", f.records.size()},
             {"valid_bytes", f.valid_bytes}};
    if (!f.records.empty()) {
      seg["first_sequence"] = f.records.front().sequence;
      seg["last_sequence"] = f.records.back().sequence;
    }
    std::uint64_t seg_pending = 0;
    for (const auto& r : f.records) seg_pending += r.sequence > j.checkpoint ? 1 : 0;
    seg["pending"] = seg_pending;
    records += f.records.size();
    pending += seg_pending;
    add_damage(seg, f);
    report["segments"].push_back(std::move(seg));
  }
  if (!j.order_errors.empty()) report["order_errors"] = j.order_errors;
  if (j.dead_letters) {
    Json dl{{"file", j.dead_letters->path.filename().string()},
            {"records", j.dead_letters->records.size()}};
    add_damage(dl, *j.dead_letters);
    report["dead_letters"] = std::move(dl);
  }
  Json quarantine = Json::array();
  for (const auto& q : j.quarantine) quarantine.push_back(q.filename().string());
  report["quarantine"] = std::move(quarantine);
  if (j.lock_pid > 0) report["lock_pid"] = j.lock_pid;
  report["records"] = records;
  report["pending"] = pending;
  report["ok"] = !j.damaged();
  return report;
}

std::string render_journal_verify(const Json& r) {
  std::ostringstream out;
  out << "journal " << txt(r["directory"]) << '\n';
  const Json& cp = r["checkpoint"];
  out << "  checkpoint  ";
  if (cp["ok"].get<bool>()) {
    out << cp["sequence"].get<std::uint64_t>() << '\n';
  } else {
    out << "DAMAGED: " << txt(cp["error"]) << " (recovery replays everything)\n";
  }
  for (const auto& s : r["segments"]) {
    out << "  " << txt(s["file"]) << "  " << s["records"].get<std::size_t>() << " records";
    if (s.contains("first_sequence")) {
      out << " (#" << s["first_sequence"].get<std::uint64_t>() << "..#"
          << s["last_sequence"].get<std::uint64_t>() << ")";
    }
    out << ", " << s["pending"].get<std::uint64_t>() << " pending, "
        << s["bytes"].get<std::uint64_t>() << " bytes";
    if (!s.contains("damaged_tail") && !s.contains("damaged")) out << ", checksums ok";
    if (s.contains("header_ok")) out << "\n    DAMAGED FILE HEADER (records found by resync)";
    render_damage(out, s, "; recovery cuts them");
    out << '\n';
  }
  if (r.contains("order_errors")) {
    for (const auto& e : r["order_errors"]) out << "  OUT OF ORDER: " << txt(e) << '\n';
  }
  if (r.contains("dead_letters")) {
    const Json& d = r["dead_letters"];
    out << "  " << txt(d["file"]) << "  " << d["records"].get<std::size_t>() << " dead letter(s)";
    render_damage(out, d, "");
    out << '\n';
  }
  if (!r["quarantine"].empty()) {
    out << "  quarantine  " << r["quarantine"].size()
        << " file(s) of damaged bytes cut out by an earlier recovery:";
    for (const auto& q : r["quarantine"]) out << ' ' << txt(q);
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
    Json damaged = Json::array();
    for (const auto& d : rec.damaged) {
      damaged.push_back(Json{{"file", d.file},
                             {"offset", d.offset},
                             {"bytes", d.bytes},
                             {"reason", d.reason},
                             {"quarantine", d.quarantine}});
    }
    report["damaged"] = std::move(damaged);
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
    out << "  truncated " << txt(t["file"]) << " at offset " << t["offset"].get<std::uint64_t>()
        << ": " << txt(t["reason"]) << " (" << t["bytes_after"].get<std::uint64_t>()
        << " bytes dropped)\n";
  }
  for (const auto& d : r["damaged"]) {
    out << "  DAMAGED " << txt(d["file"]) << " at offset " << d["offset"].get<std::uint64_t>()
        << ": " << txt(d["reason"]) << " (" << d["bytes"].get<std::uint64_t>()
        << " bytes skipped, copied to " << txt(d["quarantine"]) << ")\n";
  }
  out << "checkpoint now " << r["checkpoint_after"].get<std::uint64_t>() << '\n';
  return out.str();
}

}  // namespace strata::ops
