// X.509 issuing for the emulators: the one place in sim/ that builds
// certificates (library rped_sim_pki). protocol/ only validates certificates;
// issuing is what an HSM and a manufacturer do, so it lives with the emulator.
//
// Every certificate is X.509 v3, P-521, ECDSA with SHA-512, with the
// extensions RFC 5280 and OpenSSL's X509_V_FLAG_X509_STRICT require
// (docs/protocol.md §8):
//   manufacturer root  self-signed; critical basicConstraints CA:TRUE; critical keyUsage
//   keyCertSign, cRLSign HOC                issued by the root; CA:TRUE, pathlen 0; keyCertSign,
//   cRLSign key agreement      the HSM static key (issued by the HOC, serialNumber = HSM serial)
//                      and the RPK (issued by the HOC, serialNumber = RPK serial):
//                      CA:FALSE; critical keyUsage keyAgreement
// plus subject and authority key identifiers.
//
// Thread-safety: pure functions (OpenSSL objects are created per call).
#pragma once

#include <cstdint>
#include <string>

#include "rped/crypto/ec.h"
#include "rped/crypto/x509.h"
#include "rped/result.h"

namespace rped::hsmsim {

enum class CertificateRole : std::uint8_t {
  manufacturer_root,  // trust anchor of the demo manufacturer
  hsm_origin,         // HOC: the HSM's own CA, issues its static-key and RPK certificates
  key_agreement,      // an ECDH static key: the HSM static key or an RPK
  attestation,        // the HSM's attestation key (issued by the HOC): signs PKCs
                      // (docs/attestation.md §2): CA:FALSE; critical keyUsage
                      // digitalSignature; extendedKeyUsage id-kp-rpedKeyAttestation
};

struct CertificateProfile {
  CertificateRole role = CertificateRole::key_agreement;
  std::string common_name;
  std::string subject_serial_number;  // X.520 serialNumber (decimal HSM or RPK serial); empty: none
  std::uint64_t serial = 0;  // certificate serial; 0: 63 random bits (RFC 5280 §4.1.2.2: positive)
  std::int64_t not_before = 0;  // Unix time
  std::int64_t not_after = 0;
};

// Unix time of 2049-12-31T23:59:59Z, the last instant UTCTime can encode
// (RFC 5280 §4.1.2.5): the demo PKI's certificates all end there.
inline constexpr std::int64_t kDemoNotAfter = 2524607999;

// A profile valid from a day ago (clock skew) until kDemoNotAfter.
CertificateProfile demo_profile(CertificateRole role, std::string common_name,
                                std::string subject_serial_number = {});

Result<crypto::Certificate> issue_self_signed(const crypto::EcKeyPair& key,
                                              const CertificateProfile& profile);

// `issuer_key` must be the private half of `issuer`'s public key (checked).
Result<crypto::Certificate> issue_certificate(const crypto::EcPublicKey& subject_key,
                                              const crypto::Certificate& issuer,
                                              const crypto::EcKeyPair& issuer_key,
                                              const CertificateProfile& profile);

}  // namespace rped::hsmsim
