// common/rounds.h: the alternating rounds every `strata bench` command runs: each contender once
// per round, the order rotated by one per round (A B C, B C A, C A B, ...), so that no contender
// always runs first (cold) or last (after the others warmed the machine). Report medians.
//
//   strata::tools::alternate_rounds(rounds, 3, [&](std::size_t round, std::size_t contender) {
//     samples[contender].push_back(measure(contender));
//   });
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace strata::tools {

// The order of `contenders` in round `round` (0-based): round r starts with contender r % n.
[[nodiscard]] inline std::vector<std::size_t> round_order(std::size_t round,
                                                          std::size_t contenders) {
  std::vector<std::size_t> order;
  order.reserve(contenders);
  for (std::size_t k = 0; k < contenders; ++k) order.push_back((k + round) % contenders);
  return order;
}

// Calls run(round, contender) for every round and every contender, in round_order; then
// after_round(round) when given (a progress line, for example).
template <typename Run, typename AfterRound>
void alternate_rounds(std::size_t rounds, std::size_t contenders, Run&& run,
                      AfterRound&& after_round) {
  for (std::size_t round = 0; round < rounds; ++round) {
    for (const std::size_t contender : round_order(round, contenders)) run(round, contender);
    after_round(round);
  }
}

template <typename Run>
void alternate_rounds(std::size_t rounds, std::size_t contenders, Run&& run) {
  alternate_rounds(rounds, contenders, std::forward<Run>(run), [](std::size_t) {});
}

}  // namespace strata::tools
