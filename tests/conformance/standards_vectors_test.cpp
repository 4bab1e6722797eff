// Runners for vectors/standards/: RFC 4231 HMAC-SHA-512 test cases 1-7 and
// NIST SP 800-38A F.5.5 / F.5.6 CTR-AES256 (README section 3).
#include <string>

#include <gtest/gtest.h>

#include "conformance/primitive_checks.h"
#include "conformance/vector_runner.h"
#include "rped/crypto/symmetric.h"

namespace rped::conformance {
namespace {

CaseOutcome check_rfc4231(const Json& test) {
  const Bytes tag = hex_field(test, "tag");
  const Bytes key = hex_field(test, "key");
  if (tag.size() * 8 != size_field(test, "tagSizeBits") ||
      key.size() * 8 != size_field(test, "keySizeBits")) {
    throw VectorDataError("tagSizeBits/keySizeBits do not match the hex lengths");
  }
  // TC 5 carries the RFC's 128-bit truncated tag: check_hmac_sha512 uses verify_truncated for it.
  return check_hmac_sha512(key, hex_field(test, "msg"), tag,
                           expected_result(test) == Expected::valid);
}

CaseOutcome check_sp800_38a_ctr(const Json& test) {
  if (expected_result(test) != Expected::valid) {
    throw VectorDataError("SP 800-38A cases are all valid");
  }
  const Bytes key = hex_field(test, "key");
  // Each listed counter block must encrypt to its keystream block (CIPH_K(T_j)).
  for (const Json& block : test.at("blocks")) {
    const Bytes zeros(crypto::kAesBlockBytes, 0);
    const Bytes keystream = hex_field(block, "outputBlock");
    const CaseOutcome one =
        check_aes256_ctr(key, hex_field(block, "inputBlock"), zeros, keystream, 8 * zeros.size());
    if (one.verdict != Verdict::passed) {
      return failed("block " + block.at("block").dump() + " keystream: " + one.detail);
    }
  }
  // The whole message from the initial counter block (exercises the counter increment).
  const std::string direction = string_field(test, "direction");
  if (direction != "encrypt" && direction != "decrypt") {
    throw VectorDataError("unknown direction '" + direction + "'");
  }
  const bool encrypt = direction == "encrypt";
  const Bytes in = hex_field(test, encrypt ? "pt" : "ct");
  return check_aes256_ctr(key, hex_field(test, "initCounter"), in,
                          hex_field(test, encrypt ? "ct" : "pt"), 8 * in.size());
}

class Rfc4231HmacVectors : public ::testing::TestWithParam<VectorFile> {};
TEST_P(Rfc4231HmacVectors, AllCasesConform) {
  run_vector_file(GetParam(), [](VectorFileRun& run) { for_each_listed_case(run, check_rfc4231); });
}
INSTANTIATE_TEST_SUITE_P(Files, Rfc4231HmacVectors,
                         ::testing::Values(VectorFile{"standards/rfc4231_hmac_sha512.json"}),
                         vector_test_name);

class Sp80038aCtrVectors : public ::testing::TestWithParam<VectorFile> {};
TEST_P(Sp80038aCtrVectors, AllCasesConform) {
  run_vector_file(GetParam(),
                  [](VectorFileRun& run) { for_each_listed_case(run, check_sp800_38a_ctr); });
}
INSTANTIATE_TEST_SUITE_P(Files, Sp80038aCtrVectors,
                         ::testing::Values(VectorFile{
                             "standards/sp800-38a_f5.5_f5.6_ctr_aes256.json"}),
                         vector_test_name);

}  // namespace
}  // namespace rped::conformance
