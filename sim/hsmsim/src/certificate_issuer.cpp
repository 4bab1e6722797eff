#include "rped/hsmsim/certificate_issuer.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <memory>

#include "rped/attestation/pkc.h"
#include "rped/crypto/symmetric.h"

namespace rped::hsmsim {

namespace {

constexpr std::int64_t kClockSkewSeconds = 24 * 60 * 60;

Error openssl_error(const std::string& what) {
  std::string reason = "issuing a certificate: " + what;
  if (const unsigned long code = ERR_get_error(); code != 0) {
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    reason += ": ";
    reason += text;
  }
  ERR_clear_error();
  return make_error(Errc::internal, reason);
}

Result<void> check(int rc, const char* what) {
  if (rc <= 0) {
    return openssl_error(what);
  }
  return {};
}

Result<void> add_extension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  X509_EXTENSION* const ext = X509V3_EXT_nconf_nid(nullptr, ctx, nid, value);
  if (ext == nullptr) {
    return openssl_error(std::string("extension ") + value);
  }
  const int rc = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return check(rc, "X509_add_ext");
}

Result<std::uint64_t> serial_of(const CertificateProfile& profile) {
  if (profile.serial != 0) {
    return profile.serial;
  }
  std::uint8_t raw[8];
  RPED_TRY(crypto::random_bytes(raw));
  std::uint64_t v = 0;
  for (const std::uint8_t b : raw) {
    v = (v << 8) | b;
  }
  v &= 0x7FFFFFFFFFFFFFFFULL;  // positive as a DER INTEGER
  return v == 0 ? 1 : v;
}

// `issuer` == nullptr: self-signed.
Result<crypto::Certificate> build(EVP_PKEY* subject_key, const X509* issuer, EVP_PKEY* signing_key,
                                  const CertificateProfile& profile) {
  if (profile.common_name.empty() || profile.not_after <= profile.not_before) {
    return make_error(Errc::invalid_argument,
                      "a certificate needs a common name and a validity window");
  }
  std::shared_ptr<X509> cert(X509_new(), X509_free);
  if (!cert) {
    return openssl_error("X509_new");
  }
  X509* const x = cert.get();
  RPED_TRY_ASSIGN(const std::uint64_t serial, serial_of(profile));
  RPED_TRY(check(X509_set_version(x, X509_VERSION_3), "X509_set_version"));
  RPED_TRY(check(ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial), "serial"));
  RPED_TRY(check(
      ASN1_TIME_set(X509_getm_notBefore(x), static_cast<time_t>(profile.not_before)) != nullptr ? 1
                                                                                                : 0,
      "notBefore"));
  RPED_TRY(check(
      ASN1_TIME_set(X509_getm_notAfter(x), static_cast<time_t>(profile.not_after)) != nullptr ? 1
                                                                                              : 0,
      "notAfter"));
  X509_NAME* const subject = X509_get_subject_name(x);
  const auto* cn = reinterpret_cast<const unsigned char*>(profile.common_name.c_str());
  RPED_TRY(
      check(X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, cn, -1, -1, 0), "subject CN"));
  if (!profile.subject_serial_number.empty()) {
    const auto* sn = reinterpret_cast<const unsigned char*>(profile.subject_serial_number.c_str());
    RPED_TRY(check(X509_NAME_add_entry_by_txt(subject, "serialNumber", MBSTRING_ASC, sn, -1, -1, 0),
                   "subject serialNumber"));
  }
  RPED_TRY(
      check(X509_set_issuer_name(x, issuer != nullptr ? X509_get_subject_name(issuer) : subject),
            "issuer"));
  RPED_TRY(check(X509_set_pubkey(x, subject_key), "X509_set_pubkey"));

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer != nullptr ? const_cast<X509*>(issuer) : x, x, nullptr, nullptr, 0);
  switch (profile.role) {
    case CertificateRole::manufacturer_root:
      RPED_TRY(add_extension(x, &ctx, NID_basic_constraints, "critical,CA:TRUE"));
      RPED_TRY(add_extension(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign"));
      break;
    case CertificateRole::hsm_origin:
      // The HOC issues only end-entity certificates (static key, RPKs).
      RPED_TRY(add_extension(x, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
      RPED_TRY(add_extension(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign"));
      break;
    case CertificateRole::key_agreement:
      // docs/protocol.md §8: keyUsage present with keyAgreement.
      RPED_TRY(add_extension(x, &ctx, NID_basic_constraints, "critical,CA:FALSE"));
      RPED_TRY(add_extension(x, &ctx, NID_key_usage, "critical,keyAgreement"));
      break;
    case CertificateRole::attestation:
      // docs/attestation.md §2: signs PKCs only; the EKU says so, so a verifier
      // refuses a PKC signed with any other key the HOC certified.
      RPED_TRY(add_extension(x, &ctx, NID_basic_constraints, "critical,CA:FALSE"));
      RPED_TRY(add_extension(x, &ctx, NID_key_usage, "critical,digitalSignature"));
      RPED_TRY(add_extension(x, &ctx, NID_ext_key_usage,
                             std::string(attestation::kKeyAttestationEkuOid).c_str()));
      break;
    default:
      return make_error(Errc::invalid_argument, "unknown certificate role");
  }
  RPED_TRY(add_extension(x, &ctx, NID_subject_key_identifier, "hash"));
  RPED_TRY(add_extension(x, &ctx, NID_authority_key_identifier, "keyid:always"));
  if (X509_sign(x, signing_key, EVP_sha512()) <= 0) {
    return openssl_error("X509_sign");
  }
  return crypto::Certificate(std::move(cert));
}

}  // namespace

CertificateProfile demo_profile(CertificateRole role, std::string common_name,
                                std::string subject_serial_number) {
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  CertificateProfile profile;
  profile.role = role;
  profile.common_name = std::move(common_name);
  profile.subject_serial_number = std::move(subject_serial_number);
  profile.not_before = now - kClockSkewSeconds;
  profile.not_after = kDemoNotAfter;
  return profile;
}

Result<crypto::Certificate> issue_self_signed(const crypto::EcKeyPair& key,
                                              const CertificateProfile& profile) {
  if (profile.role != CertificateRole::manufacturer_root) {
    return make_error(Errc::invalid_argument, "only a manufacturer root is self-signed");
  }
  return build(key.native(), nullptr, key.native(), profile);
}

Result<crypto::Certificate> issue_certificate(const crypto::EcPublicKey& subject_key,
                                              const crypto::Certificate& issuer,
                                              const crypto::EcKeyPair& issuer_key,
                                              const CertificateProfile& profile) {
  if (profile.role == CertificateRole::manufacturer_root) {
    return make_error(Errc::invalid_argument, "a manufacturer root is self-signed, not issued");
  }
  // A wrong issuer key would yield a certificate whose signature never verifies.
  if (X509_check_private_key(issuer.native(), issuer_key.native()) != 1) {
    ERR_clear_error();
    return make_error(Errc::invalid_argument,
                      "the signing key is not the issuer certificate's key");
  }
  return build(subject_key.native(), issuer.native(), issuer_key.native(), profile);
}

}  // namespace rped::hsmsim
