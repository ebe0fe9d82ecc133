#include "strata/error.h"

#include <gtest/gtest.h>

namespace strata {
namespace {

TEST(Error, CarriesCodeAndMessage) {
  try {
    throw TimeoutError("GET took longer than 50ms");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kTimeout);
    EXPECT_STREQ(e.what(), "timeout: GET took longer than 50ms");
  }
}

TEST(Error, SubclassesAreCatchableByKind) {
  EXPECT_THROW(throw UnavailableError("down"), UnavailableError);
  EXPECT_THROW(throw CorruptedError("bad magic"), Error);
  EXPECT_THROW(throw InvalidArgumentError("x"), std::runtime_error);
}

TEST(Error, EveryCodeHasAName) {
  for (auto code : {ErrorCode::kInvalidArgument, ErrorCode::kUnavailable, ErrorCode::kTimeout,
                    ErrorCode::kCorrupted, ErrorCode::kReply, ErrorCode::kProtocol,
                    ErrorCode::kResourceExhausted, ErrorCode::kInternal}) {
    EXPECT_NE(to_string(code), "unknown");
  }
}

}  // namespace
}  // namespace strata
