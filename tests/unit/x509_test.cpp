// X.509 parsing and path validation: HSM static ECDH key certificate -> HOC ->
// manufacturer root, built by support/pki.h, and the real Chrysalis-ITS root.
#include "rped/crypto/x509.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <array>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/pki.h"
#include "support/result_assertions.h"

namespace rped::crypto {
namespace {

using test::CertSpec;
using test::fails_with;
using test::is_ok;
using test::issue;
using test::kSecondsPerDay;
using test::must;
using test::unix_now;

constexpr const char* kChrysalisRootPath =
    RPED_DEFAULT_VECTORS_DIR "/../trust/chrysalis-its-root.pem";

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) {
    throw std::runtime_error("cannot read " + path);
  }
  return text.str();
}

// chain_untrusted, with a message that contains each of `parts`.
template <typename T>
::testing::AssertionResult untrusted_because(const Result<T>& result,
                                             std::initializer_list<std::string_view> parts) {
  ::testing::AssertionResult code = fails_with(result, Errc::chain_untrusted);
  if (!code) {
    return code;
  }
  for (const std::string_view part : parts) {
    if (result.error().message.find(part) == std::string::npos) {
      return ::testing::AssertionFailure()
             << "message '" << result.error().message << "' lacks '" << part << "'";
    }
  }
  return ::testing::AssertionSuccess();
}

class HsmChain : public ::testing::Test {
 protected:
  HsmChain() : trust_(must(TrustStore::from_anchors(std::span(&pki_.root, 1)))) {}

  Result<void> verify(const Certificate& leaf, std::vector<Certificate> intermediates,
                      std::optional<std::int64_t> at = std::nullopt) const {
    return trust_.verify(leaf, intermediates, at);
  }
  // A leaf for the chain's ECDH key under the HOC, with `edit` applied to the standard spec.
  template <typename Edit>
  Certificate leaf_with(Edit edit) const {
    CertSpec spec = test::hsm_ecdh_spec();
    edit(spec);
    return issue(pki_.ecdh_key.public_key(), pki_.hoc, pki_.hoc_key, spec);
  }
  // {leaf, HOC}: a HOC under the root with `edit` applied to the standard spec, and a standard leaf
  // under it.
  template <typename Edit>
  std::pair<Certificate, Certificate> chain_with_hoc(Edit edit) const {
    CertSpec spec = test::hoc_spec();
    edit(spec);
    Certificate hoc = issue(pki_.hoc_key.public_key(), pki_.root, pki_.root_key, spec);
    Certificate leaf = issue(pki_.ecdh_key.public_key(), hoc, pki_.hoc_key, test::hsm_ecdh_spec());
    return {std::move(leaf), std::move(hoc)};
  }

  const test::HsmPki pki_ = test::make_hsm_pki();
  const TrustStore trust_;
};

TEST_F(HsmChain, GoodChainVerifies) {
  EXPECT_TRUE(is_ok(verify(pki_.ecdh_cert, {pki_.hoc})));
  EXPECT_TRUE(is_ok(verify(pki_.ecdh_cert, {pki_.hoc, pki_.root})));
  EXPECT_TRUE(is_ok(verify(pki_.hoc, {})));
}

TEST_F(HsmChain, MissingIntermediateIsUntrusted) {
  EXPECT_TRUE(untrusted_because(verify(pki_.ecdh_cert, {}),
                                {"issuer", "depth 0", "RPED Test HSM Static ECDH Key"}));
}

TEST_F(HsmChain, ExpiredLeafIsUntrusted) {
  const std::int64_t now = unix_now();
  const Certificate leaf = leaf_with([now](CertSpec& s) { s.not_after = now - 3600; });
  EXPECT_TRUE(untrusted_because(verify(leaf, {pki_.hoc}), {"expired", "depth 0"}));
  EXPECT_TRUE(untrusted_because(verify(leaf, {pki_.hoc}, now), {"expired", "depth 0"}));
  // The same chain verifies at a time inside every validity window.
  EXPECT_TRUE(is_ok(verify(leaf, {pki_.hoc}, now - 7200)));
}

TEST_F(HsmChain, ExpiredIntermediateIsUntrusted) {
  const std::int64_t now = unix_now();
  const auto [leaf, hoc] = chain_with_hoc([now](CertSpec& s) { s.not_after = now - 60; });
  EXPECT_TRUE(
      untrusted_because(verify(leaf, {hoc}), {"expired", "depth 1", "RPED Test HSM Origin"}));
}

TEST_F(HsmChain, NotYetValidLeafIsUntrusted) {
  const std::int64_t now = unix_now();
  const Certificate leaf = leaf_with([now](CertSpec& s) { s.not_before = now + kSecondsPerDay; });
  EXPECT_TRUE(untrusted_because(verify(leaf, {pki_.hoc}), {"not yet valid", "depth 0"}));
  EXPECT_TRUE(is_ok(verify(leaf, {pki_.hoc}, now + 2 * kSecondsPerDay)));
}

TEST_F(HsmChain, ValidationTimeAfterEveryWindowIsUntrusted) {
  EXPECT_TRUE(untrusted_because(
      verify(pki_.ecdh_cert, {pki_.hoc}, unix_now() + 2 * 365 * kSecondsPerDay), {"expired"}));
}

TEST_F(HsmChain, LeafSignedByTheWrongKeyIsUntrusted) {
  const Certificate forged =
      issue(pki_.ecdh_key.public_key(), pki_.hoc, pki_.root_key, test::hsm_ecdh_spec());
  EXPECT_TRUE(untrusted_because(verify(forged, {pki_.hoc}), {"signature", "depth 0"}));
}

TEST_F(HsmChain, IntermediateSignedByTheWrongKeyIsUntrusted) {
  const Certificate forged_hoc =
      issue(pki_.hoc_key.public_key(), pki_.root, pki_.hoc_key, test::hoc_spec());
  EXPECT_TRUE(untrusted_because(verify(pki_.ecdh_cert, {forged_hoc}), {"signature", "depth 1"}));
}

TEST_F(HsmChain, ChainToAnotherRootIsUntrusted) {
  const test::HsmPki other = test::make_hsm_pki();  // same names, other keys
  EXPECT_TRUE(untrusted_because(verify(other.ecdh_cert, {other.hoc}), {"issuer"}));
  EXPECT_TRUE(untrusted_because(verify(other.ecdh_cert, {other.hoc, other.root}), {"self-signed"}));
  // Mixing: the other HOC names our root as issuer, but its authority key identifier
  // (and signature) belong to the other root, so our root is not its issuer.
  EXPECT_TRUE(
      untrusted_because(verify(other.ecdh_cert, {other.hoc, pki_.root}), {"issuer", "depth 1"}));
}

TEST_F(HsmChain, IssuerThatIsNotACaIsUntrusted) {
  const auto [leaf, hoc] = chain_with_hoc([](CertSpec& s) { s.ca = false; });
  EXPECT_TRUE(untrusted_because(verify(leaf, {hoc}), {"CA", "depth 1"}));
  const auto [leaf2, hoc2] = chain_with_hoc([](CertSpec& s) { s.ca.reset(); });
  EXPECT_TRUE(untrusted_because(verify(leaf2, {hoc2}), {"CA", "depth 1"}));
  // A leaf (CA:FALSE, keyAgreement) used to issue another certificate.
  const Certificate below_leaf = issue(pki_.hoc_key.public_key(), pki_.ecdh_cert, pki_.ecdh_key,
                                       test::hsm_ecdh_spec("below leaf"));
  EXPECT_TRUE(untrusted_because(verify(below_leaf, {pki_.ecdh_cert, pki_.hoc}), {"CA", "depth 1"}));
}

TEST_F(HsmChain, IssuerWithoutKeyCertSignIsUntrusted) {
  const auto [leaf, hoc] =
      chain_with_hoc([](CertSpec& s) { s.key_usage = {.digital_signature = true}; });
  EXPECT_TRUE(untrusted_because(verify(leaf, {hoc}), {"depth 1"}));
}

TEST_F(HsmChain, LeafPublicKeyIsTheCertifiedKey) {
  const auto key = pki_.ecdh_cert.ec_public_key();
  ASSERT_TRUE(is_ok(key));
  EXPECT_TRUE(key.value() == pki_.ecdh_key.public_key());
}

TEST_F(HsmChain, OnlyAKeyUsageWithKeyAgreementAllowsKeyAgreement) {
  EXPECT_TRUE(pki_.ecdh_cert.allows_key_agreement());
  EXPECT_FALSE(pki_.hoc.allows_key_agreement());
  EXPECT_FALSE(leaf_with([](CertSpec& s) {
                 s.key_usage = {.digital_signature = true};
               }).allows_key_agreement());
  // No keyUsage extension: OpenSSL would report "any usage"; the API must not.
  EXPECT_FALSE(leaf_with([](CertSpec& s) { s.key_usage = {}; }).allows_key_agreement());
}

// ---------------------------------------------------------------------------
// Trust anchors

TEST_F(HsmChain, AnchorsMustBeSelfSignedCaCertificates) {
  EXPECT_TRUE(fails_with(TrustStore::from_anchors({}), Errc::invalid_argument));
  EXPECT_TRUE(
      fails_with(TrustStore::from_anchors(std::span(&pki_.hoc, 1)), Errc::certificate_invalid));
  EXPECT_TRUE(fails_with(TrustStore::from_anchors(std::span(&pki_.ecdh_cert, 1)),
                         Errc::certificate_invalid));
  const Certificate self_signed_leaf = test::self_signed(pki_.ecdh_key, test::hsm_ecdh_spec());
  EXPECT_TRUE(fails_with(TrustStore::from_anchors(std::span(&self_signed_leaf, 1)),
                         Errc::certificate_invalid));
}

// A root whose names and key identifiers say "self-signed" but whose signature
// was made with another key is not a self-signed certificate.
TEST_F(HsmChain, AnchorWithABadSelfSignatureIsRefused) {
  const Certificate bad_root =
      issue(pki_.root_key.public_key(), pki_.root, pki_.hoc_key, test::root_ca_spec());
  EXPECT_TRUE(
      fails_with(TrustStore::from_anchors(std::span(&bad_root, 1)), Errc::certificate_invalid));
}

TEST_F(HsmChain, SeveralAnchorsEachVerifyTheirChains) {
  const test::HsmPki other = test::make_hsm_pki();
  const std::array anchors{pki_.root, other.root};
  const TrustStore both = must(TrustStore::from_anchors(anchors));
  const std::array our_hoc{pki_.hoc};
  const std::array other_hoc{other.hoc};
  EXPECT_TRUE(is_ok(both.verify(pki_.ecdh_cert, our_hoc)));
  EXPECT_TRUE(is_ok(both.verify(other.ecdh_cert, other_hoc)));
  EXPECT_TRUE(fails_with(both.verify(other.ecdh_cert, our_hoc), Errc::chain_untrusted));
}

// ---------------------------------------------------------------------------
// A directly trusted issuer (the HSM trusts certificates its own HOC issued)

TEST_F(HsmChain, IssuerStoreTrustsWhatTheIssuerSigned) {
  const TrustStore hoc_only = must(TrustStore::from_issuer(pki_.hoc));
  EXPECT_TRUE(is_ok(hoc_only.verify(pki_.ecdh_cert, {})));
}

TEST_F(HsmChain, IssuerStoreRefusesWhatAnotherIssuerSigned) {
  const TrustStore hoc_only = must(TrustStore::from_issuer(pki_.hoc));
  const test::HsmPki other = test::make_hsm_pki();  // same names, other keys
  EXPECT_TRUE(fails_with(hoc_only.verify(other.ecdh_cert, {}), Errc::chain_untrusted));
  // The issuer's own root is not trusted by a store of the issuer alone.
  const Certificate sibling = issue(pki_.ecdh_key.public_key(), pki_.root, pki_.root_key,
                                    test::hsm_ecdh_spec("issued by the root"));
  EXPECT_TRUE(fails_with(hoc_only.verify(sibling, {}), Errc::chain_untrusted));
  // Nor does presenting a forged signature under the issuer's name help.
  const Certificate forged =
      issue(pki_.ecdh_key.public_key(), pki_.hoc, other.hoc_key, test::hsm_ecdh_spec());
  EXPECT_TRUE(untrusted_because(hoc_only.verify(forged, {}), {"signature"}));
}

TEST_F(HsmChain, IssuerStoreChecksTheIssuersValidity) {
  const std::int64_t now = unix_now();
  const auto [leaf, expired_hoc] = chain_with_hoc([now](CertSpec& s) { s.not_after = now - 60; });
  const TrustStore hoc_only = must(TrustStore::from_issuer(expired_hoc));
  EXPECT_TRUE(untrusted_because(hoc_only.verify(leaf, {}), {"expired"}));
}

TEST_F(HsmChain, IssuerStoreNeedsACaCertificate) {
  EXPECT_TRUE(fails_with(TrustStore::from_issuer(pki_.ecdh_cert), Errc::certificate_invalid));
}

// ---------------------------------------------------------------------------
// Encodings

TEST_F(HsmChain, DerAndPemRoundTrip) {
  const Bytes der = pki_.ecdh_cert.der();
  const auto from_der = Certificate::from_der(der);
  ASSERT_TRUE(is_ok(from_der));
  EXPECT_EQ(from_der->der(), der);

  const std::string bundle = pki_.ecdh_cert.pem() + pki_.hoc.pem() + pki_.root.pem();
  const auto certs = Certificate::from_pem(bundle);
  ASSERT_TRUE(is_ok(certs));
  ASSERT_EQ(certs->size(), 3u);
  EXPECT_EQ(certs.value()[0].der(), der);
  EXPECT_EQ(certs.value()[1].der(), pki_.hoc.der());
  EXPECT_EQ(certs.value()[2].der(), pki_.root.der());
}

TEST_F(HsmChain, PemSkipsOtherBlocks) {
  const std::string key_block =
      "-----BEGIN PUBLIC KEY-----\n"
      "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n"
      "-----END PUBLIC KEY-----\n";
  const auto certs = Certificate::from_pem("preamble text\n" + key_block + pki_.hoc.pem());
  ASSERT_TRUE(is_ok(certs));
  ASSERT_EQ(certs->size(), 1u);
  EXPECT_EQ(certs.value()[0].der(), pki_.hoc.der());
}

TEST_F(HsmChain, FingerprintIsSha256OfTheDer) {
  const Bytes der = pki_.root.der();
  Bytes expected(32);
  unsigned int len = 0;
  ASSERT_EQ(EVP_Digest(der.data(), der.size(), expected.data(), &len, EVP_sha256(), nullptr), 1);
  EXPECT_EQ(pki_.root.sha256_fingerprint(), expected);
}

TEST_F(HsmChain, DerGarbageIsCertificateInvalid) {
  const Bytes der = pki_.hoc.der();
  const ByteView d = der;
  EXPECT_TRUE(fails_with(Certificate::from_der({}), Errc::certificate_invalid));
  EXPECT_TRUE(
      fails_with(Certificate::from_der(test::hex("3082ffff0000")), Errc::certificate_invalid));
  EXPECT_TRUE(fails_with(Certificate::from_der(test::bytes_of("not a certificate")),
                         Errc::certificate_invalid));
  EXPECT_TRUE(fails_with(Certificate::from_der(d.first(d.size() - 1)), Errc::certificate_invalid));
  Bytes trailing = der;
  trailing.push_back(0);
  EXPECT_TRUE(fails_with(Certificate::from_der(trailing), Errc::certificate_invalid));
}

TEST_F(HsmChain, PemWithoutACertificateBlockIsCertificateInvalid) {
  EXPECT_TRUE(fails_with(Certificate::from_pem(""), Errc::certificate_invalid));
  EXPECT_TRUE(fails_with(Certificate::from_pem(std::string_view{}), Errc::certificate_invalid));
  EXPECT_TRUE(fails_with(Certificate::from_pem("hello"), Errc::certificate_invalid));
  EXPECT_TRUE(fails_with(
      Certificate::from_pem("-----BEGIN PUBLIC KEY-----\n"
                            "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n"
                            "-----END PUBLIC KEY-----\n"),
      Errc::certificate_invalid));
}

TEST_F(HsmChain, CorruptCertificateBlockIsCertificateInvalid) {
  std::string pem = pki_.hoc.pem();
  pem[pem.find('\n') + 10] = '*';  // not base64
  EXPECT_TRUE(fails_with(Certificate::from_pem(pem), Errc::certificate_invalid));
  // A good block followed by a broken one: the broken one is not silently dropped.
  EXPECT_TRUE(fails_with(Certificate::from_pem(pki_.root.pem() + pem), Errc::certificate_invalid));
}

// ---------------------------------------------------------------------------
// The manufacturer's real root (RSA-4096): parsed, trusted as an anchor, but
// it does not certify our P-521 chains and has no EC key.

class ChrysalisRoot : public ::testing::Test {
 protected:
  const std::vector<Certificate> certs_ =
      must(Certificate::from_pem(read_text(kChrysalisRootPath)));
  const Certificate& root() const { return certs_.front(); }
};

TEST_F(ChrysalisRoot, ParsesNamesSerialAndFingerprint) {
  ASSERT_EQ(certs_.size(), 1u);
  EXPECT_EQ(root().common_name(), "Chrysalis-ITS Root");
  const std::string subject = root().subject();
  for (const char* rdn :
       {"CN=Chrysalis-ITS Root", "O=Chrysalis-ITS Inc.", "L=Ottawa", "ST=Ontario", "C=CA"}) {
    EXPECT_NE(subject.find(rdn), std::string::npos) << subject;
  }
  EXPECT_EQ(root().issuer(), subject);
  EXPECT_EQ(root().serial_hex(), "80450000000D");
  // `openssl x509 -fingerprint -sha256` of the published file.
  EXPECT_EQ(to_hex(root().sha256_fingerprint()),
            "696a7ee67bc4facff60911bc0b24a3a6bce75a2ef4c42318448add4501b69969");
}

TEST_F(ChrysalisRoot, IsAcceptedAsAnAnchor) {
  const auto trust = TrustStore::from_anchors(certs_);
  ASSERT_TRUE(is_ok(trust));
  // The anchor itself is valid from 2002-01-01 to 2032-01-01.
  EXPECT_TRUE(is_ok(trust->verify(root(), {}, 1577836800)));  // 2020-01-01
  EXPECT_TRUE(
      untrusted_because(trust->verify(root(), {}, 1956528000), {"expired"}));  // 2032-01-01 + 1 day
}

TEST_F(ChrysalisRoot, DoesNotCertifyOurChain) {
  const TrustStore trust = must(TrustStore::from_anchors(certs_));
  const test::HsmPki pki = test::make_hsm_pki();
  const std::array chain{pki.hoc, pki.root};
  EXPECT_TRUE(
      fails_with(trust.verify(pki.ecdh_cert, std::span(chain).first(1)), Errc::chain_untrusted));
  EXPECT_TRUE(fails_with(trust.verify(pki.ecdh_cert, chain), Errc::chain_untrusted));
}

TEST_F(ChrysalisRoot, HasNoEcPublicKey) {
  EXPECT_TRUE(fails_with(root().ec_public_key(), Errc::invalid_public_key));
}

}  // namespace
}  // namespace rped::crypto
