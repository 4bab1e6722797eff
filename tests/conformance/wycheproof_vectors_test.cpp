// Runners for the Wycheproof v1 files in vectors/wycheproof/ (schemas in
// vectors/wycheproof/schemas/). Every "valid" case must reproduce, every
// "invalid" case must be rejected, and each "acceptable" case is decided by a
// rule written below; an acceptable case no rule covers fails.
#include <optional>
#include <string>
#include <string_view>

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <memory>

#include "conformance/primitive_checks.h"
#include "conformance/vector_runner.h"
#include "rped/crypto/ec.h"

namespace rped::conformance {
namespace {

using crypto::Curve;
using crypto::EcKeyPair;
using crypto::EcPublicKey;

bool has_flag(const Json& test, std::string_view flag) {
  for (const Json& f : test.at("flags")) {
    if (f.get<std::string>() == flag) {
      return true;
    }
  }
  return false;
}

// true for "valid", false for "invalid", nullopt for "acceptable" (which needs a rule).
std::optional<bool> valid_or_invalid(const Json& test) {
  const Expected expected = expected_result(test);
  if (expected == Expected::acceptable) {
    return std::nullopt;
  }
  return expected == Expected::valid;
}

CaseOutcome no_rule_for_acceptable(const Json& test) {
  return failed("\"acceptable\" case with flags " + test.at("flags").dump() +
                " but this runner has no rule for it: write one");
}

void expect_group_field(const Json& group, std::string_view key, std::string_view want) {
  if (string_field(group, key) != want) {
    throw VectorDataError("group " + std::string(key) + " is '" + string_field(group, key) +
                          "', runner expects '" + std::string(want) + "'");
  }
}

// ---- ECDH secp521r1: ecdh_test_schema_v1 (encoding "asn") and ecdh_ecpoint_test_schema_v1
// ("ecpoint").

enum class AcceptableEcdh { must_reject, either_but_secret_must_match };

// Our rules for the "acceptable" ECDH cases.
std::optional<AcceptableEcdh> acceptable_ecdh_rule(const Json& test) {
  if (has_flag(test, "CompressedPublic") || has_flag(test, "CompressedPoint")) {
    // Our protocol fixes the uncompressed SEC 1 encoding (EcPublicKey::from_uncompressed,
    // and the same for the point inside an SPKI), so a compressed point is rejected:
    // we require rejection.
    return AcceptableEcdh::must_reject;
  }
  if (has_flag(test, "UnnamedCurve")) {
    // Explicit / unnamed / modified curve parameters: only named-curve keys are
    // accepted (EcPublicKey::from_spki_der), so we require rejection.
    return AcceptableEcdh::must_reject;
  }
  if (has_flag(test, "InvalidAsn")) {
    // BER/DER irregularities in the SPKI: either outcome is allowed, but if the key
    // is accepted the shared secret must match.
    return AcceptableEcdh::either_but_secret_must_match;
  }
  return std::nullopt;
}

// Product rule (issue 2): EcKeyPair::ecdh refuses an all-zero Z, although
// SP 800-56A r3 §5.7.1.2 only requires refusing the point at infinity. On a
// prime-order curve an honest peer meets x = 0 with probability 2^-521 and a
// validated peer key cannot force it, so the rule costs nothing. Wycheproof's
// valid case with x = 0 still reproduces: the OpenSSL CDH underneath yields the
// expected 66 zero bytes, and our wrapper refuses exactly that value.
CaseOutcome zero_secret_refused_by_product_rule(const EcKeyPair& own, const EcPublicKey& peer, const Bytes& want) {
  if (!std::all_of(want.begin(), want.end(), [](std::uint8_t b) { return b == 0; })) {
    return failed("ecdh refused a valid case whose shared secret is not all-zero");
  }
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, own.native(), nullptr),
                                                                  EVP_PKEY_CTX_free);
  Bytes raw(want.size());
  std::size_t len = raw.size();
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 || EVP_PKEY_derive_set_peer(ctx.get(), peer.native()) != 1 ||
      EVP_PKEY_derive(ctx.get(), raw.data(), &len) != 1 || len != want.size()) {
    return failed("raw OpenSSL CDH failed on the x = 0 case");
  }
  return bytes_equal(raw, want) ? passed() : failed(mismatch("raw CDH shared secret", raw, want));
}

Result<EcPublicKey> parse_ecdh_public(const Json& group, const Json& test) {
  const std::string encoding = string_field(group, "encoding");
  const Bytes encoded = hex_field(test, "public");
  if (encoding == "asn") {
    return EcPublicKey::from_spki_der(encoded);
  }
  if (encoding == "ecpoint") {
    return EcPublicKey::from_uncompressed(Curve::p521, encoded);
  }
  throw VectorDataError("unknown ECDH public-key encoding '" + encoding + "'");
}

CaseOutcome check_ecdh(const Json& group, const Json& test) {
  expect_group_field(group, "curve", "secp521r1");
  // The private keys are all valid P-521 scalars (some shorter than 66 bytes);
  // only the public key is ever the invalid part.
  const Result<EcKeyPair> own = EcKeyPair::from_private(Curve::p521, hex_field(test, "private"));
  if (!own.ok()) {
    return failed("EcKeyPair::from_private rejected the private key: " + describe(own.error()));
  }
  const Result<EcPublicKey> peer = parse_ecdh_public(group, test);
  const Result<SecretBytes> shared =
      peer.ok() ? own->ecdh(peer.value()) : Result<SecretBytes>(peer.error());
  const auto secret_matches = [&]() -> CaseOutcome {
    const Bytes want = hex_field(test, "shared");
    if (!bytes_equal(shared->reveal(), want)) {
      return failed(mismatch("shared secret", shared->reveal(), want));
    }
    return passed();
  };

  switch (expected_result(test)) {
    case Expected::valid:
      if (!shared.ok()) {
        if (peer.ok() && shared.error().code == Errc::key_agreement_failed) {
          return zero_secret_refused_by_product_rule(own.value(), peer.value(), hex_field(test, "shared"));
        }
        return failed(std::string(peer.ok() ? "ecdh" : "public key") +
                      " rejected a valid case: " + describe(shared.error()));
      }
      return secret_matches();
    case Expected::invalid:
      if (shared.ok()) {
        return failed("an invalid public key was accepted and ecdh produced a secret");
      }
      return passed();
    case Expected::acceptable: {
      const std::optional<AcceptableEcdh> rule = acceptable_ecdh_rule(test);
      if (!rule.has_value()) {
        return no_rule_for_acceptable(test);
      }
      if (*rule == AcceptableEcdh::must_reject) {
        return shared.ok() ? failed("accepted, but our rule requires rejection (flags " +
                                    test.at("flags").dump() + ")")
                           : passed();
      }
      return shared.ok() ? secret_matches() : passed();
    }
  }
  return failed("unhandled expectation");
}

// ---- AES-KWP (keywrap_test_schema_v1), KEKs of 128, 192 and 256 bits.

CaseOutcome check_kwp(const Json& group, const Json& test) {
  const Bytes kek = hex_field(test, "key");
  if (kek.size() * 8 != size_field(group, "keySize")) {
    throw VectorDataError("key length differs from the group keySize");
  }
  const std::optional<bool> valid = valid_or_invalid(test);
  if (!valid.has_value()) {
    return no_rule_for_acceptable(test);
  }
  return *valid ? check_kwp_reproduces(kek, hex_field(test, "msg"), hex_field(test, "ct"))
                : check_kwp_rejects(kek, hex_field(test, "ct"));
}

// ---- HMAC-SHA512 (mac_test_schema_v1): tagSize 512 -> verify, 256 -> verify_truncated.

CaseOutcome check_hmac(const Json& group, const Json& test) {
  const Bytes tag = hex_field(test, "tag");
  if (tag.size() * 8 != size_field(group, "tagSize")) {
    throw VectorDataError("tag length differs from the group tagSize");
  }
  const std::optional<bool> valid = valid_or_invalid(test);
  if (!valid.has_value()) {
    return no_rule_for_acceptable(test);
  }
  return check_hmac_sha512(hex_field(test, "key"), hex_field(test, "msg"), tag, *valid);
}

// ---- ECDSA P-521 / SHA-512: ecdsa_verify_schema_v1 (DER signatures) and
// ecdsa_p1363_verify_schema_v1 (r || s), told apart by the group type.

Result<void> verify_signature(std::string_view type, const EcPublicKey& key, ByteView msg,
                              ByteView sig) {
  if (type == "EcdsaVerify") {
    return crypto::ecdsa_verify_sha512_der(key, msg, sig);
  }
  if (type == "EcdsaP1363Verify") {
    return crypto::ecdsa_verify_sha512_p1363(key, msg, sig);
  }
  throw VectorDataError("unknown ECDSA group type '" + std::string(type) + "'");
}

CaseOutcome check_ecdsa(const Json& group, const Json& test) {
  expect_group_field(group, "sha", "SHA-512");
  const Json& public_key = group.at("publicKey");
  expect_group_field(public_key, "curve", "secp521r1");
  // All group keys are valid (EdgeCasePublicKey groups included): the key must load.
  const Result<EcPublicKey> key =
      EcPublicKey::from_uncompressed(Curve::p521, hex_field(public_key, "uncompressed"));
  if (!key.ok()) {
    return failed("group public key rejected: " + describe(key.error()));
  }
  const std::optional<bool> valid = valid_or_invalid(test);
  if (!valid.has_value()) {
    return no_rule_for_acceptable(test);
  }
  const std::string type = string_field(group, "type");
  return check_verdict(
      type, verify_signature(type, key.value(), hex_field(test, "msg"), hex_field(test, "sig")),
      *valid);
}

// ---- Test suites: one per schema family, one test per file.

class WycheproofEcdhVectors : public ::testing::TestWithParam<VectorFile> {};
TEST_P(WycheproofEcdhVectors, AllCasesConform) {
  run_vector_file(GetParam(),
                  [](VectorFileRun& run) { for_each_wycheproof_case(run, check_ecdh); });
}
INSTANTIATE_TEST_SUITE_P(Files, WycheproofEcdhVectors,
                         ::testing::Values(VectorFile{"wycheproof/ecdh_secp521r1_test.json"},
                                           VectorFile{
                                               "wycheproof/ecdh_secp521r1_ecpoint_test.json"}),
                         vector_test_name);

class WycheproofKwpVectors : public ::testing::TestWithParam<VectorFile> {};
TEST_P(WycheproofKwpVectors, AllCasesConform) {
  run_vector_file(GetParam(), [](VectorFileRun& run) { for_each_wycheproof_case(run, check_kwp); });
}
INSTANTIATE_TEST_SUITE_P(Files, WycheproofKwpVectors,
                         ::testing::Values(VectorFile{"wycheproof/aes_kwp_test.json"}),
                         vector_test_name);

class WycheproofHmacVectors : public ::testing::TestWithParam<VectorFile> {};
TEST_P(WycheproofHmacVectors, AllCasesConform) {
  run_vector_file(GetParam(),
                  [](VectorFileRun& run) { for_each_wycheproof_case(run, check_hmac); });
}
INSTANTIATE_TEST_SUITE_P(Files, WycheproofHmacVectors,
                         ::testing::Values(VectorFile{"wycheproof/hmac_sha512_test.json"}),
                         vector_test_name);

class WycheproofEcdsaVectors : public ::testing::TestWithParam<VectorFile> {};
TEST_P(WycheproofEcdsaVectors, AllCasesConform) {
  run_vector_file(GetParam(),
                  [](VectorFileRun& run) { for_each_wycheproof_case(run, check_ecdsa); });
}
INSTANTIATE_TEST_SUITE_P(
    Files, WycheproofEcdsaVectors,
    ::testing::Values(VectorFile{"wycheproof/ecdsa_secp521r1_sha512_test.json"},
                      VectorFile{"wycheproof/ecdsa_secp521r1_sha512_p1363_test.json"}),
    vector_test_name);

}  // namespace
}  // namespace rped::conformance
