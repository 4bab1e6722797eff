#include <gtest/gtest.h>

#include "rped/selftest.h"

namespace {

TEST(SelfTest, EveryKnownAnswerTestPasses) {
  const auto outcomes = rped::run_self_tests();
  ASSERT_EQ(outcomes.size(), 7u);  // one per primitive; a dropped KAT must be noticed
  for (const auto& outcome : outcomes) {
    EXPECT_TRUE(outcome.passed) << outcome.name << ": " << outcome.detail;
    EXPECT_TRUE(outcome.detail.empty()) << outcome.name;
  }
  EXPECT_TRUE(rped::power_on_self_test().ok());
}

}  // namespace
