// HSM key attestation: the public key confirmation (PKC) of docs/attestation.md.
//
// A PKC is a DER CMS ContentInfo (RFC 5652) holding SignedData whose
// encapsulated content, of type id-ct-rpedKeyAttestation, is the DER
// RpedKeyAttestation statement: the attested public key (SPKI), its
// attributes (generated on the HSM, extractable, never extractable, key
// usage), the HSM (serial, model, firmware) and a time. It is signed by the
// HSM's attestation key, whose certificate (extended key usage
// id-kp-rpedKeyAttestation) chains through the HSM origin certificate (HOC) to
// the manufacturer root.
//
// This header is the pure half: encoding and strict decoding of the
// statement, parsing of the bundle, and verification from bytes against
// configured roots. Signing (the HSM's job) lives in sim/hsmsim (pkc_signer.h);
// file I/O in tools/pedtool.
//
// Thread-safety: pure functions over values.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rped/bytes.h"
#include "rped/crypto/x509.h"
#include "rped/result.h"

namespace rped::attestation {

// Our OID arc is a UUID OID (ITU-T X.667 / RFC 4122 §3: 2.25.<UUID as an
// integer>): anyone may allocate one without a registry, and it cannot
// collide. docs/attestation.md §2 lists the arcs.
inline constexpr std::string_view kRpedArcOid = "2.25.131328122886921843798981941798350222858";
inline constexpr std::string_view kKeyAttestationContentTypeOid =
    "2.25.131328122886921843798981941798350222858.1.1";
inline constexpr std::string_view kKeyAttestationEkuOid =
    "2.25.131328122886921843798981941798350222858.1.2";

inline constexpr std::int64_t kStatementVersion = 1;
inline constexpr std::size_t kMaxPkcBytes = 64 * 1024;  // a bundle is ~3 KiB
inline constexpr std::size_t kMaxSerialChars = 20;      // u64 in decimal
inline constexpr std::size_t kMaxModelChars = 64;
inline constexpr std::size_t kMaxFirmwareChars = 32;
inline constexpr std::size_t kMaxLabelChars = 32;  // Luna labels
inline constexpr std::size_t kMaxSpkiBytes = 2048;
// Clock skew allowed between the HSM and the verifier (the attestation time
// may be this far in the verifier's future).
inline constexpr std::int64_t kClockSkewSeconds = 5 * 60;

// X.509 KeyUsage bits (RFC 5280 §4.2.1.3), numbered as there.
enum KeyUsageBit : std::uint16_t {
  kDigitalSignature = 1U << 0,
  kNonRepudiation = 1U << 1,
  kKeyEncipherment = 1U << 2,
  kDataEncipherment = 1U << 3,
  kKeyAgreement = 1U << 4,
  kKeyCertSign = 1U << 5,
  kCrlSign = 1U << 6,
  kEncipherOnly = 1U << 7,
  kDecipherOnly = 1U << 8,
};
inline constexpr std::uint16_t kAllKeyUsageBits = 0x01FF;
std::string key_usage_text(std::uint16_t bits);  // "digitalSignature, keyAgreement"

// PKCS#11 attribute names: the terms HSM users already know.
struct KeyAttributes {
  bool local = false;              // CKA_LOCAL: generated inside this HSM
  bool extractable = true;         // CKA_EXTRACTABLE: may leave the HSM (wrapped)
  bool never_extractable = false;  // CKA_NEVER_EXTRACTABLE: never was extractable
  std::uint16_t key_usage = 0;     // KeyUsageBit set

  friend bool operator==(const KeyAttributes&, const KeyAttributes&) = default;
};

struct HsmIdentity {
  std::string serial;  // decimal digits, as the HOC's subject serialNumber
  std::string model;
  std::string firmware_version;

  friend bool operator==(const HsmIdentity&, const HsmIdentity&) = default;
};

struct KeyAttestation {
  std::int64_t version = kStatementVersion;
  HsmIdentity hsm;
  std::uint32_t handle = 0;
  std::string label;
  Bytes subject_public_key_info;  // DER SPKI of the attested key
  KeyAttributes attributes;
  std::int64_t attested_at = 0;  // Unix time, whole seconds

  friend bool operator==(const KeyAttestation&, const KeyAttestation&) = default;
};

// DER of the statement; refuses values outside the ASN.1 constraints.
Result<Bytes> encode_statement(const KeyAttestation& statement);
// Strict DER: definite minimal lengths, exact tags, no trailing bytes, DER
// BOOLEAN and BIT STRING rules, the constraints of encode_statement.
Result<KeyAttestation> decode_statement(ByteView der);

// The parts of a bundle, decoded but NOT verified (pkc show).
struct PkcContents {
  std::string content_type;                  // eContentType, dotted
  Bytes statement_der;                       // eContent
  std::optional<KeyAttestation> statement;   // when statement_der decodes
  std::string statement_error;               // why not
  std::vector<crypto::Certificate> certificates;  // the SignedData certificate set, in order
  std::optional<std::size_t> signer_index;   // the certificate the SignerInfo names
  std::string digest_algorithm;              // e.g. "SHA512"
  std::string signature_algorithm;           // e.g. "ecdsa-with-SHA512"
  std::optional<std::int64_t> signing_time;  // signed attribute, when present
};
// A DER ContentInfo with SignedData, exactly one SignerInfo and attached
// content; anything else is an error naming what was found.
Result<PkcContents> parse_pkc(ByteView der);

struct PkcCheck {
  std::string name;  // "structure", "signature", "chain", ...
  bool passed = false;
  std::string detail;
};

struct PkcVerification {
  std::vector<PkcCheck> checks;  // in the order of docs/attestation.md §4
  std::optional<KeyAttestation> statement;
  std::string root_subject;   // the anchor the chain reached (when it did)
  std::string root_common_name;
  Bytes hoc_sha256_fingerprint;  // for pinned-fingerprint mode
  bool ok() const noexcept;
};

struct VerifyOptions {
  // DER PKCS#10 request whose public key must be the attested key.
  std::optional<Bytes> csr_der;
  // Validation time; default: now.
  std::optional<std::int64_t> at_unix_time;
  // Pinned-fingerprint mode (docs/attestation.md §6): the HOC is trusted by
  // its SHA-256 fingerprint instead of (or as well as) a root.
  std::optional<Bytes> pinned_hoc_sha256;
};

// Runs every check of docs/attestation.md §4 and reports each; later checks
// that depend on a failed one are reported as failed "not checked: ...".
// `roots` must be self-signed CA certificates; empty roots with a pinned HOC
// is pinned-fingerprint mode.
PkcVerification verify_pkc(ByteView der, std::span<const crypto::Certificate> roots,
                           const VerifyOptions& options = {});

// docs/attestation.md §6: the PKC an HSM offers in HsmIdentity must verify
// (verify_pkc against the same roots, or the pinned HOC) AND attest the key of
// the static-key certificate the channel was built on, for the HSM serial in
// HsmHello. An empty `reason` means accepted.
struct HsmPkcVerdict {
  std::string reason;  // why refused, one short sentence; empty when accepted
  bool ok() const noexcept { return reason.empty(); }
};
HsmPkcVerdict verify_hsm_static_key_pkc(ByteView pkc, const crypto::Certificate& static_key_certificate,
                                        std::uint64_t hsm_serial, std::span<const crypto::Certificate> roots,
                                        const VerifyOptions& options = {});

// "YYYYMMDDHHMMSSZ" <-> Unix time (years 1970..9999).
std::string generalized_time(std::int64_t unix_time);
Result<std::int64_t> parse_generalized_time(std::string_view text);

}  // namespace rped::attestation
