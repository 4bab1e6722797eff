// Result<T> / Result<void>, the propagation macros and the stable error names.
#include "rped/result.h"

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <utility>

namespace rped {
namespace {

Result<int> parse_positive(int v) {
  if (v <= 0) {
    return make_error(Errc::invalid_argument, "must be positive");
  }
  return v;
}

Result<int> doubled_positive(int v) {
  RPED_TRY_ASSIGN(const int checked, parse_positive(v));
  return 2 * checked;
}

Result<void> check_positive(int v) {
  RPED_TRY(parse_positive(v));
  return {};
}

TEST(Result, HoldsValue) {
  const Result<int> r = 7;
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_EQ(r.value(), 7);
}

TEST(Result, HoldsErrorWithCodeAndMessage) {
  const Result<int> r = make_error(Errc::invalid_length, "need 32 bytes");
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_EQ(r.error().code, Errc::invalid_length);
  EXPECT_EQ(r.error().message, "need 32 bytes");
}

TEST(Result, MoveOnlyValueCanBeTakenOut) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(5);
  ASSERT_TRUE(r.ok());
  const std::unique_ptr<int> taken = std::move(r).value();
  ASSERT_NE(taken, nullptr);
  EXPECT_EQ(*taken, 5);
}

TEST(Result, VoidDefaultsToSuccessAndCarriesAnError) {
  const Result<void> good;
  EXPECT_TRUE(good.ok());
  const Result<void> bad = make_error(Errc::mac_mismatch, "tag");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Errc::mac_mismatch);
  EXPECT_EQ(bad.error().message, "tag");
}

TEST(Result, TryMacrosPropagateTheFirstError) {
  EXPECT_EQ(doubled_positive(4).value(), 8);
  const Result<int> failed = doubled_positive(-1);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, Errc::invalid_argument);
  EXPECT_EQ(failed.error().message, "must be positive");

  EXPECT_TRUE(check_positive(1).ok());
  const Result<void> void_failed = check_positive(0);
  ASSERT_FALSE(void_failed.ok());
  EXPECT_EQ(void_failed.error().code, Errc::invalid_argument);
}

TEST(Result, ErrcNamesAreTheEnumeratorSpellingsAndDistinct) {
  const std::pair<Errc, std::string_view> names[] = {
      {Errc::invalid_argument, "invalid_argument"},
      {Errc::invalid_length, "invalid_length"},
      {Errc::invalid_encoding, "invalid_encoding"},
      {Errc::invalid_public_key, "invalid_public_key"},
      {Errc::invalid_private_key, "invalid_private_key"},
      {Errc::key_agreement_failed, "key_agreement_failed"},
      {Errc::kdf_failed, "kdf_failed"},
      {Errc::cipher_failed, "cipher_failed"},
      {Errc::mac_mismatch, "mac_mismatch"},
      {Errc::unwrap_failed, "unwrap_failed"},
      {Errc::signature_invalid, "signature_invalid"},
      {Errc::certificate_invalid, "certificate_invalid"},
      {Errc::chain_untrusted, "chain_untrusted"},
      {Errc::random_failed, "random_failed"},
      {Errc::self_test_failed, "self_test_failed"},
      {Errc::internal, "internal"},
  };
  std::set<std::string_view> seen;
  for (const auto& [code, name] : names) {
    EXPECT_EQ(errc_name(code), name);
    seen.insert(errc_name(code));
  }
  EXPECT_EQ(seen.size(), std::size(names));
  // An out-of-range value (e.g. from a corrupted log record) still has a name.
  EXPECT_FALSE(errc_name(static_cast<Errc>(0)).empty());
  EXPECT_FALSE(errc_name(static_cast<Errc>(0xffff)).empty());
}

}  // namespace
}  // namespace rped
