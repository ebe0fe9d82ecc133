// Fuzzes the trace readers of `strata sim` (tools/sim/trace_reader.*): the first byte picks a
// format (or the gzip/xz decoder), the rest is the file's bytes. Anything but a Trace or
// CorruptedError is a bug; a Trace must be self-consistent.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "sim/compression.h"
#include "sim/trace_reader.h"
#include "strata/error.h"

using strata::sim::TraceFormat;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  constexpr TraceFormat kFormats[] = {
      TraceFormat::kLirs,    TraceFormat::kAddress,      TraceFormat::kAddressPenalties,
      TraceFormat::kCache2k, TraceFormat::kCloudPhysics, TraceFormat::kCorda,
      TraceFormat::kScarab,  TraceFormat::kAdaptSize,    TraceFormat::kText,
      TraceFormat::kCsv,     TraceFormat::kOracleGeneral};
  constexpr std::size_t kTargets = std::size(kFormats) + 1;
  try {
    const std::size_t pick = data[0] % kTargets;
    if (pick == std::size(kFormats)) {
      (void)strata::sim::decompress(bytes);
      return 0;
    }
    const strata::sim::Trace trace = strata::sim::parse_trace(bytes, kFormats[pick]);
    if (trace.ids().size() != trace.size()) std::abort();
    if (trace.has_weights() && trace.weights().size() != trace.size()) std::abort();
    for (std::size_t i = 0; i < trace.size(); ++i) {
      if (trace.ids()[i] >= trace.distinct_keys()) std::abort();
      if (trace.id_keys()[trace.ids()[i]] != trace.keys()[i]) std::abort();
    }
  } catch (const strata::CorruptedError&) {
  }
  return 0;
}
