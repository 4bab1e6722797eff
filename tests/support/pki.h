// Test PKI: issues X.509 v3 certificates (ECDSA with SHA-512) on the fly, for the
// chains the product validates: HSM static ECDH key certificate -> HSM origin
// certificate (HOC, an intermediate CA) -> manufacturer root.
//
//   const auto pki = rped::test::make_hsm_pki();
//   const auto trust = must(TrustStore::from_anchors(std::span(&pki.root, 1)));
//   const std::array hoc{pki.hoc};
//   EXPECT_TRUE(is_ok(trust.verify(pki.ecdh_cert, hoc)));
//
// Negative certificates come from the spec: a validity window in the past or
// future, CA false on an issuer, missing key usage, or issue() called with a
// key that is not the issuer certificate's key (the signature will not verify).
// Every certificate carries the extensions RFC 5280 (and OpenSSL's
// X509_V_FLAG_X509_STRICT) requires of a conforming CA: critical basic
// constraints and key usage, subject and authority key identifiers.
//
// Header-only (the test target compiles tests/unit/*.cpp only). Setup failures
// throw std::runtime_error, which GoogleTest reports as a test failure.
#pragma once

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "rped/crypto/ec.h"
#include "rped/crypto/x509.h"
#include "support/must.h"

namespace rped::test {

inline constexpr std::int64_t kSecondsPerDay = 24 * 60 * 60;

inline std::int64_t unix_now() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

// keyUsage bits (RFC 5280 §4.2.1.3) the product's certificates use. No bit set
// omits the extension.
struct KeyUsage {
  bool digital_signature = false;
  bool key_agreement = false;
  bool key_cert_sign = false;
  bool crl_sign = false;
};

// Every member has a default, so designated initializers may name only what differs.
struct CertSpec {
  std::string common_name = "RPED Test Certificate";
  // Subject serialNumber attribute (X.520), e.g. the HSM serial; empty leaves it out.
  std::string subject_serial_number = {};
  std::uint64_t serial = 1;
  std::int64_t not_before = unix_now() - kSecondsPerDay;
  std::int64_t not_after = unix_now() + 365 * kSecondsPerDay;
  // Critical basicConstraints cA flag; nullopt leaves the extension out.
  std::optional<bool> ca = std::nullopt;
  // Critical keyUsage.
  KeyUsage key_usage = {};
};

inline CertSpec root_ca_spec(std::string common_name = "RPED Test Manufacturer Root") {
  return {.common_name = std::move(common_name),
          .ca = true,
          .key_usage = {.key_cert_sign = true, .crl_sign = true}};
}

inline CertSpec hoc_spec(std::string common_name = "RPED Test HSM Origin") {
  return {.common_name = std::move(common_name),
          .serial = 2,
          .ca = true,
          .key_usage = {.key_cert_sign = true, .crl_sign = true}};
}

inline CertSpec hsm_ecdh_spec(std::string common_name = "RPED Test HSM Static ECDH Key") {
  return {.common_name = std::move(common_name),
          .serial = 3,
          .ca = false,
          .key_usage = {.key_agreement = true}};
}

namespace pki_detail {

[[noreturn]] inline void fail(const std::string& what) {
  std::string reason = what;
  if (const unsigned long code = ERR_get_error(); code != 0) {
    char text[256];
    ERR_error_string_n(code, text, sizeof(text));
    reason += ": ";
    reason += text;
  }
  ERR_clear_error();
  throw std::runtime_error("test PKI: " + reason);
}

inline void check(int openssl_rc, const char* what) {
  if (openssl_rc <= 0) {
    fail(what);
  }
}

inline std::string key_usage_value(const KeyUsage& usage) {
  std::string value = "critical";
  const auto add = [&value](bool set, const char* name) {
    if (set) {
      value += ",";
      value += name;
    }
  };
  add(usage.digital_signature, "digitalSignature");
  add(usage.key_agreement, "keyAgreement");
  add(usage.key_cert_sign, "keyCertSign");
  add(usage.crl_sign, "cRLSign");
  return value;
}

inline void add_extension(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  X509_EXTENSION* const ext = X509V3_EXT_nconf_nid(nullptr, ctx, nid, value.c_str());
  if (ext == nullptr) {
    fail("extension " + value);
  }
  const int rc = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  check(rc, "X509_add_ext");
}

// `issuer` == nullptr issues a self-signed certificate.
inline crypto::Certificate build(EVP_PKEY* subject_key, const X509* issuer, EVP_PKEY* signing_key,
                                 const CertSpec& spec) {
  std::shared_ptr<X509> cert(X509_new(), X509_free);
  if (!cert) {
    fail("X509_new");
  }
  X509* const x = cert.get();
  check(X509_set_version(x, X509_VERSION_3), "X509_set_version");
  check(ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), spec.serial), "serial");
  check(ASN1_TIME_set(X509_getm_notBefore(x), static_cast<time_t>(spec.not_before)) != nullptr,
        "notBefore");
  check(ASN1_TIME_set(X509_getm_notAfter(x), static_cast<time_t>(spec.not_after)) != nullptr,
        "notAfter");
  X509_NAME* const subject = X509_get_subject_name(x);
  const auto* cn = reinterpret_cast<const unsigned char*>(spec.common_name.c_str());
  check(X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, cn, -1, -1, 0), "subject CN");
  if (!spec.subject_serial_number.empty()) {
    const auto* serial = reinterpret_cast<const unsigned char*>(spec.subject_serial_number.c_str());
    check(X509_NAME_add_entry_by_txt(subject, "serialNumber", MBSTRING_ASC, serial, -1, -1, 0),
          "subject serialNumber");
  }
  check(X509_set_issuer_name(x, issuer != nullptr ? X509_get_subject_name(issuer) : subject),
        "issuer name");
  check(X509_set_pubkey(x, subject_key), "X509_set_pubkey");

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer != nullptr ? const_cast<X509*>(issuer) : x, x, nullptr, nullptr, 0);
  if (spec.ca.has_value()) {
    add_extension(x, &ctx, NID_basic_constraints,
                  *spec.ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  }
  const KeyUsage& ku = spec.key_usage;
  if (ku.digital_signature || ku.key_agreement || ku.key_cert_sign || ku.crl_sign) {
    add_extension(x, &ctx, NID_key_usage, key_usage_value(ku));
  }
  add_extension(x, &ctx, NID_subject_key_identifier, "hash");
  add_extension(x, &ctx, NID_authority_key_identifier, "keyid:always");

  check(X509_sign(x, signing_key, EVP_sha512()), "X509_sign");
  return crypto::Certificate(std::move(cert));
}

}  // namespace pki_detail

inline crypto::Certificate self_signed(const crypto::EcKeyPair& key, const CertSpec& spec) {
  return pki_detail::build(key.native(), nullptr, key.native(), spec);
}

// Certifies `subject_key` under `issuer`, signed by `signing_key`. Passing a key
// other than the issuer certificate's yields a certificate whose names and key
// identifiers chain correctly but whose signature does not verify.
inline crypto::Certificate issue(const crypto::EcPublicKey& subject_key,
                                 const crypto::Certificate& issuer,
                                 const crypto::EcKeyPair& signing_key, const CertSpec& spec) {
  return pki_detail::build(subject_key.native(), issuer.native(), signing_key.native(), spec);
}

// Manufacturer root -> HOC -> HSM static ECDH key certificate, all P-521.
struct HsmPki {
  crypto::EcKeyPair root_key;
  crypto::EcKeyPair hoc_key;
  crypto::EcKeyPair ecdh_key;
  crypto::Certificate root;
  crypto::Certificate hoc;
  crypto::Certificate ecdh_cert;
};

// The HSM static-key certificate names the HSM serial in its subject serialNumber.
inline HsmPki make_hsm_pki(std::uint64_t hsm_serial = 1234567) {
  auto root_key = must(crypto::EcKeyPair::generate());
  auto hoc_key = must(crypto::EcKeyPair::generate());
  auto ecdh_key = must(crypto::EcKeyPair::generate());
  auto root = self_signed(root_key, root_ca_spec());
  auto hoc = issue(hoc_key.public_key(), root, root_key, hoc_spec());
  CertSpec ecdh_spec = hsm_ecdh_spec();
  ecdh_spec.subject_serial_number = std::to_string(hsm_serial);
  auto ecdh_cert = issue(ecdh_key.public_key(), hoc, hoc_key, ecdh_spec);
  return {std::move(root_key), std::move(hoc_key), std::move(ecdh_key),
          std::move(root),     std::move(hoc),     std::move(ecdh_cert)};
}

// The RPK static-key certificate the HSM issues under its HOC during RPV
// initialization: keyAgreement, subject serialNumber = the RPK serial.
inline CertSpec rpk_spec(std::uint64_t rpk_serial) {
  return {.common_name = "RPED Test Remote PED Key",
          .subject_serial_number = std::to_string(rpk_serial),
          .serial = 100 + rpk_serial,
          .ca = false,
          .key_usage = {.key_agreement = true}};
}

inline crypto::Certificate issue_rpk(const HsmPki& pki, const crypto::EcPublicKey& rpk_key, std::uint64_t rpk_serial) {
  return issue(rpk_key, pki.hoc, pki.hoc_key, rpk_spec(rpk_serial));
}

}  // namespace rped::test
