// strata/codec/internal/nesting.h: how deeply a JSON text or a MessagePack buffer nests its
// arrays and objects, found by a small iterative scanner that stops at a limit. The decoders
// (JsonCodec, MsgpackCodec, plain mode, the operator commands) call it before parsing, because
// nlohmann-json and msgpack-cxx recurse once per level when they convert, copy or print a value:
// a few hundred kilobytes of `[[[[...` would overflow the stack. Not part of the API.
//
//   internal::check_json_nesting(bytes, codec.max_depth, "json decode");  // CorruptedError if
//   deeper
#pragma once

#include <cstddef>
#include <string_view>

namespace strata::internal {

// The nesting limit of every decoder unless configured otherwise (JsonCodec::max_depth,
// MsgpackCodec::max_depth): deep enough for any document a program writes on purpose.
inline constexpr std::size_t kDefaultMaxNestingDepth = 128;

// The deepest nesting of arrays and objects in JSON text `bytes` (0 for a scalar), or
// `limit + 1` as soon as it goes past `limit`. Skips string contents (escapes honoured). Not a
// validator: malformed text gets a best-effort answer, the parser rejects it afterwards. O(n),
// no allocation, no recursion.
[[nodiscard]] std::size_t json_nesting_depth(std::string_view bytes, std::size_t limit) noexcept;

// The same for MessagePack: the deepest nesting of arrays and maps over the objects in `bytes`,
// or `limit + 1` as soon as it goes past `limit`. Stops at a truncated or invalid byte (the
// unpacker rejects those afterwards). O(n), memory O(limit), no recursion.
[[nodiscard]] std::size_t msgpack_nesting_depth(std::string_view bytes, std::size_t limit);

// Throw CorruptedError "<what>: nesting deeper than <limit> levels" when `bytes` nests deeper
// than `limit`.
void check_json_nesting(std::string_view bytes, std::size_t limit, std::string_view what);
void check_msgpack_nesting(std::string_view bytes, std::size_t limit, std::string_view what);

}  // namespace strata::internal
