// sim/trace_reader.h: reads cache traces (the formats of Caffeine's simulator and libCacheSim)
// into memory, for `strata sim`. Use read_trace() with a format, or guess_format() from a path.
//
//   strata::sim::Trace t = strata::sim::read_trace("traces/lirs/gli.trace.gz", TraceFormat::kLirs);
//   strata::sim::read_trace("traces/arc/OLTP.lis", TraceFormat::kArc);  // block runs expanded
//   t.size();  // 6015 requests;  t.distinct_keys();  // 2529
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace strata::sim {

// One value per family; the names are the folder names of the shared trace collection.
enum class TraceFormat {
  kLirs,              // "lirs": decimal key per line; `*` and empty lines skipped
  kAddress,           // "address": `<l|s> 0x<hex> <n>`, key = the hex address
  kAddressPenalties,  // "address-penalties": same + `<hit-penalty> <miss-penalty>` (ignored)
  kCache2k,           // "cache2k": big-endian int32 per request
  kCloudPhysics,      // "cloud_physics": big-endian uint32 per request
  kCorda,             // "corda": big-endian int64 per request
  kScarab,            // "scarab": big-endian int64 per request
  kAdaptSize,         // "adapt_size": `<time> <id> <size>`; key = hash(id, size), weight = size
  kText,              // "text": one integer key per line (decimal, or hex with 0x)
  kCsv,               // "csv": libCacheSim's `version,time,op,size,lbn`; key = lbn, weight = size
  kOracleGeneral,     // "oracle-general": little-endian {u32 time; u64 id; u32 size; i64 next}
  kArc,               // "arc": `<start block> <blocks> [<ignored> <request number>]` per line,
                      // blocks start .. start+blocks-1 requested in turn (the ARC authors'
                      // traces: S1-S3, DS1, OLTP, P1-P14, ConCat, Merge; as Caffeine reads them)
};

// The format's name as `--format` takes it, e.g. "cloud_physics".
[[nodiscard]] std::string_view format_name(TraceFormat format) noexcept;
// Every name, comma-separated, for help texts and error messages.
[[nodiscard]] std::string format_names();
// Whether records carry a size (adapt_size, csv, oracle-general): what `--weighted` needs.
[[nodiscard]] bool format_has_weights(TraceFormat format) noexcept;
// Parses a `--format` value. Throws InvalidArgumentError naming the known formats.
[[nodiscard]] TraceFormat parse_format(std::string_view name);
// Guesses from a path: `oracleGeneral` in the file name; else the folder holding the file
// (lirs, address, address/penalties, cache2k, cloud_physics, corda, scarab, adapt_size, arc); else
// the extension (.csv, .txt, also under .gz/.xz). Throws InvalidArgumentError when none fits.
[[nodiscard]] TraceFormat guess_format(const std::filesystem::path& path);

// A trace in memory. Keys are 64-bit: signed keys are stored as their two's-complement value.
// Every request also gets a dense id (0 .. distinct_keys()-1, in order of first appearance), so
// that the simulator indexes arrays instead of hashing keys on every request.
class Trace {
 public:
  Trace() = default;
  // Indexes `keys`; `weights` is empty, or holds one size per request.
  explicit Trace(std::vector<std::uint64_t> keys, std::vector<std::uint32_t> weights = {});

  [[nodiscard]] std::size_t size() const noexcept { return keys_.size(); }
  [[nodiscard]] std::uint32_t distinct_keys() const noexcept {
    return static_cast<std::uint32_t>(id_keys_.size());
  }
  [[nodiscard]] bool has_weights() const noexcept { return !weights_.empty(); }
  [[nodiscard]] const std::vector<std::uint64_t>& keys() const noexcept { return keys_; }
  [[nodiscard]] const std::vector<std::uint32_t>& weights() const noexcept { return weights_; }
  [[nodiscard]] const std::vector<std::uint32_t>& ids() const noexcept { return ids_; }
  // The key of each dense id.
  [[nodiscard]] const std::vector<std::uint64_t>& id_keys() const noexcept { return id_keys_; }

 private:
  std::vector<std::uint64_t> keys_;
  std::vector<std::uint32_t> weights_;
  std::vector<std::uint32_t> ids_;
  std::vector<std::uint64_t> id_keys_;
};

// Parses decoded bytes. Throws CorruptedError with the line number (text formats) or the byte
// offset (binary formats) of the first bad record, including a truncated last record.
[[nodiscard]] Trace parse_trace(std::string_view bytes, TraceFormat format);

// Reads a file (gzip, xz or uncompressed, detected from its first bytes) and parses it.
// Throws InvalidArgumentError when the file cannot be opened, CorruptedError as parse_trace.
[[nodiscard]] Trace read_trace(const std::filesystem::path& path, TraceFormat format);

// The 64-bit mix used for keys that are built from several fields and for policy hashes
// (the splitmix64 / murmur3 finalizer: a bijection, so distinct inputs stay distinct).
[[nodiscard]] constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace strata::sim
