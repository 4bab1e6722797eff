// The test PKI (support/pki.h) builds what its spec says; the chain tests and
// the secure-channel tests rely on it.
#include "support/pki.h"

#include <gtest/gtest.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace rped::test {
namespace {

// -1 when absent, else whether the extension is critical.
int criticality(const crypto::Certificate& cert, int nid) {
  const int index = X509_get_ext_by_NID(cert.native(), nid, -1);
  return index < 0 ? -1 : X509_EXTENSION_get_critical(X509_get_ext(cert.native(), index));
}

TEST(TestPki, HsmChainHasTheProductProfile) {
  const HsmPki pki = make_hsm_pki();
  for (const crypto::Certificate* cert : {&pki.root, &pki.hoc, &pki.ecdh_cert}) {
    EXPECT_EQ(X509_get_version(cert->native()), X509_VERSION_3);
    EXPECT_EQ(X509_get_signature_nid(cert->native()), NID_ecdsa_with_SHA512);
    EXPECT_EQ(criticality(*cert, NID_basic_constraints), 1);
    EXPECT_EQ(criticality(*cert, NID_key_usage), 1);
    EXPECT_EQ(criticality(*cert, NID_subject_key_identifier), 0);
    EXPECT_EQ(criticality(*cert, NID_authority_key_identifier), 0);
  }
  EXPECT_EQ(pki.root.common_name(), "RPED Test Manufacturer Root");
  EXPECT_EQ(pki.root.issuer(), pki.root.subject());
  EXPECT_EQ(pki.hoc.issuer(), pki.root.subject());
  EXPECT_EQ(pki.ecdh_cert.issuer(), pki.hoc.subject());
  EXPECT_EQ(pki.ecdh_cert.common_name(), "RPED Test HSM Static ECDH Key");
  EXPECT_EQ(pki.ecdh_cert.subject_serial_number(), "1234567");  // the HSM serial

  EXPECT_NE(X509_check_ca(pki.root.native()), 0);
  EXPECT_NE(X509_check_ca(pki.hoc.native()), 0);
  EXPECT_EQ(X509_check_ca(pki.ecdh_cert.native()), 0);
  EXPECT_EQ(X509_get_key_usage(pki.hoc.native()),
            static_cast<std::uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  EXPECT_EQ(X509_get_key_usage(pki.ecdh_cert.native()),
            static_cast<std::uint32_t>(KU_KEY_AGREEMENT));

  EXPECT_TRUE(must(pki.hoc.ec_public_key()) == pki.hoc_key.public_key());
  EXPECT_TRUE(must(pki.ecdh_cert.ec_public_key()) == pki.ecdh_key.public_key());
  // Each certificate is signed by its issuer's key, and by no other.
  EXPECT_EQ(X509_verify(pki.root.native(), pki.root_key.native()), 1);
  EXPECT_EQ(X509_verify(pki.hoc.native(), pki.root_key.native()), 1);
  EXPECT_EQ(X509_verify(pki.ecdh_cert.native(), pki.hoc_key.native()), 1);
  EXPECT_NE(X509_verify(pki.ecdh_cert.native(), pki.root_key.native()), 1);
}

TEST(TestPki, SpecFieldsAreHonoured) {
  const auto key = must(crypto::EcKeyPair::generate());
  const CertSpec spec{.common_name = "custom",
                      .subject_serial_number = "150012",
                      .serial = 0x1234abcd,
                      .not_before = 1000000000,
                      .not_after = 2000000000,
                      .ca = std::nullopt,
                      .key_usage = {.digital_signature = true, .key_agreement = true}};
  const crypto::Certificate cert = self_signed(key, spec);
  EXPECT_EQ(cert.common_name(), "custom");
  EXPECT_EQ(cert.subject_serial_number(), "150012");
  EXPECT_EQ(cert.serial_hex(), "1234ABCD");
  EXPECT_EQ(ASN1_TIME_cmp_time_t(X509_get0_notBefore(cert.native()), 1000000000), 0);
  EXPECT_EQ(ASN1_TIME_cmp_time_t(X509_get0_notAfter(cert.native()), 2000000000), 0);
  EXPECT_EQ(criticality(cert, NID_basic_constraints), -1);
  EXPECT_EQ(X509_get_key_usage(cert.native()),
            static_cast<std::uint32_t>(KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT));
  // No key usage bit: the extension is left out.
  EXPECT_EQ(criticality(self_signed(key, {.common_name = "bare"}), NID_key_usage), -1);
}

}  // namespace
}  // namespace rped::test
