// strata/codec/msgpack.h: MsgpackCodec<V>, values as MessagePack through msgpack-cxx. Include it to
// store values as MessagePack: ValueFormat<V, MsgpackCodec<V>> in CacheBuilder<V>::format(), a
// MessagePack document column.
//
//   struct User { std::string name; int age; MSGPACK_DEFINE(name, age); };
//   auto format = strata::ValueFormat<User, strata::MsgpackCodec<User>>::envelope();
#pragma once

#include <cstddef>
#include <msgpack.hpp>
#include <new>
#include <string>
#include <string_view>

#include "strata/codec/codec.h"
#include "strata/codec/internal/nesting.h"
#include "strata/error.h"

namespace strata {

// MessagePack through msgpack-cxx. V needs MSGPACK_DEFINE (or a msgpack adaptor). Decoding is
// bounded: no container or string may declare more elements or bytes than the input holds, and
// nesting is limited to `max_depth` (corrupted data beyond), so hostile bytes cannot make it
// allocate without bound or recurse without bound.
template <typename V>
struct MsgpackCodec {
  static constexpr std::uint8_t id = kMsgpackCodecId;
  static constexpr std::size_t kMaxDepth = internal::kDefaultMaxNestingDepth;
  std::size_t max_depth = kMaxDepth;

  // The value as one MessagePack object.
  [[nodiscard]] std::string encode(const V& value) const {
    msgpack::sbuffer buffer;
    msgpack::pack(buffer, value);
    return std::string(buffer.data(), buffer.size());
  }

  // Unpacks exactly one object spanning all of `bytes` into a V; throws CorruptedError otherwise.
  [[nodiscard]] V decode(std::string_view bytes) const {
    internal::check_msgpack_nesting(bytes, max_depth, "msgpack decode");
    try {
      const std::size_t n = bytes.size();
      const msgpack::unpack_limit limit(n, n, n, n, n, max_depth);
      std::size_t offset = 0;
      msgpack::object_handle handle =
          msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr, limit);
      if (offset != bytes.size()) {
        throw CorruptedError("msgpack decode: " + std::to_string(bytes.size() - offset) +
                             " trailing bytes");
      }
      return handle.get().as<V>();
    } catch (const Error&) {
      throw;
    } catch (const std::bad_alloc&) {
      throw;
    } catch (const std::exception& e) {  // msgpack::unpack_error, msgpack::type_error, ...
      throw CorruptedError(std::string("msgpack decode: ") + e.what());
    }
  }
};

}  // namespace strata
