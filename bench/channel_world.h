// Bench-local fixture for the channel: a P-521 PKI (manufacturer root -> HOC
// -> HSM static-key certificate, and an RPK certificate issued by the HOC),
// the device secrets, and the two endpoint configurations. Built once per
// process, outside every timed loop.
//
// tests/support/pki.h builds the same chains, but it reaches GoogleTest
// through result_assertions.h, so the benchmarks carry this small copy. The
// certificates have the extensions the product checks (critical basic
// constraints and key usage, key identifiers, subject serialNumber), so the
// endpoints run their full path validation on them.
//
// Setup failures throw std::runtime_error: without its fixture a benchmark has
// nothing to measure.
#pragma once

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <array>
#include <cstdint>
#include <ctime>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "rped/channel/endpoint.h"
#include "rped/crypto/ec.h"
#include "rped/crypto/symmetric.h"
#include "rped/crypto/x509.h"
#include "rped/result.h"
#include "rped/secret.h"

namespace rped::bench {

template <typename T>
T must(Result<T> result) {
  if (!result.ok()) {
    throw std::runtime_error("bench setup failed: " + std::move(result).error().message);
  }
  return std::move(result).value();
}

namespace world_detail {

[[noreturn]] inline void fail(const std::string& what) {
  ERR_clear_error();
  throw std::runtime_error("bench PKI: " + what);
}

inline void check(const int openssl_rc, const char* what) {
  if (openssl_rc <= 0) {
    fail(what);
  }
}

struct CertSpec {
  std::string common_name;
  std::string subject_serial_number = {};  // empty: no serialNumber attribute
  std::uint64_t serial = 1;
  bool ca = false;
  const char* key_usage = "";  // value of the critical keyUsage extension
};

inline void add_extension(X509* cert, X509V3_CTX* ctx, const int nid, const std::string& value) {
  X509_EXTENSION* const ext = X509V3_EXT_nconf_nid(nullptr, ctx, nid, value.c_str());
  if (ext == nullptr) {
    fail("extension " + value);
  }
  const int rc = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  check(rc, "X509_add_ext");
}

// `issuer` == nullptr issues a self-signed certificate. ECDSA with SHA-512,
// valid from a day ago for a year.
inline crypto::Certificate build(EVP_PKEY* subject_key, const X509* issuer, EVP_PKEY* signing_key,
                                 const CertSpec& spec) {
  constexpr std::int64_t kDay = 24 * 60 * 60;
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  std::shared_ptr<X509> cert(X509_new(), X509_free);
  if (!cert) {
    fail("X509_new");
  }
  X509* const x = cert.get();
  check(X509_set_version(x, X509_VERSION_3), "X509_set_version");
  check(ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), spec.serial), "serial");
  check(ASN1_TIME_set(X509_getm_notBefore(x), static_cast<time_t>(now - kDay)) != nullptr,
        "notBefore");
  check(ASN1_TIME_set(X509_getm_notAfter(x), static_cast<time_t>(now + 365 * kDay)) != nullptr,
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
  add_extension(x, &ctx, NID_basic_constraints, spec.ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  add_extension(x, &ctx, NID_key_usage, std::string("critical,") + spec.key_usage);
  add_extension(x, &ctx, NID_subject_key_identifier, "hash");
  add_extension(x, &ctx, NID_authority_key_identifier, "keyid:always");
  check(X509_sign(x, signing_key, EVP_sha512()), "X509_sign");
  return crypto::Certificate(std::move(cert));
}

}  // namespace world_detail

// Everything both ends of one channel need, as the daemons would hold it.
struct ChannelWorld {
  std::uint64_t hsm_serial = 1234567;
  std::uint64_t rpk_serial = 7001;

  crypto::EcKeyPair root_key = must(crypto::EcKeyPair::generate());
  crypto::EcKeyPair hoc_key = must(crypto::EcKeyPair::generate());
  crypto::EcKeyPair hsm_static_key = must(crypto::EcKeyPair::generate());  // inside the HSM
  crypto::EcKeyPair rpk_key = must(crypto::EcKeyPair::generate());         // on the orange PED key

  crypto::Certificate root = world_detail::build(root_key.native(), nullptr, root_key.native(),
                                                 {.common_name = "RPED Bench Manufacturer Root",
                                                  .serial = 1,
                                                  .ca = true,
                                                  .key_usage = "keyCertSign,cRLSign"});
  crypto::Certificate hoc = world_detail::build(hoc_key.native(), root.native(), root_key.native(),
                                                {.common_name = "RPED Bench HSM Origin",
                                                 .serial = 2,
                                                 .ca = true,
                                                 .key_usage = "keyCertSign,cRLSign"});
  crypto::Certificate hsm_cert =
      world_detail::build(hsm_static_key.native(), hoc.native(), hoc_key.native(),
                          {.common_name = "RPED Bench HSM Static ECDH Key",
                           .subject_serial_number = std::to_string(hsm_serial),
                           .serial = 3,
                           .ca = false,
                           .key_usage = "keyAgreement"});
  crypto::Certificate rpk_cert =
      world_detail::build(rpk_key.native(), hoc.native(), hoc_key.native(),
                          {.common_name = "RPED Bench Remote PED Key",
                           .subject_serial_number = std::to_string(rpk_serial),
                           .serial = 100 + rpk_serial,
                           .ca = false,
                           .key_usage = "keyAgreement"});

  SecretBytes rpv = must(crypto::random_secret(channel::kRpvBytes));
  SecretBytes password =
      SecretBytes::copy_of(std::array<std::uint8_t, 8>{'3', '1', '4', '1', '5', '9', '2', '6'});

  // The PED side's anchor store is built once at daemon start, not per session.
  crypto::TrustStore manufacturer_roots =
      must(crypto::TrustStore::from_anchors(std::span(&root, 1)));

  channel::HsmEndpointConfig hsm_config(const channel::Scheme scheme) const {
    channel::HsmEndpointConfig c;
    c.scheme = scheme;
    c.hsm_serial = hsm_serial;
    c.certificate_chain = {hsm_cert, hoc};
    return c;
  }

  channel::PedEndpointConfig ped_config(const channel::Scheme scheme) const {
    channel::PedEndpointConfig c;
    c.manufacturer_roots = manufacturer_roots;
    if (scheme == channel::Scheme::full_unified) {
      c.rpk_certificate = rpk_cert;
      c.rpk_serial = rpk_serial;
    } else {
      c.allow_password_mode = true;
    }
    return c;
  }

  // The secret each device mixes in as SuppPrivInfo.
  ByteView supp_priv_info(const channel::Scheme scheme) const {
    return scheme == channel::Scheme::full_unified ? rpv.reveal() : password.reveal();
  }
};

}  // namespace rped::bench
