// Fuzzes the codecs' decoders and decompression: the first byte picks the target, the rest is
// its input (up to 1 MiB: scripts/fuzz.sh -max_len; the corpus has deeply nested seeds). Anything
// but success or CorruptedError is a bug.
#include <cstdint>
#include <string_view>

#include "codec/test_types.h"
#include "strata/codec/envelope.h"
#include "strata/codec/json.h"
#include "strata/codec/msgpack.h"

using strata::testing::Profile;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 3, size - 3);
  const std::size_t declared = (std::size_t{data[1]} << 8 | data[2]) * 16;  // up to ~1 MiB
  try {
    switch (data[0] % 7) {
      case 0: {
        const Profile p = strata::JsonCodec<Profile>{}.decode(bytes);
        (void)strata::JsonCodec<Profile>{}.decode(strata::JsonCodec<Profile>{}.encode(p));
        break;
      }
      case 1: {
        const Profile p = strata::MsgpackCodec<Profile>{}.decode(bytes);
        (void)strata::MsgpackCodec<Profile>{}.decode(strata::MsgpackCodec<Profile>{}.encode(p));
        break;
      }
      case 2:
        (void)strata::decompress(strata::Compression::kZstd, bytes, declared);
        break;
      case 3:
        (void)strata::decompress(strata::Compression::kLz4, bytes, declared);
        break;
      case 4:
        (void)strata::ValueFormat<Profile>::plain_json().decode(bytes);
        break;
      case 5:
        (void)strata::MsgpackCodec<std::vector<std::string>>{}.decode(bytes);
        break;
      case 6: {  // any JSON: the DOM is copied and printed, recursively (the nesting limit)
        const nlohmann::json j = strata::JsonCodec<nlohmann::json>{}.decode(bytes);
        (void)strata::JsonCodec<nlohmann::json>{}.decode(j.dump());
        break;
      }
    }
  } catch (const strata::CorruptedError&) {
  }
  return 0;
}
