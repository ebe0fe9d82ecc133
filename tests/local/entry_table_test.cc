#include "strata/local/internal/entry_table.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <deque>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "strata/local/internal/function_ref.h"

namespace strata::internal {
namespace {

struct Item {
  Item(std::string k, std::uint64_t h) : hash(h), name(std::move(k)) {}
  [[nodiscard]] std::string_view key() const noexcept { return name; }
  std::uint64_t hash;
  std::string name;
};

// Checks that the table holds exactly the model's entries, each findable by key.
void expect_same(const EntryTable<Item>& table, const std::map<std::string, Item*>& model) {
  ASSERT_EQ(table.size(), model.size());
  std::size_t visited = 0;
  table.for_each([&](Item* item) {
    ++visited;
    const auto it = model.find(item->name);
    ASSERT_NE(it, model.end()) << item->name;
    EXPECT_EQ(it->second, item);
  });
  EXPECT_EQ(visited, model.size());
  for (const auto& [key, item] : model) EXPECT_EQ(table.find(key, item->hash), item) << key;
}

TEST(EntryTable, FindsByKeyAndHash) {
  EntryTable<Item> table;
  Item a("a", 1), b("b", 1), c("c", 2);  // a and b: the same full hash, told apart by key
  EXPECT_EQ(table.find("a", 1), nullptr);
  table.insert(&a);
  table.insert(&b);
  table.insert(&c);
  EXPECT_EQ(table.find("a", 1), &a);
  EXPECT_EQ(table.find("b", 1), &b);
  EXPECT_EQ(table.find("c", 2), &c);
  EXPECT_EQ(table.find("c", 1), nullptr);  // the right key with another hash is not it
  EXPECT_EQ(table.find("d", 1), nullptr);
  table.erase(&a);
  EXPECT_EQ(table.find("a", 1), nullptr);
  EXPECT_EQ(table.find("b", 1), &b);
}

// Random inserts and erases against a std::map, with hashes drawn from a few values so that
// clusters are long, tags collide, and clusters wrap around the end of the slot array: the
// backward-shift erase must keep every remaining entry reachable.
TEST(EntryTable, MatchesAModelUnderCollidingHashes) {
  for (const std::uint64_t distinct_hashes : {3u, 17u, 64u, 100000u}) {
    SCOPED_TRACE(distinct_hashes);
    std::mt19937_64 rng(distinct_hashes);
    EntryTable<Item> table;
    std::map<std::string, Item*> model;
    std::deque<Item> items;
    for (int step = 0; step < 20000; ++step) {
      const std::string key = "k" + std::to_string(rng() % 400);
      // A hash that depends on the key only, with low bits picked near the end of the table
      // (wrap-around) and high bits spread over every tag.
      const std::uint64_t h = std::hash<std::string>{}(key) % distinct_hashes;
      const std::uint64_t hash = (h * 0x9E3779B97F4A7C15ULL) | (h % 4 == 0 ? 0xF : 0);
      const auto it = model.find(key);
      if (it == model.end()) {
        Item& item = items.emplace_back(key, hash);
        table.insert(&item);
        model.emplace(key, &item);
      } else {
        ASSERT_EQ(table.find(key, hash), it->second);
        table.erase(it->second);
        model.erase(it);
        ASSERT_EQ(table.find(key, hash), nullptr);
      }
      if (step % 997 == 0) expect_same(table, model);
    }
    expect_same(table, model);
    while (!model.empty()) {
      table.erase(model.begin()->second);
      model.erase(model.begin());
    }
    expect_same(table, model);
  }
}

TEST(EntryTable, GrowsAndStaysAtMostThreeQuartersFull) {
  EntryTable<Item> table;
  std::deque<Item> items;
  for (int i = 0; i < 100000; ++i) {
    Item& item = items.emplace_back("key" + std::to_string(i), std::hash<int>{}(i)*31 + i);
    table.insert(&item);
    ASSERT_LE(table.size() * 4, table.capacity() * 3);
  }
  for (const Item& item : items) ASSERT_EQ(table.find(item.name, item.hash), &item);
}

// Issue 20: the lock-free lookup agrees with the writers' one on a quiescent table, a replace
// swaps the entry in place, and a grow hands the old block to the retire callback.
TEST(EntryTable, ConcurrentFindReplaceAndRetiredBlocks) {
  EntryTable<Item> table;
  std::deque<Item> items;
  int retired = 0;
  std::vector<std::pair<void*, void (*)(void*)>> blocks;
  for (int i = 0; i < 1000; ++i) {
    Item& item = items.emplace_back("key" + std::to_string(i), std::hash<int>{}(i)*31 + i);
    table.insert(&item, [&](void* block, void (*free_block)(void*)) {
      ++retired;
      blocks.emplace_back(block, free_block);
    });
  }
  EXPECT_GT(retired, 0);
  for (auto& [block, free_block] : blocks) free_block(block);
  for (const Item& item : items) {
    const auto found = table.find_concurrent(item.name, item.hash);
    EXPECT_EQ(found.entry, &item);
    EXPECT_TRUE(found.settled);
  }
  const auto miss = table.find_concurrent("absent", 12345);
  EXPECT_EQ(miss.entry, nullptr);
  EXPECT_TRUE(miss.settled);  // no erase ran meanwhile
  Item fresh(items[7].name, items[7].hash);
  table.replace(&items[7], &fresh);
  EXPECT_EQ(table.find(fresh.name, fresh.hash), &fresh);
  EXPECT_EQ(table.find_concurrent(fresh.name, fresh.hash).entry, &fresh);
  EXPECT_EQ(table.size(), 1000u);
  table.erase(&fresh);
  EXPECT_EQ(table.find_concurrent(fresh.name, fresh.hash).entry, nullptr);
}

TEST(FunctionRef, CallsTheReferencedCallable) {
  int calls = 0;
  auto add = [&](int x) {
    ++calls;
    return x + 1;
  };
  const FunctionRef<int(int)> ref(add);
  EXPECT_EQ(ref(1), 2);
  EXPECT_EQ(ref(41), 42);
  EXPECT_EQ(calls, 2);
  const auto twice = [](FunctionRef<std::string(std::string_view)> f) { return f("a") + f("b"); };
  EXPECT_EQ(twice([](std::string_view s) { return std::string(s) + "!"; }), "a!b!");
}

}  // namespace
}  // namespace strata::internal
