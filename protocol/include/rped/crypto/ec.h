// Elliptic-curve keys, full public-key validation, ECC CDH and ECDSA.
//
// The product uses only P-521 (NIST curve secp521r1). P-224 exists solely so
// the NIST KAS structural reference vectors (supplementary/) can exercise the
// key-agreement code, which takes the curve as a parameter.
//
// Every EcPublicKey that exists has passed ECC full public-key validation
// (SP 800-56A r3 §5.6.2.3.3); there is no way to construct an unvalidated one.
//
// Thread-safety: EcPublicKey is an immutable value (copies share the OpenSSL
// object by reference count) and may be used from several threads; an
// EcKeyPair may be used concurrently for ecdh()/sign() (OpenSSL contexts are
// created per call).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "rped/bytes.h"
#include "rped/result.h"
#include "rped/secret.h"

using EVP_PKEY = struct evp_pkey_st;

namespace rped::crypto {

enum class Curve : std::uint8_t { p521, p224 };

// Length in bytes of a field element / coordinate / CDH output (ceil(log2 p / 8)).
std::size_t field_bytes(Curve curve) noexcept;
// Length in bytes of the order n, i.e. of a private scalar.
std::size_t scalar_bytes(Curve curve) noexcept;

inline constexpr std::size_t kP521FieldBytes = 66;
inline constexpr std::size_t kP521UncompressedBytes = 1 + 2 * kP521FieldBytes;  // 0x04 || X || Y
inline constexpr std::size_t kP521XYBytes = 2 * kP521FieldBytes;                 // X || Y

struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* key) const noexcept;
};
// Shared ownership: EVP_PKEY is reference-counted and immutable once built.
using EvpPkeyPtr = std::shared_ptr<EVP_PKEY>;

class EcPublicKey final {
 public:
  // Every refusal — wrong length, compressed or infinity encoding, out-of-range
  // coordinate, off-curve point, unsupported curve — is Errc::invalid_public_key;
  // malformed DER is Errc::invalid_encoding.
  //
  // SEC 1 uncompressed point 0x04 || X || Y with fixed-length coordinates.
  // Compressed and hybrid encodings are refused: the protocol fixes one encoding.
  static Result<EcPublicKey> from_uncompressed(Curve curve, ByteView point);
  // Big-endian affine coordinates, each exactly field_bytes(curve) long.
  static Result<EcPublicKey> from_coordinates(Curve curve, ByteView x, ByteView y);
  // DER SubjectPublicKeyInfo; only named-curve P-521 / P-224 keys are accepted.
  static Result<EcPublicKey> from_spki_der(ByteView der);
  // A key OpenSSL already decoded (e.g. from a certificate): the same checks
  // as from_spki_der without re-encoding it.
  static Result<EcPublicKey> from_decoded(const EVP_PKEY* key);

  Curve curve() const noexcept { return curve_; }
  Bytes uncompressed() const;  // 0x04 || X || Y
  Bytes xy() const;            // X || Y, the SP 800-56A FixedInfo / MacData encoding
  Bytes spki_der() const;

  friend bool operator==(const EcPublicKey& a, const EcPublicKey& b);

  // For code inside protocol/ that calls OpenSSL directly.
  EVP_PKEY* native() const noexcept { return key_.get(); }

 private:
  EcPublicKey(Curve curve, EvpPkeyPtr key) : curve_(curve), key_(std::move(key)) {}
  friend class EcKeyPair;
  Curve curve_;
  EvpPkeyPtr key_;
  Bytes point_;  // the validated uncompressed encoding, kept for FixedInfo/MacData
};

// A private key with its validated public key. Move-only; the OpenSSL object
// is freed with EVP_PKEY_free, which cleanses the private scalar.
class EcKeyPair final {
 public:
  // Generates a key pair (SP 800-56A r3 §5.6.1.2, via the OpenSSL default DRBG)
  // and runs the pair-wise consistency test.
  static Result<EcKeyPair> generate(Curve curve = Curve::p521);
  // From a big-endian private scalar d (leading zero bytes allowed), 1 <= d <= n-1.
  static Result<EcKeyPair> from_private(Curve curve, ByteView d);
  // As above, and the given public key must equal d*G (SP 800-56A r3 §5.6.2.1.4,
  // pair-wise consistency); a mismatch is invalid_private_key.
  static Result<EcKeyPair> from_private_and_public(Curve curve, ByteView d, const EcPublicKey& q);

  EcKeyPair(EcKeyPair&&) noexcept = default;
  EcKeyPair& operator=(EcKeyPair&&) noexcept = default;
  EcKeyPair(const EcKeyPair&) = delete;
  EcKeyPair& operator=(const EcKeyPair&) = delete;
  ~EcKeyPair() = default;

  Curve curve() const noexcept { return public_.curve(); }
  const EcPublicKey& public_key() const noexcept { return public_; }

  // ECC CDH primitive, SP 800-56A r3 §5.7.1.2: Z = x-coordinate of d * Q_peer
  // as a fixed-length field element. The peer key must be on the same curve.
  // An all-zero or failed result is key_agreement_failed.
  Result<SecretBytes> ecdh(const EcPublicKey& peer) const;

  // ECDSA with SHA-512, DER signature (used to issue certificates and PKCs).
  Result<Bytes> sign_sha512(ByteView message) const;

  // The big-endian scalar, fixed-length, for storing a key where it lives
  // (e.g. the RPK private key on an orange PED key). Never sent anywhere.
  Result<SecretBytes> export_private_scalar() const;

  EVP_PKEY* native() const noexcept { return key_.get(); }

 private:
  EcKeyPair(EvpPkeyPtr key, EcPublicKey pub) : key_(std::move(key)), public_(std::move(pub)) {}
  EvpPkeyPtr key_;
  EcPublicKey public_;
};

// ECDSA verification with SHA-512 (FIPS 186-5). DER signatures must be strict
// DER; P1363 signatures are r || s, each field_bytes long.
Result<void> ecdsa_verify_sha512_der(const EcPublicKey& key, ByteView message, ByteView signature);
Result<void> ecdsa_verify_sha512_p1363(const EcPublicKey& key, ByteView message, ByteView signature);

}  // namespace rped::crypto
