// Trace parsing. Traces reach 5 M requests, so parsing avoids iostreams and allocation per
// record: the decoded file is one buffer, text is split into lines with memchr and into fields
// by hand, and numbers are parsed with overflow checks but no locale. Binary records are decoded
// with explicit shifts (no alignment or endianness assumptions). Every record error names its
// line (text) or byte offset in the decoded stream (binary). Dense ids are assigned in one pass
// over an absl::flat_hash_map once the keys are read.
#include "sim/trace_reader.h"

#include <absl/container/flat_hash_map.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <optional>
#include <string>

#include "sim/compression.h"
#include "strata/error.h"

namespace strata::sim {
namespace {

struct FormatInfo {
  std::string_view name;
  TraceFormat format;
  bool has_weights;
};

constexpr std::array<FormatInfo, 12> kFormats = {{
    {"lirs", TraceFormat::kLirs, false},
    {"address", TraceFormat::kAddress, false},
    {"address-penalties", TraceFormat::kAddressPenalties, false},
    {"cache2k", TraceFormat::kCache2k, false},
    {"cloud_physics", TraceFormat::kCloudPhysics, false},
    {"corda", TraceFormat::kCorda, false},
    {"scarab", TraceFormat::kScarab, false},
    {"adapt_size", TraceFormat::kAdaptSize, true},
    {"text", TraceFormat::kText, false},
    {"csv", TraceFormat::kCsv, true},
    {"oracle-general", TraceFormat::kOracleGeneral, true},
    {"arc", TraceFormat::kArc, false},
}};

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Splits on `sep` (or on runs of blanks when sep == ' ') into at most out.size() fields; returns
// how many fields the line has (may exceed out.size(): the extra ones are not stored).
template <std::size_t N>
std::size_t split(std::string_view line, char sep, std::array<std::string_view, N>& out) {
  std::size_t count = 0;
  if (sep == ' ') {
    std::size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && is_space(line[i])) ++i;
      if (i == line.size()) break;
      const std::size_t start = i;
      while (i < line.size() && !is_space(line[i])) ++i;
      if (count < N) out[count] = line.substr(start, i - start);
      ++count;
    }
    return count;
  }
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = line.find(sep, start);
    const auto field = trim(line.substr(start, end == std::string_view::npos ? end : end - start));
    if (count < N) out[count] = field;
    ++count;
    if (end == std::string_view::npos) return count;
    start = end + 1;
  }
}

// Unsigned decimal up to 2^64-1, or with '-' a signed value down to -2^63 returned as its
// two's complement. nullopt on anything else.
std::optional<std::uint64_t> parse_decimal(std::string_view s) {
  bool negative = false;
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  if (s.empty() || s.size() > 20) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  if (negative) {
    if (value > (std::uint64_t{1} << 63)) return std::nullopt;
    return std::uint64_t{0} - value;
  }
  return value;
}

// Hex with an optional 0x/0X prefix, up to 16 digits.
std::optional<std::uint64_t> parse_hex(std::string_view s) {
  if (s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s.remove_prefix(2);
  if (s.empty() || s.size() > 16) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : s) {
    unsigned digit;
    if (c >= '0' && c <= '9') {
      digit = static_cast<unsigned>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      digit = static_cast<unsigned>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      digit = static_cast<unsigned>(c - 'A' + 10);
    } else {
      return std::nullopt;
    }
    value = value << 4 | digit;
  }
  return value;
}

std::optional<std::uint64_t> parse_integer(std::string_view s) {
  if (s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) return parse_hex(s);
  return parse_decimal(s);
}

std::optional<std::uint32_t> parse_size(std::string_view s) {
  if (!s.empty() && s.front() == '-') return std::nullopt;
  const auto v = parse_decimal(s);
  if (!v || *v > std::numeric_limits<std::uint32_t>::max()) return std::nullopt;
  return static_cast<std::uint32_t>(*v);
}

bool is_double(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E')) {
      return false;
    }
  }
  return true;
}

[[noreturn]] void bad_line(TraceFormat format, std::size_t line_number, std::string_view line,
                           std::string_view why) {
  constexpr std::size_t kShown = 60;
  std::string shown(line.substr(0, kShown));
  if (line.size() > kShown) shown += "...";
  throw CorruptedError(std::string(format_name(format)) + " trace, line " +
                       std::to_string(line_number) + ": " + std::string(why) + " in \"" + shown +
                       "\"");
}

// Calls fn(line, line_number) for every line (without its '\n'; a last line without '\n' too).
template <typename Fn>
void for_each_line(std::string_view bytes, Fn&& fn) {
  std::size_t line_number = 0;
  const char* p = bytes.data();
  const char* const end = p + bytes.size();
  while (p < end) {
    const auto* nl =
        static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
    const char* line_end = nl != nullptr ? nl : end;
    fn(std::string_view(p, static_cast<std::size_t>(line_end - p)), ++line_number);
    p = nl != nullptr ? nl + 1 : end;
  }
}

struct Records {
  std::vector<std::uint64_t> keys;
  std::vector<std::uint32_t> weights;
};

Records parse_key_lines(std::string_view bytes, TraceFormat format) {
  Records r;
  r.keys.reserve(bytes.size() / 6);
  const bool lirs = format == TraceFormat::kLirs;
  for_each_line(bytes, [&](std::string_view raw, std::size_t n) {
    const auto line = trim(raw);
    if (line.empty() || (lirs && line == "*")) return;
    const auto key = lirs ? parse_decimal(line) : parse_integer(line);
    if (!key) bad_line(format, n, line, "expected one integer key");
    r.keys.push_back(*key);
  });
  return r;
}

Records parse_address(std::string_view bytes, TraceFormat format) {
  Records r;
  r.keys.reserve(bytes.size() / 16);
  const bool penalties = format == TraceFormat::kAddressPenalties;
  std::array<std::string_view, 5> f;
  for_each_line(bytes, [&](std::string_view line, std::size_t n) {
    const std::size_t count = split(line, ' ', f);
    if (count == 0) return;
    if (count != (penalties ? 5u : 3u)) {
      bad_line(format, n, line,
               penalties ? "expected `<l|s> 0x<hex> <n> <hit-penalty> <miss-penalty>`"
                         : "expected `<l|s> 0x<hex> <n>`");
    }
    const auto key = parse_hex(f[1]);
    if (!key) bad_line(format, n, line, "bad hex address");
    if (!parse_decimal(f[2])) bad_line(format, n, line, "bad instruction count");
    if (penalties && (!is_double(f[3]) || !is_double(f[4]))) {
      bad_line(format, n, line, "bad penalty");
    }
    r.keys.push_back(*key);
  });
  return r;
}

// The ARC traces (Megiddo and Modha's `.lis` files): `<start block> <blocks> <ignored>
// <request number>`; each line requests blocks start, start+1, ..., start+blocks-1. Only the
// first two fields are read (Caffeine's ArcTraceReader reads the same two).
Records parse_arc(std::string_view bytes) {
  // A run longer than this is a corrupt line, not a request (the published traces' longest
  // runs are a few thousand blocks).
  constexpr std::uint64_t kMaxRun = 1 << 24;
  // Every other format holds at most one request per input line, so its memory follows the
  // file's size; here a 12-byte line may ask for kMaxRun requests (128 MiB of keys). Bound the
  // whole expansion by the input's size: published traces hold well under one request per
  // input byte; past 16 (or 2^24 requests for a tiny file), the file is corrupt or hostile.
  const std::uint64_t budget =
      std::max<std::uint64_t>(std::uint64_t{1} << 24, std::uint64_t{16} * bytes.size());
  Records r;
  r.keys.reserve(bytes.size() / 8);
  std::array<std::string_view, 4> f;
  for_each_line(bytes, [&](std::string_view line, std::size_t n) {
    const std::size_t count = split(line, ' ', f);
    if (count == 0) return;
    if (count < 2) bad_line(TraceFormat::kArc, n, line, "expected `<start block> <blocks> ...`");
    const auto start = parse_decimal(f[0]);
    const auto blocks = parse_decimal(f[1]);
    if (!start || !blocks) bad_line(TraceFormat::kArc, n, line, "expected two decimal integers");
    if (*blocks > kMaxRun) bad_line(TraceFormat::kArc, n, line, "implausibly long block run");
    if (*start > std::numeric_limits<std::uint64_t>::max() - *blocks) {
      bad_line(TraceFormat::kArc, n, line, "block run overflows 64 bits");
    }
    if (*blocks > budget - r.keys.size()) {
      bad_line(TraceFormat::kArc, n, line,
               "the block runs so far expand to more than " + std::to_string(budget) +
                   " requests (16 per input byte): a corrupt file");
    }
    for (std::uint64_t b = 0; b < *blocks; ++b) r.keys.push_back(*start + b);
  });
  return r;
}

Records parse_adapt_size(std::string_view bytes) {
  Records r;
  std::array<std::string_view, 3> f;
  for_each_line(bytes, [&](std::string_view line, std::size_t n) {
    const std::size_t count = split(line, ' ', f);
    if (count == 0) return;
    if (count != 3) bad_line(TraceFormat::kAdaptSize, n, line, "expected `<time> <id> <size>`");
    const auto id = parse_decimal(f[1]);
    const auto size = parse_size(f[2]);
    if (!parse_decimal(f[0]) || !id || !size) {
      bad_line(TraceFormat::kAdaptSize, n, line, "expected three non-negative integers");
    }
    // Caffeine keys this trace on the (id, size) pair: the same id with a new size is a new
    // object. mix64 is a bijection, so only pairs whose mixes differ by a 32-bit xor collide.
    r.keys.push_back(mix64(mix64(*id) ^ *size));
    r.weights.push_back(*size);
  });
  return r;
}

Records parse_csv(std::string_view bytes) {
  Records r;
  std::size_t lbn_column = 0;
  std::size_t size_column = 0;
  std::size_t columns = 0;
  std::array<std::string_view, 16> f;
  for_each_line(bytes, [&](std::string_view line, std::size_t n) {
    if (trim(line).empty()) return;
    const std::size_t count = split(line, ',', f);
    if (columns == 0) {  // the header
      bool lbn = false;
      bool size = false;
      for (std::size_t i = 0; i < std::min(count, f.size()); ++i) {
        if (f[i] == "lbn") lbn_column = i, lbn = true;
        if (f[i] == "size") size_column = i, size = true;
      }
      if (!lbn || !size) {
        bad_line(TraceFormat::kCsv, n, line, "expected a header with `size` and `lbn` columns");
      }
      columns = count;
      return;
    }
    if (count != columns) {
      bad_line(TraceFormat::kCsv, n, line,
               "expected " + std::to_string(columns) + " fields, found " + std::to_string(count));
    }
    const auto key = parse_decimal(f[lbn_column]);
    const auto size = parse_size(f[size_column]);
    if (!key) bad_line(TraceFormat::kCsv, n, line, "bad lbn");
    if (!size) bad_line(TraceFormat::kCsv, n, line, "bad size");
    r.keys.push_back(*key);
    r.weights.push_back(*size);
  });
  if (columns == 0) throw CorruptedError("csv trace: no header line");
  return r;
}

std::uint64_t load_be(const unsigned char* p, std::size_t width) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < width; ++i) v = v << 8 | p[i];
  return v;
}

std::uint64_t load_le(const unsigned char* p, std::size_t width) {
  std::uint64_t v = 0;
  for (std::size_t i = width; i-- > 0;) v = v << 8 | p[i];
  return v;
}

void check_whole_records(std::string_view bytes, std::size_t width, TraceFormat format) {
  if (bytes.size() % width != 0) {
    const std::size_t offset = bytes.size() - bytes.size() % width;
    throw CorruptedError(std::string(format_name(format)) +
                         " trace: truncated record at byte offset " + std::to_string(offset) +
                         " (" + std::to_string(bytes.size() - offset) + " of " +
                         std::to_string(width) + " bytes)");
  }
}

// Fixed-size big-endian keys; `sign_extend` turns an int32 into its 64-bit two's complement.
Records parse_big_endian(std::string_view bytes, std::size_t width, bool sign_extend,
                         TraceFormat format) {
  check_whole_records(bytes, width, format);
  Records r;
  const std::size_t n = bytes.size() / width;
  r.keys.resize(n);
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  for (std::size_t i = 0; i < n; ++i, p += width) {
    std::uint64_t v = load_be(p, width);
    if (sign_extend && width == 4) {
      v = static_cast<std::uint64_t>(static_cast<std::int64_t>(static_cast<std::int32_t>(v)));
    }
    r.keys[i] = v;
  }
  return r;
}

Records parse_oracle_general(std::string_view bytes) {
  constexpr std::size_t kWidth = 24;
  check_whole_records(bytes, kWidth, TraceFormat::kOracleGeneral);
  Records r;
  const std::size_t n = bytes.size() / kWidth;
  r.keys.resize(n);
  r.weights.resize(n);
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  for (std::size_t i = 0; i < n; ++i, p += kWidth) {
    r.keys[i] = load_le(p + 4, 8);
    r.weights[i] = static_cast<std::uint32_t>(load_le(p + 12, 4));
  }
  return r;
}

std::string lower_extension_free_name(const std::filesystem::path& path) {
  std::string name = path.filename().string();
  for (std::string_view ext : {".gz", ".xz", ".zst"}) {
    if (name.size() > ext.size() && name.ends_with(ext)) name.resize(name.size() - ext.size());
  }
  return name;
}

}  // namespace

std::string_view format_name(TraceFormat format) noexcept {
  for (const auto& f : kFormats) {
    if (f.format == format) return f.name;
  }
  return "?";
}

std::string format_names() {
  std::string names;
  for (const auto& f : kFormats) {
    if (!names.empty()) names += ", ";
    names += f.name;
  }
  return names;
}

bool format_has_weights(TraceFormat format) noexcept {
  for (const auto& f : kFormats) {
    if (f.format == format) return f.has_weights;
  }
  return false;
}

TraceFormat parse_format(std::string_view name) {
  for (const auto& f : kFormats) {
    if (f.name == name) return f.format;
  }
  if (name == "oracleGeneral" || name == "oracle_general") return TraceFormat::kOracleGeneral;
  if (name == "txt") return TraceFormat::kText;
  throw InvalidArgumentError("--format: unknown trace format '" + std::string(name) +
                             "' (known: " + format_names() + ")");
}

TraceFormat guess_format(const std::filesystem::path& path) {
  const std::string file = path.filename().string();
  if (file.find("oracleGeneral") != std::string::npos) return TraceFormat::kOracleGeneral;
  const auto parent = path.parent_path();
  const std::string folder = parent.filename().string();
  if (folder == "penalties" && parent.parent_path().filename() == "address") {
    return TraceFormat::kAddressPenalties;
  }
  for (const auto& f : kFormats) {
    if (f.name == folder && f.format != TraceFormat::kText && f.format != TraceFormat::kCsv) {
      return f.format;
    }
  }
  const std::string stem = lower_extension_free_name(path);
  if (stem.ends_with(".csv")) return TraceFormat::kCsv;
  if (stem.ends_with(".txt")) return TraceFormat::kText;
  throw InvalidArgumentError("cannot guess the trace format of '" + path.string() +
                             "' from its path; pass --format (one of " + format_names() + ")");
}

Trace::Trace(std::vector<std::uint64_t> keys, std::vector<std::uint32_t> weights)
    : keys_(std::move(keys)), weights_(std::move(weights)) {
  if (!weights_.empty() && weights_.size() != keys_.size()) {
    throw InvalidArgumentError("a trace needs one weight per request");
  }
  if (keys_.size() > std::numeric_limits<std::uint32_t>::max()) {
    throw InvalidArgumentError("traces are limited to 2^32-1 requests");
  }
  ids_.resize(keys_.size());
  absl::flat_hash_map<std::uint64_t, std::uint32_t> index;
  index.reserve(std::min<std::size_t>(keys_.size(), 1 << 16));
  for (std::size_t i = 0; i < keys_.size(); ++i) {
    const auto [it, inserted] =
        index.try_emplace(keys_[i], static_cast<std::uint32_t>(id_keys_.size()));
    if (inserted) id_keys_.push_back(keys_[i]);
    ids_[i] = it->second;
  }
}

Trace parse_trace(std::string_view bytes, TraceFormat format) {
  Records r;
  switch (format) {
    case TraceFormat::kLirs:
    case TraceFormat::kText:
      r = parse_key_lines(bytes, format);
      break;
    case TraceFormat::kAddress:
    case TraceFormat::kAddressPenalties:
      r = parse_address(bytes, format);
      break;
    case TraceFormat::kCache2k:
      r = parse_big_endian(bytes, 4, /*sign_extend=*/true, format);
      break;
    case TraceFormat::kCloudPhysics:
      r = parse_big_endian(bytes, 4, /*sign_extend=*/false, format);
      break;
    case TraceFormat::kCorda:
    case TraceFormat::kScarab:
      r = parse_big_endian(bytes, 8, /*sign_extend=*/false, format);
      break;
    case TraceFormat::kAdaptSize:
      r = parse_adapt_size(bytes);
      break;
    case TraceFormat::kCsv:
      r = parse_csv(bytes);
      break;
    case TraceFormat::kOracleGeneral:
      r = parse_oracle_general(bytes);
      break;
    case TraceFormat::kArc:
      r = parse_arc(bytes);
      break;
  }
  return Trace(std::move(r.keys), std::move(r.weights));
}

Trace read_trace(const std::filesystem::path& path, TraceFormat format) {
  const std::string bytes = read_file_decompressed(path);
  try {
    return parse_trace(bytes, format);
  } catch (const CorruptedError& e) {
    // what() reads "corrupted: <message>"; keep one prefix.
    const std::string_view message = std::string_view(e.what()).substr(std::strlen("corrupted: "));
    throw CorruptedError(path.string() + ": " + std::string(message));
  }
}

}  // namespace strata::sim
