// Signing a PKC (docs/attestation.md §2): what the HSM does with its
// attestation key. Lives in rped_sim_pki next to certificate issuing;
// protocol/ (rped/attestation/pkc.h) only parses and verifies.
//
// Thread-safety: pure functions (OpenSSL objects are created per call).
#pragma once

#include <span>
#include <string_view>

#include "rped/attestation/pkc.h"
#include "rped/bytes.h"
#include "rped/crypto/ec.h"
#include "rped/crypto/x509.h"
#include "rped/result.h"

namespace rped::hsmsim {

// A DER CMS ContentInfo: SignedData, eContentType `content_type_oid`
// (tests forge others), the statement attached, one SignerInfo (ECDSA with
// SHA-512, signed attributes contentType, signingTime, messageDigest), the
// certificates: the attestation certificate and `chain` (the HOC), in DER
// SET OF order.
Result<Bytes> sign_pkc(ByteView statement_der, const crypto::EcKeyPair& attestation_key,
                       const crypto::Certificate& attestation_certificate,
                       std::span<const crypto::Certificate> chain,
                       std::string_view content_type_oid =
                           attestation::kKeyAttestationContentTypeOid);

}  // namespace rped::hsmsim
