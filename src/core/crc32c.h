// crc32c.h: CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven, byte at a time.
// The envelope's checksum (docs/envelope.md). Standard check value: crc32c("123456789") ==
// 0xE3069283. Incremental: crc32c(b, crc32c(a)) == crc32c(a + b).
#pragma once

#include <cstdint>
#include <string_view>

namespace strata::core {

[[nodiscard]] std::uint32_t crc32c(std::string_view bytes, std::uint32_t crc = 0) noexcept;

}  // namespace strata::core
