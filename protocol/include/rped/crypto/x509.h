// X.509 certificates and path validation against a configured trust anchor
// (OpenSSL X509_STORE). A failure names the depth, the subject and OpenSSL's
// reason (expired, unknown issuer, bad signature ...).
//
// Thread-safety: Certificate is an immutable, reference-counted value;
// TrustStore::verify may be called concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rped/bytes.h"
#include "rped/crypto/ec.h"
#include "rped/result.h"

using X509 = struct x509_st;
using X509_STORE = struct x509_store_st;

namespace rped::crypto {

inline constexpr std::size_t kMaxPemBytes = 1 << 20;  // far above any chain we read; keeps lengths in int range

class Certificate final {
 public:
  static Result<Certificate> from_der(ByteView der);
  // Every CERTIFICATE block in the PEM text, in order; at least one.
  static Result<std::vector<Certificate>> from_pem(std::string_view pem);

  Bytes der() const;
  std::string pem() const;
  std::string subject() const;      // one-line RFC 2253 form
  std::string issuer() const;
  std::string common_name() const;  // empty when absent
  std::string serial_hex() const;
  std::string subject_serial_number() const;  // the subject's serialNumber attribute; empty when absent
  Bytes sha256_fingerprint() const;
  // True only when a keyUsage extension is present and asserts keyAgreement
  // (RFC 5280 §4.2.1.3); a certificate without the extension does not qualify.
  bool allows_key_agreement() const;
  // The subject public key, which must be a valid EC key on a supported curve.
  Result<EcPublicKey> ec_public_key() const;

  X509* native() const noexcept { return cert_.get(); }
  explicit Certificate(std::shared_ptr<X509> cert) : cert_(std::move(cert)) {}

 private:
  std::shared_ptr<X509> cert_;
};

class TrustStore final {
 public:
  // The anchors must be self-signed CA certificates.
  static Result<TrustStore> from_anchors(std::span<const Certificate> anchors);
  // A CA certificate that is itself issued by someone else, trusted directly
  // (X509_V_FLAG_PARTIAL_CHAIN): the HSM trusts RPK certificates only when
  // its own HOC issued them.
  static Result<TrustStore> from_issuer(const Certificate& issuer);

  // Validates leaf -> intermediates -> an anchor (RFC 5280 path validation by
  // OpenSSL, with X509_V_FLAG_X509_STRICT). `at_unix_time` fixes the
  // validation time (tests of expiry); by default the current time is used.
  Result<void> verify(const Certificate& leaf, std::span<const Certificate> intermediates,
                      std::optional<std::int64_t> at_unix_time = std::nullopt) const;

  X509_STORE* native() const noexcept { return store_.get(); }

 private:
  TrustStore(std::shared_ptr<X509_STORE> store, bool partial_chain)
      : store_(std::move(store)), partial_chain_(partial_chain) {}
  std::shared_ptr<X509_STORE> store_;
  bool partial_chain_ = false;
};

}  // namespace rped::crypto
