// strata/local/internal/entry_table.h: the open-addressing hash set of entry pointers behind
// each LocalCache shard. Internal to LocalCache; not part of the public API.
//
// Why strata's own: the shard's table used to be an absl::flat_hash_set, which made every
// public header that reaches LocalCache parse abseil, and a hit now reads it without a lock,
// which no off-the-shelf table allows. It does exactly what a shard needs: find by (key,
// stored hash), insert a key known to be absent, replace an entry by another with its key,
// erase a resident entry, visit every entry.
//
// Layout. A block of two arrays of the same power-of-two capacity: one control byte per slot
// (0: empty, else 0x80 | 7 bits of the hash) and one entry pointer per slot. Linear probing
// from the slot picked by the hash's low bits; a lookup scans control bytes, and dereferences
// an entry only when its 7-bit tag matches (a false match costs one dereference in 128). The
// table grows by doubling when 3/4 full, so a probe always ends at an empty slot. Erase uses
// backward-shift deletion (no tombstones): the entries after the freed slot that may move back
// do, so probe sequences stay as short as if the erased entry had never been inserted.
//
// Concurrency. Writers (insert, replace, erase) are serialised by the caller (the shard's
// lock). find() is for writers; find_concurrent() may run at any time in other threads: every
// slot is an atomic, an insert publishes the pointer before the control byte (release), a
// replace swaps the pointer in one store, and an erase (whose backward shift moves entries,
// so a reader could step over one) is bracketed by a sequence counter that a lookup which
// found nothing checks: if an erase ran meanwhile, the miss is not trusted ("unsettled") and
// the caller looks again under the lock. A grow publishes a new block; the old one is handed
// to `retire` (the cache frees it once no reader can hold it: strata/local/internal/epoch.h).
// The table owns neither the entries nor their memory.
//
// Hash bits: the slot comes from the low bits and the tag from bits 32-38, both clear of the
// top bits that pick the shard (constant within a shard). Node requirements: E has
// `std::uint64_t hash` and `std::string_view key() const`, both fixed while E is in the table.
//
//   EntryTable<E> table;  table.insert(e);  E* hit = table.find(key, hash);  table.erase(hit);
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace strata::internal {

template <typename E>
class EntryTable {
 public:
  // What find_concurrent() saw: the entry, or nullptr; a null that is not `settled` may be a
  // miss caused by a concurrent erase, to be confirmed under the writers' lock.
  struct Found {
    E* entry = nullptr;
    bool settled = true;
  };

  EntryTable() = default;
  EntryTable(const EntryTable&) = delete;
  EntryTable& operator=(const EntryTable&) = delete;
  ~EntryTable() { delete block_.load(std::memory_order_relaxed); }

  // The entry holding `key` (whose hash is `hash`), or nullptr. For writers.
  [[nodiscard]] E* find(std::string_view key, std::uint64_t hash) const noexcept {
    const Block* b = block_.load(std::memory_order_relaxed);
    if (size_ == 0) return nullptr;
    const std::uint8_t tag = tag_of(hash);
    for (std::size_t i = hash & b->mask;; i = (i + 1) & b->mask) {
      const std::uint8_t c = b->ctrl[i].load(std::memory_order_relaxed);
      if (c == kEmpty) return nullptr;
      if (c == tag) {
        E* e = b->slots[i].load(std::memory_order_relaxed);
        if (e->hash == hash && e->key() == key) return e;
      }
    }
  }

  // The same, from any thread while writers run. REQUIRES: the entries and retired blocks the
  // table held since the call began are still allocated (the caller is pinned).
  [[nodiscard]] Found find_concurrent(std::string_view key, std::uint64_t hash) const noexcept {
    const std::uint64_t before = erasures_.load(std::memory_order_acquire);
    const Block* b = block_.load(std::memory_order_acquire);
    if (b != nullptr && (before & 1) == 0) {
      const std::uint8_t tag = tag_of(hash);
      std::size_t i = hash & b->mask;
      for (std::size_t probes = 0; probes <= b->mask; ++probes, i = (i + 1) & b->mask) {
        const std::uint8_t c = b->ctrl[i].load(std::memory_order_acquire);
        if (c == kEmpty) break;
        if (c == tag) {
          E* e = b->slots[i].load(std::memory_order_acquire);
          if (e != nullptr && e->hash == hash && e->key() == key) return {e, true};
        }
      }
    }
    // After the acquiring loads above: sees the erase whose stores any of them saw.
    const bool settled = (before & 1) == 0 && erasures_.load(std::memory_order_relaxed) == before;
    return {nullptr, settled};
  }

  // REQUIRES: no entry with e's key is in the table; e->hash is set. A replaced block goes to
  // retire(block, free_block) instead of being freed.
  template <typename Retire>
  void insert(E* e, Retire&& retire) {
    if ((size_ + 1) * 4 > capacity() * 3) grow(retire);
    place(*block_.load(std::memory_order_relaxed), e);
    ++size_;
  }
  void insert(E* e) {
    insert(e, [](void* block, void (*free_block)(void*)) { free_block(block); });
  }

  // REQUIRES: old is in the table; fresh has old's key and hash. One store: readers see either.
  void replace(const E* old, E* fresh) noexcept {
    Block& b = *block_.load(std::memory_order_relaxed);
    b.slots[slot_of(b, old)].store(fresh, std::memory_order_release);
  }

  // REQUIRES: e is in the table.
  void erase(const E* e) noexcept {
    Block& b = *block_.load(std::memory_order_relaxed);
    std::size_t hole = slot_of(b, e);
    // Odd: readers' misses are unsettled. The shifting stores below are releases, so a reader
    // that acquires one of them also sees this increment when it reads the counter again.
    erasures_.fetch_add(1, std::memory_order_relaxed);
    // Backward shift: walk the cluster after the hole; an entry whose home slot is not
    // (cyclically) within (hole, j] can fill the hole, which then moves to j.
    for (std::size_t j = (hole + 1) & b.mask; b.ctrl[j].load(std::memory_order_relaxed) != kEmpty;
         j = (j + 1) & b.mask) {
      E* moved = b.slots[j].load(std::memory_order_relaxed);
      const std::size_t home = moved->hash & b.mask;
      const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
      if (stays) continue;
      b.slots[hole].store(moved, std::memory_order_release);
      b.ctrl[hole].store(b.ctrl[j].load(std::memory_order_relaxed), std::memory_order_release);
      hole = j;
    }
    b.ctrl[hole].store(kEmpty, std::memory_order_release);
    b.slots[hole].store(nullptr, std::memory_order_release);
    erasures_.fetch_add(1, std::memory_order_release);
    --size_;
  }

  // Calls fn(E*) for every entry. fn must not change the table. For writers.
  template <typename Fn>
  void for_each(Fn&& fn) const {
    const Block* b = block_.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < capacity(); ++i) {
      if (b->ctrl[i].load(std::memory_order_relaxed) != kEmpty) {
        fn(b->slots[i].load(std::memory_order_relaxed));
      }
    }
  }

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::size_t capacity() const noexcept {
    const Block* b = block_.load(std::memory_order_relaxed);
    return b != nullptr ? b->mask + 1 : 0;
  }

 private:
  static constexpr std::uint8_t kEmpty = 0;
  static constexpr std::size_t kMinCapacity = 16;

  struct Block {
    explicit Block(std::size_t capacity)
        : mask(capacity - 1),
          ctrl(new std::atomic<std::uint8_t>[capacity]),
          slots(new std::atomic<E*>[capacity]) {
      for (std::size_t i = 0; i < capacity; ++i) {
        ctrl[i].store(kEmpty, std::memory_order_relaxed);
        slots[i].store(nullptr, std::memory_order_relaxed);
      }
    }
    const std::size_t mask;
    const std::unique_ptr<std::atomic<std::uint8_t>[]> ctrl;
    const std::unique_ptr<std::atomic<E*>[]> slots;
  };

  static void free_block(void* block) noexcept { delete static_cast<Block*>(block); }

  static std::uint8_t tag_of(std::uint64_t hash) noexcept {
    return static_cast<std::uint8_t>(0x80 | ((hash >> 32) & 0x7F));
  }

  static std::size_t slot_of(const Block& b, const E* e) noexcept {
    const std::uint8_t tag = tag_of(e->hash);
    std::size_t i = e->hash & b.mask;
    while (b.ctrl[i].load(std::memory_order_relaxed) != tag ||
           b.slots[i].load(std::memory_order_relaxed) != e) {
      i = (i + 1) & b.mask;
    }
    return i;
  }

  static void place(Block& b, E* e) noexcept {
    std::size_t i = e->hash & b.mask;
    while (b.ctrl[i].load(std::memory_order_relaxed) != kEmpty) i = (i + 1) & b.mask;
    b.slots[i].store(e, std::memory_order_release);
    b.ctrl[i].store(tag_of(e->hash), std::memory_order_release);
  }

  template <typename Retire>
  void grow(Retire& retire) {
    Block* old = block_.load(std::memory_order_relaxed);
    const std::size_t old_capacity = capacity();
    const std::size_t new_capacity = old_capacity == 0 ? kMinCapacity : old_capacity * 2;
    // Allocate and fill first: if that throws, the table is unchanged.
    auto fresh = std::make_unique<Block>(new_capacity);
    for (std::size_t i = 0; i < old_capacity; ++i) {
      if (old->ctrl[i].load(std::memory_order_relaxed) != kEmpty) {
        place(*fresh, old->slots[i].load(std::memory_order_relaxed));
      }
    }
    block_.store(fresh.release(), std::memory_order_release);
    if (old != nullptr) retire(old, &free_block);
  }

  std::atomic<Block*> block_{nullptr};
  std::atomic<std::uint64_t> erasures_{0};  // odd while an erase shifts entries
  std::size_t size_ = 0;
};

}  // namespace strata::internal
