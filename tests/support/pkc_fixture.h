// A demo manufacturer, one HSM's HOC and attestation key, made on the fly with
// the emulator's issuer (rped_sim_pki), for PKC tests (docs/attestation.md):
//
//   const PkcPki pki = make_pkc_pki("1234567");
//   const Bytes der = pki.bundle(pki.statement_for(key.public_key()));
//   EXPECT_TRUE(verify_pkc(der, std::span(&pki.root, 1)).ok());
//
// and a PKCS#10 request for a key (the -csr check). Header-only; setup
// failures throw (GoogleTest reports them).
#pragma once

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "rped/attestation/pkc.h"
#include "rped/crypto/ec.h"
#include "rped/crypto/x509.h"
#include "rped/hsmsim/certificate_issuer.h"
#include "rped/hsmsim/pkc_signer.h"
#include "support/must.h"

namespace rped::test {

struct PkcPki {
  crypto::EcKeyPair root_key;
  crypto::Certificate root;
  crypto::EcKeyPair hoc_key;
  crypto::Certificate hoc;
  crypto::EcKeyPair attestation_key;
  crypto::Certificate attestation;
  std::string serial;

  attestation::KeyAttestation statement_for(const crypto::EcPublicKey& key,
                                            std::uint32_t handle = 1) const {
    attestation::KeyAttestation s;
    s.hsm = {serial, "Luna PCIe HSM 7 (hsmsim)", "7.8.4"};
    s.handle = handle;
    s.label = "HSM static key";
    s.subject_public_key_info = key.spki_der();
    s.attributes = {.local = true,
                    .extractable = false,
                    .never_extractable = true,
                    .key_usage = attestation::kKeyAgreement};
    s.attested_at = static_cast<std::int64_t>(std::time(nullptr));
    return s;
  }

  // Signed by the attestation key, with the HOC.
  Bytes bundle(const attestation::KeyAttestation& s) const {
    const std::vector<crypto::Certificate> chain{hoc};
    return must(hsmsim::sign_pkc(must(attestation::encode_statement(s)), attestation_key,
                                 attestation, chain));
  }
};

inline PkcPki make_pkc_pki(const std::string& serial,
                           const std::string& root_name = "RPED test manufacturer root") {
  using hsmsim::CertificateRole;
  using hsmsim::demo_profile;
  crypto::EcKeyPair root_key = must(crypto::EcKeyPair::generate());
  crypto::Certificate root = must(hsmsim::issue_self_signed(
      root_key, demo_profile(CertificateRole::manufacturer_root, root_name)));
  crypto::EcKeyPair hoc_key = must(crypto::EcKeyPair::generate());
  crypto::Certificate hoc = must(
      hsmsim::issue_certificate(hoc_key.public_key(), root, root_key,
                                demo_profile(CertificateRole::hsm_origin, "HOC " + serial, serial)));
  crypto::EcKeyPair attestation_key = must(crypto::EcKeyPair::generate());
  crypto::Certificate attestation = must(hsmsim::issue_certificate(
      attestation_key.public_key(), hoc, hoc_key,
      demo_profile(CertificateRole::attestation, "HSM " + serial + " attestation", serial)));
  return PkcPki{std::move(root_key),        std::move(root),        std::move(hoc_key),
                std::move(hoc),             std::move(attestation_key), std::move(attestation),
                serial};
}

// A DER PKCS#10 request for `key`, signed by it (ECDSA with SHA-512).
inline Bytes make_csr(const crypto::EcKeyPair& key, const std::string& cn = "attested key") {
  std::unique_ptr<X509_REQ, decltype(&X509_REQ_free)> req(X509_REQ_new(), X509_REQ_free);
  if (!req || X509_REQ_set_version(req.get(), 0) != 1 ||
      X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req.get()), "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                 0) != 1 ||
      X509_REQ_set_pubkey(req.get(), key.native()) != 1 ||
      X509_REQ_sign(req.get(), key.native(), EVP_sha512()) <= 0) {
    throw std::runtime_error("cannot build a CSR");
  }
  unsigned char* der = nullptr;
  const int len = i2d_X509_REQ(req.get(), &der);
  if (len <= 0) {
    throw std::runtime_error("cannot encode a CSR");
  }
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

}  // namespace rped::test
