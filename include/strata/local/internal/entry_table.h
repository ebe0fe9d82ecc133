// strata/local/internal/entry_table.h: the open-addressing hash set of entry pointers behind
// each LocalCache shard. Internal to LocalCache; not part of the public API.
//
// Why strata's own: the shard's table used to be an absl::flat_hash_set, which made every
// public header that reaches LocalCache parse abseil. This one is about a hundred lines and
// does exactly what a shard needs: find by (key, stored hash), insert a key known to be absent,
// erase a resident entry, visit every entry.
//
// Layout. Two arrays of the same power-of-two capacity: one control byte per slot (0: empty,
// else 0x80 | 7 bits of the hash) and one entry pointer per slot. Linear probing from the slot
// picked by the hash's low bits; a lookup scans control bytes, and dereferences an entry only
// when its 7-bit tag matches (a false match costs one dereference in 128). The table grows by
// doubling when 3/4 full, so a probe always ends at an empty slot. Erase uses backward-shift
// deletion (no tombstones): the entries after the freed slot that may move back do, so probe
// sequences stay as short as if the erased entry had never been inserted.
//
// Hash bits: the slot comes from the low bits and the tag from bits 32-38, both clear of the
// top bits that pick the shard (constant within a shard). Node requirements: E has
// `std::uint64_t hash` and `std::string_view key() const`. The table owns neither the entries
// nor their memory. Not thread-safe (the shard's lock guards it).
//
//   EntryTable<E> table;  table.insert(e);  E* hit = table.find(key, hash);  table.erase(hit);
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace strata::internal {

template <typename E>
class EntryTable {
 public:
  EntryTable() = default;
  EntryTable(const EntryTable&) = delete;
  EntryTable& operator=(const EntryTable&) = delete;

  // The entry holding `key` (whose hash is `hash`), or nullptr.
  [[nodiscard]] E* find(std::string_view key, std::uint64_t hash) const noexcept {
    if (size_ == 0) return nullptr;
    const std::uint8_t tag = tag_of(hash);
    for (std::size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const std::uint8_t c = ctrl_[i];
      if (c == kEmpty) return nullptr;
      if (c == tag) {
        E* e = slots_[i];
        if (e->hash == hash && e->key() == key) return e;
      }
    }
  }

  // REQUIRES: no entry with e's key is in the table; e->hash is set.
  void insert(E* e) {
    if ((size_ + 1) * 4 > capacity() * 3) grow();
    place(e);
    ++size_;
  }

  // REQUIRES: e is in the table.
  void erase(const E* e) noexcept {
    const std::uint8_t tag = tag_of(e->hash);
    std::size_t hole = e->hash & mask_;
    while (ctrl_[hole] != tag || slots_[hole] != e) hole = (hole + 1) & mask_;
    // Backward shift: walk the cluster after the hole; an entry whose home slot is not
    // (cyclically) within (hole, j] can fill the hole, which then moves to j.
    for (std::size_t j = (hole + 1) & mask_; ctrl_[j] != kEmpty; j = (j + 1) & mask_) {
      const std::size_t home = slots_[j]->hash & mask_;
      const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
      if (stays) continue;
      ctrl_[hole] = ctrl_[j];
      slots_[hole] = slots_[j];
      hole = j;
    }
    ctrl_[hole] = kEmpty;
    --size_;
  }

  // Calls fn(E*) for every entry. fn must not change the table.
  template <typename Fn>
  void for_each(Fn&& fn) const {
    for (std::size_t i = 0; i < capacity(); ++i) {
      if (ctrl_[i] != kEmpty) fn(slots_[i]);
    }
  }

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::size_t capacity() const noexcept { return ctrl_ ? mask_ + 1 : 0; }

 private:
  static constexpr std::uint8_t kEmpty = 0;
  static constexpr std::size_t kMinCapacity = 16;

  static std::uint8_t tag_of(std::uint64_t hash) noexcept {
    return static_cast<std::uint8_t>(0x80 | ((hash >> 32) & 0x7F));
  }

  void place(E* e) noexcept {
    std::size_t i = e->hash & mask_;
    while (ctrl_[i] != kEmpty) i = (i + 1) & mask_;
    ctrl_[i] = tag_of(e->hash);
    slots_[i] = e;
  }

  void grow() {
    const std::size_t old_capacity = capacity();
    const std::size_t new_capacity = old_capacity == 0 ? kMinCapacity : old_capacity * 2;
    // Allocate first: if that throws, the table is unchanged.
    auto old_ctrl = std::make_unique<std::uint8_t[]>(new_capacity);  // zeroed: all empty
    auto old_slots = std::make_unique_for_overwrite<E*[]>(new_capacity);
    ctrl_.swap(old_ctrl);
    slots_.swap(old_slots);
    mask_ = new_capacity - 1;
    for (std::size_t i = 0; i < old_capacity; ++i) {
      if (old_ctrl[i] != kEmpty) place(old_slots[i]);
    }
  }

  std::unique_ptr<std::uint8_t[]> ctrl_;
  std::unique_ptr<E*[]> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

}  // namespace strata::internal
