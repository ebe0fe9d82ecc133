// The nesting scanners of strata/codec/internal/nesting.h. Both walk the bytes once, keep only
// what the current path needs (a depth for JSON, the children left per open container for
// MessagePack) and return as soon as the depth passes the limit.
#include "strata/codec/internal/nesting.h"

#include <cstdint>
#include <string>
#include <vector>

#include "strata/error.h"

namespace strata::internal {

std::size_t json_nesting_depth(std::string_view bytes, std::size_t limit) noexcept {
  std::size_t depth = 0;
  std::size_t deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : bytes) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > limit) return limit + 1;
        if (depth > deepest) deepest = depth;
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return deepest;
}

namespace {

// Reads a big-endian unsigned integer of `width` bytes at `pos`; false when truncated.
bool read_be(std::string_view bytes, std::size_t& pos, std::size_t width, std::uint64_t& out) {
  if (bytes.size() - pos < width) return false;
  out = 0;
  for (std::size_t i = 0; i < width; ++i) {
    out = (out << 8) | static_cast<unsigned char>(bytes[pos + i]);
  }
  pos += width;
  return true;
}

}  // namespace

std::size_t msgpack_nesting_depth(std::string_view bytes, std::size_t limit) {
  // remaining[i]: the elements (a map counts keys and values) still to come in the i-th open
  // container; the depth of the next element's container is remaining.size() + 1.
  std::vector<std::uint64_t> remaining;
  std::size_t deepest = 0;
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    const auto b = static_cast<unsigned char>(bytes[pos++]);
    if (!remaining.empty()) --remaining.back();
    bool container = false;
    std::uint64_t children = 0;
    std::uint64_t skip = 0;  // payload bytes after the header
    std::uint64_t n = 0;
    if (b <= 0x7f || b >= 0xe0 || (b >= 0xc0 && b <= 0xc3 && b != 0xc1)) {
      // fixint, nil, false, true
    } else if (b <= 0x8f) {
      container = true;
      children = 2ull * (b & 0x0f);
    } else if (b <= 0x9f) {
      container = true;
      children = b & 0x0f;
    } else if (b <= 0xbf) {
      skip = b & 0x1f;
    } else {
      switch (b) {
        case 0xc4:  // bin 8/16/32, str 8/16/32
        case 0xd9:
          if (!read_be(bytes, pos, 1, skip)) return deepest;
          break;
        case 0xc5:
        case 0xda:
          if (!read_be(bytes, pos, 2, skip)) return deepest;
          break;
        case 0xc6:
        case 0xdb:
          if (!read_be(bytes, pos, 4, skip)) return deepest;
          break;
        case 0xc7:  // ext 8/16/32: length, then a type byte
        case 0xc8:
        case 0xc9: {
          const std::size_t width = b == 0xc7 ? 1 : (b == 0xc8 ? 2 : 4);
          if (!read_be(bytes, pos, width, skip)) return deepest;
          skip += 1;
          break;
        }
        case 0xca:  // float 32/64, uint/int 8..64
          skip = 4;
          break;
        case 0xcb:
          skip = 8;
          break;
        case 0xcc:
        case 0xd0:
          skip = 1;
          break;
        case 0xcd:
        case 0xd1:
          skip = 2;
          break;
        case 0xce:
        case 0xd2:
          skip = 4;
          break;
        case 0xcf:
        case 0xd3:
          skip = 8;
          break;
        case 0xd4:  // fixext 1/2/4/8/16: a type byte, then the data
          skip = 2;
          break;
        case 0xd5:
          skip = 3;
          break;
        case 0xd6:
          skip = 5;
          break;
        case 0xd7:
          skip = 9;
          break;
        case 0xd8:
          skip = 17;
          break;
        case 0xdc:  // array 16/32, map 16/32
        case 0xdd:
        case 0xde:
        case 0xdf:
          if (!read_be(bytes, pos, (b == 0xdc || b == 0xde) ? 2 : 4, n)) return deepest;
          container = true;
          children = (b == 0xde || b == 0xdf) ? 2 * n : n;
          break;
        default:  // 0xc1, never used
          return deepest;
      }
    }
    if (container) {
      const std::size_t depth = remaining.size() + 1;
      if (depth > limit) return limit + 1;
      if (depth > deepest) deepest = depth;
      if (children > 0) remaining.push_back(children);
    }
    if (bytes.size() - pos < skip) return deepest;
    pos += static_cast<std::size_t>(skip);
    while (!remaining.empty() && remaining.back() == 0) remaining.pop_back();
  }
  return deepest;
}

void check_json_nesting(std::string_view bytes, std::size_t limit, std::string_view what) {
  if (json_nesting_depth(bytes, limit) > limit) {
    throw CorruptedError(std::string(what) + ": nesting deeper than " + std::to_string(limit) +
                         " levels");
  }
}

void check_msgpack_nesting(std::string_view bytes, std::size_t limit, std::string_view what) {
  if (msgpack_nesting_depth(bytes, limit) > limit) {
    throw CorruptedError(std::string(what) + ": nesting deeper than " + std::to_string(limit) +
                         " levels");
  }
}

}  // namespace strata::internal
