// The bus's message format and glob escaping (strata/invalidation/invalidation.h).
#include <nlohmann/json.hpp>

#include "strata/invalidation/invalidation.h"

namespace strata {

std::string escape_glob(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

std::string encode_invalidation(const InvalidationMessage& message) {
  nlohmann::json json = {{"v", 1},
                         {"sender", message.sender},
                         {"ns", message.ns},
                         {"seq", message.sequence},
                         {"keys", message.keys},
                         {"flush", message.flush}};
  if (!message.redis_keys.empty()) json["redis_keys"] = message.redis_keys;
  // Keys are bytes: a key that is not valid UTF-8 is escaped rather than refused.
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<InvalidationMessage> decode_invalidation(std::string_view bytes) {
  const nlohmann::json json = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return std::nullopt;
  const auto v = json.find("v");
  const auto sender = json.find("sender");
  const auto ns = json.find("ns");
  const auto seq = json.find("seq");
  const auto keys = json.find("keys");
  if (v == json.end() || !v->is_number_integer() || v->get<int>() != 1) return std::nullopt;
  if (sender == json.end() || !sender->is_string() || ns == json.end() || !ns->is_string() ||
      seq == json.end() || !seq->is_number_unsigned() || keys == json.end() || !keys->is_array()) {
    return std::nullopt;
  }
  InvalidationMessage message;
  message.sender = sender->get<std::string>();
  message.ns = ns->get<std::string>();
  message.sequence = seq->get<std::uint64_t>();
  for (const auto& key : *keys) {
    if (!key.is_string()) return std::nullopt;
    message.keys.push_back(key.get<std::string>());
  }
  if (const auto redis_keys = json.find("redis_keys"); redis_keys != json.end()) {
    if (!redis_keys->is_array()) return std::nullopt;
    for (const auto& key : *redis_keys) {
      if (!key.is_string()) return std::nullopt;
      message.redis_keys.push_back(key.get<std::string>());
    }
  }
  if (const auto flush = json.find("flush"); flush != json.end()) {
    if (!flush->is_boolean()) return std::nullopt;
    message.flush = flush->get<bool>();
  }
  return message;
}

}  // namespace strata
