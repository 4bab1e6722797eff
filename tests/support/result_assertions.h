// GoogleTest glue for rped::Result: failures print the error code's name and
// message, and a negative test states the exact Errc it expects.
//
//   ASSERT_TRUE(is_ok(result));
//   EXPECT_TRUE(fails_with(parse(bad), rped::Errc::invalid_encoding));
//   const auto key = must(EcKeyPair::generate());  // setup steps that cannot fail
#pragma once

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "rped/bytes.h"
#include "rped/result.h"
#include "support/must.h"

namespace rped::test {

template <typename T>
::testing::AssertionResult is_ok(const Result<T>& result) {
  if (result.ok()) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "failed with " << describe(result.error());
}

template <typename T>
::testing::AssertionResult fails_with(const Result<T>& result, Errc expected) {
  if (result.ok()) {
    return ::testing::AssertionFailure() << "succeeded; expected " << errc_name(expected);
  }
  if (result.error().code != expected) {
    return ::testing::AssertionFailure()
           << "failed with " << describe(result.error()) << "; expected " << errc_name(expected);
  }
  return ::testing::AssertionSuccess() << describe(result.error());
}

}  // namespace rped::test
