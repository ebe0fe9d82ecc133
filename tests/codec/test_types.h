// test_types.h: a nested value type with JSON and MessagePack support, for the codec suites.
#pragma once

#include <cstdint>
#include <map>
#include <msgpack.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace strata::testing {

struct Address {
  std::string city;
  std::vector<int> zip;
  friend bool operator==(const Address&, const Address&) = default;
  MSGPACK_DEFINE(city, zip)
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Address, city, zip)

struct Profile {
  std::string name;
  std::int64_t id = 0;
  double score = 0;
  bool active = false;
  std::vector<Address> addresses;
  std::map<std::string, std::vector<std::string>> tags;
  std::optional<std::string> nickname;
  friend bool operator==(const Profile&, const Profile&) = default;
  MSGPACK_DEFINE(name, id, score, active, addresses, tags, nickname)
};

inline void to_json(nlohmann::json& j, const Profile& p) {
  j = nlohmann::json{{"name", p.name},           {"id", p.id},
                     {"score", p.score},         {"active", p.active},
                     {"addresses", p.addresses}, {"tags", p.tags}};
  j["nickname"] = p.nickname ? nlohmann::json(*p.nickname) : nlohmann::json(nullptr);
}

inline void from_json(const nlohmann::json& j, Profile& p) {
  j.at("name").get_to(p.name);
  j.at("id").get_to(p.id);
  j.at("score").get_to(p.score);
  j.at("active").get_to(p.active);
  j.at("addresses").get_to(p.addresses);
  j.at("tags").get_to(p.tags);
  const auto& nick = j.at("nickname");
  p.nickname = nick.is_null() ? std::nullopt : std::optional<std::string>(nick.get<std::string>());
}

// A profile whose JSON is about `approx_bytes` long and compresses well (repeated tags).
inline Profile sample_profile(std::size_t approx_bytes = 0) {
  Profile p{"Zoë Ålberg ✓ 東京",
            -42,
            3.25,
            true,
            {{"Paris", {75, 1}}, {"Zürich", {8, 0, 0, 1}}},
            {{"roles", {"admin", "ops"}}, {"empty", {}}},
            std::string("zozo")};
  for (std::size_t i = 0; p.tags.size() * 40 < approx_bytes; ++i) {
    p.tags["tag-" + std::to_string(i)] = {"repeated value repeated value", "x"};
  }
  return p;
}

}  // namespace strata::testing
