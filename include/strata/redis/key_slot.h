// strata/redis/key_slot.h: the Redis Cluster hash slot of a key.
// Use it to know which cluster node owns a key, or to pick keys that share a slot.
//
//   strata::key_slot("{user:42}:profile") == strata::key_slot("{user:42}:orders")  // true
#pragma once

#include <cstdint>
#include <string_view>

namespace strata {

inline constexpr int kClusterSlots = 16384;

// CRC16-XMODEM of the bytes, as Redis Cluster computes it.
[[nodiscard]] std::uint16_t crc16(std::string_view bytes) noexcept;

// The slot (0..16383) of a key: CRC16 of the key, or of its {hash tag} when the key holds a
// non-empty one (the bytes between the first '{' and the next '}').
[[nodiscard]] int key_slot(std::string_view key) noexcept;

}  // namespace strata
