// HSM key attestation (docs/attestation.md): the statement's strict DER codec,
// and verification of PKC bundles: the genuine one, and one forgery per check.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <string>

#include "rped/attestation/pkc.h"
#include "support/pkc_fixture.h"
#include "support/result_assertions.h"

namespace rped::attestation {
namespace {

using rped::test::fails_with;
using rped::test::is_ok;
using rped::test::make_csr;
using rped::test::make_pkc_pki;
using rped::test::must;
using rped::test::PkcPki;

const PkcPki& pki() {
  static const PkcPki kPki = make_pkc_pki("1234567");
  return kPki;
}
const crypto::EcKeyPair& attested_key() {
  static const crypto::EcKeyPair kKey = must(crypto::EcKeyPair::generate());
  return kKey;
}

std::string report(const PkcVerification& v) {
  std::string out;
  for (const PkcCheck& c : v.checks) {
    out += c.name + ": " + (c.passed ? "ok" : "FAILED") + " " + c.detail + "\n";
  }
  return out;
}

// The verdict fails, exactly `check` is the first failed check, and its detail says `why`.
::testing::AssertionResult fails_at(const PkcVerification& v, std::string_view check,
                                    std::string_view why) {
  if (v.ok()) {
    return ::testing::AssertionFailure() << "verification passed:\n" << report(v);
  }
  const auto first = std::find_if(v.checks.begin(), v.checks.end(),
                                  [](const PkcCheck& c) { return !c.passed; });
  if (first->name != check || first->detail.find(why) == std::string::npos) {
    return ::testing::AssertionFailure() << "expected " << check << " (" << why << "), got:\n"
                                         << report(v);
  }
  return ::testing::AssertionSuccess();
}

PkcVerification verify(ByteView der, const VerifyOptions& options = {}) {
  return verify_pkc(der, std::span(&pki().root, 1), options);
}

TEST(PkcStatement, RoundTripsAndIsStable) {
  KeyAttestation s = pki().statement_for(attested_key().public_key(), 4242);
  s.label = "prod-ca signing key \xC3\xA9";
  s.attributes.key_usage = kDigitalSignature | kDecipherOnly;
  const Bytes der = must(encode_statement(s));
  const KeyAttestation back = must(decode_statement(der));
  EXPECT_EQ(back, s);
  EXPECT_EQ(must(encode_statement(back)), der);
}

TEST(PkcStatement, KeyUsageIsADerNamedBitList) {
  KeyAttestation s = pki().statement_for(attested_key().public_key());
  const auto contains = [](const Bytes& der, const Bytes& part) {
    return std::search(der.begin(), der.end(), part.begin(), part.end()) != der.end();
  };
  s.attributes.key_usage = kKeyAgreement;  // bit 4: 3 unused bits, 0x08
  EXPECT_TRUE(contains(must(encode_statement(s)), {0x03, 0x02, 0x03, 0x08}));
  s.attributes.key_usage = kDigitalSignature;
  EXPECT_TRUE(contains(must(encode_statement(s)), {0x03, 0x02, 0x07, 0x80}));
  s.attributes.key_usage = kDigitalSignature | kDecipherOnly;
  EXPECT_TRUE(contains(must(encode_statement(s)), {0x03, 0x03, 0x07, 0x80, 0x80}));
  s.attributes.key_usage = 0;
  EXPECT_TRUE(contains(must(encode_statement(s)), {0x03, 0x01, 0x00}));
}

TEST(PkcStatement, GeneralizedTime) {
  EXPECT_EQ(generalized_time(0), "19700101000000Z");
  EXPECT_EQ(generalized_time(951782400), "20000229000000Z");
  EXPECT_EQ(generalized_time(2524607999), "20491231235959Z");
  EXPECT_EQ(must(parse_generalized_time("20000229000000Z")), 951782400);
  EXPECT_EQ(must(parse_generalized_time("20491231235959Z")), 2524607999);
  for (const char* bad : {"20010229000000Z", "20000230000000Z", "2000022900000Z",
                          "20000229000000", "20000229000000.5Z", "19691231235959Z",
                          "20001301000000Z", "20000101240000Z", "2000010100000aZ"}) {
    EXPECT_TRUE(fails_with(parse_generalized_time(bad), Errc::invalid_encoding)) << bad;
  }
}

TEST(PkcStatement, EncodeRefusesValuesOutsideTheConstraints) {
  const KeyAttestation good = pki().statement_for(attested_key().public_key());
  KeyAttestation s = good;
  s.hsm.serial = "01234";
  EXPECT_TRUE(fails_with(encode_statement(s), Errc::invalid_argument));
  s = good;
  s.label = std::string(33, 'x');
  EXPECT_TRUE(fails_with(encode_statement(s), Errc::invalid_argument));
  s = good;
  s.label = "evil\x1b[2Jlabel";
  EXPECT_TRUE(fails_with(encode_statement(s), Errc::invalid_argument));
  s = good;
  s.subject_public_key_info = {0x30, 0x00};
  EXPECT_FALSE(encode_statement(s).ok());
  s = good;
  s.version = 2;
  EXPECT_TRUE(fails_with(encode_statement(s), Errc::invalid_argument));
}

// Edits of a genuine encoding that DER forbids.
TEST(PkcStatement, DecodeIsStrictDer) {
  const Bytes der = must(encode_statement(pki().statement_for(attested_key().public_key())));
  const auto find_bytes = [&](const Bytes& part) {
    return static_cast<std::size_t>(std::search(der.begin(), der.end(), part.begin(), part.end()) -
                                    der.begin());
  };
  {
    Bytes trailing = der;
    trailing.push_back(0);
    EXPECT_TRUE(fails_with(decode_statement(trailing), Errc::invalid_encoding));
  }
  {
    Bytes ber_true = der;  // local = TRUE encoded as 0x01 (BER allows any non-zero)
    ber_true[find_bytes({0x01, 0x01, 0xFF})] = 0x01;
    ber_true[find_bytes({0x01, 0x01, 0xFF}) + 2] = 0x01;
    EXPECT_TRUE(fails_with(decode_statement(ber_true), Errc::invalid_encoding));
  }
  {
    Bytes long_length = der;  // the top SEQUENCE length 0x82 HH LL -> 0x83 00 HH LL
    ASSERT_EQ(long_length[1], 0x82);
    long_length[1] = 0x83;
    long_length.insert(long_length.begin() + 2, 0x00);
    EXPECT_TRUE(fails_with(decode_statement(long_length), Errc::invalid_encoding));
  }
  {
    Bytes indefinite = der;
    indefinite[1] = 0x80;
    indefinite.erase(indefinite.begin() + 2, indefinite.begin() + 4);
    indefinite.insert(indefinite.end(), {0x00, 0x00});
    EXPECT_TRUE(fails_with(decode_statement(indefinite), Errc::invalid_encoding));
  }
  {
    Bytes padded_version = der;  // INTEGER 1 as 02 02 00 01
    const std::size_t at = find_bytes({0x02, 0x01, 0x01});
    padded_version[at + 1] = 0x02;
    padded_version.insert(padded_version.begin() + static_cast<std::ptrdiff_t>(at) + 2, 0x00);
    padded_version[3] = static_cast<std::uint8_t>(padded_version[3] + 1);  // 0x82 HH LL
    EXPECT_TRUE(fails_with(decode_statement(padded_version), Errc::invalid_encoding));
  }
  // Every truncation fails cleanly.
  for (std::size_t n = 0; n < der.size(); ++n) {
    EXPECT_FALSE(decode_statement(ByteView(der).first(n)).ok()) << n;
  }
}

TEST(PkcVerify, GenuineBundlePassesEveryCheck) {
  const Bytes der = pki().bundle(pki().statement_for(attested_key().public_key()));
  VerifyOptions options;
  options.csr_der = make_csr(attested_key());
  const PkcVerification v = verify(der, options);
  EXPECT_TRUE(v.ok()) << report(v);
  EXPECT_EQ(v.checks.size(), 9U);
  EXPECT_EQ(v.root_common_name, "RPED test manufacturer root");
  EXPECT_EQ(v.hoc_sha256_fingerprint, pki().hoc.sha256_fingerprint());
  ASSERT_TRUE(v.statement.has_value());
  EXPECT_EQ(v.statement->hsm.serial, "1234567");

  const PkcContents contents = must(parse_pkc(der));
  EXPECT_EQ(contents.content_type, kKeyAttestationContentTypeOid);
  ASSERT_EQ(contents.certificates.size(), 2U);
  ASSERT_TRUE(contents.signer_index.has_value());  // a SET OF: DER order, not insertion order
  EXPECT_EQ(contents.certificates[*contents.signer_index].der(), pki().attestation.der());
  EXPECT_EQ(contents.digest_algorithm, "SHA512");
  EXPECT_TRUE(contents.signing_time.has_value());
}

TEST(PkcVerify, PinnedHocFingerprint) {
  const Bytes der = pki().bundle(pki().statement_for(attested_key().public_key()));
  VerifyOptions pinned;
  pinned.pinned_hoc_sha256 = pki().hoc.sha256_fingerprint();
  const PkcVerification only_pin = verify_pkc(der, {}, pinned);
  EXPECT_TRUE(only_pin.ok()) << report(only_pin);
  EXPECT_TRUE(verify(der, pinned).ok());  // root and pin both

  VerifyOptions wrong;
  wrong.pinned_hoc_sha256 = Bytes(32, 0xAB);
  EXPECT_TRUE(fails_at(verify_pkc(der, {}, wrong), "chain", "pinned HOC fingerprint"));
  EXPECT_TRUE(fails_at(verify(der, wrong), "chain", "not the pinned one"));
  EXPECT_TRUE(fails_at(verify_pkc(der, {}), "chain", "no root configured"));
}

TEST(PkcForgery, WrongRoot) {
  const PkcPki other = make_pkc_pki("1234567", "another manufacturer");
  const Bytes der = pki().bundle(pki().statement_for(attested_key().public_key()));
  EXPECT_TRUE(fails_at(verify_pkc(der, std::span(&other.root, 1)), "chain",
                       "unable to get local issuer certificate"));
}

TEST(PkcForgery, MissingHoc) {
  const Bytes der = must(hsmsim::sign_pkc(
      must(encode_statement(pki().statement_for(attested_key().public_key()))),
      pki().attestation_key, pki().attestation, {}));
  EXPECT_TRUE(fails_at(verify(der), "chain", "unable to get local issuer certificate"));
}

TEST(PkcForgery, HocOfAnotherKeyUnderTheSameRoot) {
  // A HOC with the same name and serial but another key: the attestation
  // certificate's signature does not verify under it.
  const auto other_key = must(crypto::EcKeyPair::generate());
  const auto fake_hoc = must(hsmsim::issue_certificate(
      other_key.public_key(), pki().root, pki().root_key,
      hsmsim::demo_profile(hsmsim::CertificateRole::hsm_origin, "HOC 1234567", "1234567")));
  const std::vector chain{fake_hoc};
  const Bytes der = must(hsmsim::sign_pkc(
      must(encode_statement(pki().statement_for(attested_key().public_key()))),
      pki().attestation_key, pki().attestation, chain));
  EXPECT_TRUE(fails_at(verify(der), "chain", "depth 0"));
}

TEST(PkcForgery, TamperedContent) {
  Bytes der = pki().bundle(pki().statement_for(attested_key().public_key()));
  const std::string label = "HSM static key";
  auto at = std::search(der.begin(), der.end(), label.begin(), label.end());
  ASSERT_NE(at, der.end());
  *at = 'X';  // still a valid statement, now saying something the HSM did not sign
  EXPECT_TRUE(parse_pkc(der).ok());
  EXPECT_TRUE(fails_at(verify(der), "signature", "does not verify"));
}

TEST(PkcForgery, TamperedSignature) {
  Bytes der = pki().bundle(pki().statement_for(attested_key().public_key()));
  der.back() ^= 0x01;  // the last octet of the SignerInfo's signature
  EXPECT_TRUE(fails_at(verify(der), "signature", "does not verify"));
}

TEST(PkcForgery, ExtractableOrImportedKeys) {
  KeyAttestation s = pki().statement_for(attested_key().public_key());
  s.attributes.extractable = true;
  EXPECT_TRUE(fails_at(verify(pki().bundle(s)), "key attributes", "extractable"));
  s = pki().statement_for(attested_key().public_key());
  s.attributes.never_extractable = false;
  EXPECT_TRUE(fails_at(verify(pki().bundle(s)), "key attributes", "neverExtractable is FALSE"));
  s = pki().statement_for(attested_key().public_key());
  s.attributes.local = false;
  EXPECT_TRUE(fails_at(verify(pki().bundle(s)), "key attributes", "not generated on the HSM"));
}

TEST(PkcForgery, WrongKeyInCsr) {
  const Bytes der = pki().bundle(pki().statement_for(attested_key().public_key()));
  VerifyOptions options;
  options.csr_der = make_csr(must(crypto::EcKeyPair::generate()));
  EXPECT_TRUE(fails_at(verify(der, options), "csr", "not the attested key"));
  options.csr_der = Bytes{0x30, 0x00};
  EXPECT_TRUE(fails_at(verify(der, options), "csr", "not one DER PKCS#10"));
}

TEST(PkcForgery, WrongContentType) {
  const Bytes der = must(hsmsim::sign_pkc(
      must(encode_statement(pki().statement_for(attested_key().public_key()))),
      pki().attestation_key, pki().attestation, std::vector{pki().hoc},
      "1.2.840.113549.1.7.1" /* id-data */));
  EXPECT_TRUE(fails_at(verify(der), "content type", "a PKC is id-ct-rpedKeyAttestation"));
}

TEST(PkcForgery, SignedByAKeyThatIsNotTheAttestationKey) {
  // The HOC also certifies key-agreement keys (the static key, RPKs): their
  // certificates must not make attestations.
  const auto key = must(crypto::EcKeyPair::generate());
  const auto cert = must(hsmsim::issue_certificate(
      key.public_key(), pki().hoc, pki().hoc_key,
      hsmsim::demo_profile(hsmsim::CertificateRole::key_agreement, "static", "1234567")));
  const Bytes der = must(hsmsim::sign_pkc(
      must(encode_statement(pki().statement_for(attested_key().public_key()))), key, cert,
      std::vector{pki().hoc}));
  EXPECT_TRUE(fails_at(verify(der), "signer", "digitalSignature"));
}

TEST(PkcForgery, StatementNamesAnotherHsm) {
  KeyAttestation s = pki().statement_for(attested_key().public_key());
  s.hsm.serial = "7654321";
  EXPECT_TRUE(fails_at(verify(pki().bundle(s)), "signer", "names HSM 7654321"));
}

TEST(PkcForgery, AttestationTimeInTheFuture) {
  KeyAttestation s = pki().statement_for(attested_key().public_key());
  s.attested_at += 3600;
  EXPECT_TRUE(fails_at(verify(pki().bundle(s)), "time", "in the future"));
}

TEST(PkcForgery, NotABundleAtAll) {
  const Bytes der = pki().bundle(pki().statement_for(attested_key().public_key()));
  EXPECT_TRUE(fails_at(verify({}), "structure", "1 to"));
  EXPECT_TRUE(fails_at(verify(must(encode_statement(
                           pki().statement_for(attested_key().public_key())))),
                       "structure", "ContentInfo"));
  Bytes trailing = der;
  trailing.push_back(0);
  EXPECT_TRUE(fails_at(verify(trailing), "structure", "trailing"));
  for (std::size_t n = 0; n < der.size(); n += 7) {
    const PkcVerification v = verify(ByteView(der).first(n));
    EXPECT_FALSE(v.ok()) << n;
    EXPECT_EQ(v.checks.size(), 8U) << n;  // every check is reported, failed or not checked
  }
}

}  // namespace
}  // namespace rped::attestation

namespace rped::attestation {
namespace {

// The real manufacturer root (../shared/trust, RSA-4096 Chrysalis-ITS) is a
// valid anchor, and a demo HSM's bundle does not chain to it.
TEST(PkcForgery, RealManufacturerRootDoesNotAnchorADemoHsm) {
  const std::filesystem::path file =
      std::filesystem::path(RPED_SOURCE_DIR) / ".." / "shared" / "trust" / "chrysalis-its-root.pem";
  if (!std::filesystem::exists(file)) {
    GTEST_SKIP() << file << " is not present";
  }
  std::ifstream in(file);
  const std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto roots = must(crypto::Certificate::from_pem(pem));
  ASSERT_EQ(roots.size(), 1U);
  EXPECT_EQ(roots[0].common_name(), "Chrysalis-ITS Root");
  const Bytes der = pki().bundle(pki().statement_for(attested_key().public_key()));
  EXPECT_TRUE(fails_at(verify_pkc(der, roots), "chain", "unable to get local issuer"));
}

}  // namespace
}  // namespace rped::attestation
