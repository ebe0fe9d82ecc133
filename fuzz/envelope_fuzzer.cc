// Fuzzes decode_envelope: any input either decodes or throws CorruptedError (any other exception
// or a sanitizer report is a bug). A decoded envelope must re-encode and decode to the same thing,
// and a JSON payload decode as JSON or throw CorruptedError (never overflow the stack).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "strata/codec/envelope.h"
#include "strata/codec/json.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    const auto decoded = strata::decode_envelope(bytes, 1u << 20);
    const std::string again = strata::encode_envelope(decoded.codec_id, decoded.payload,
                                                      decoded.times, {decoded.compression, 0, 1});
    const auto twice = strata::decode_envelope(again, 1u << 20);
    if (twice.payload != decoded.payload || !(twice.times == decoded.times)) std::abort();
    if (decoded.codec_id == strata::kJsonCodecId) {  // what a reader does next (nesting limit)
      (void)strata::JsonCodec<nlohmann::json>{}.decode(decoded.payload);
    }
  } catch (const strata::CorruptedError&) {
  }
  return 0;
}
