// PED-initiated (peer-to-peer) mode, the TLS part both daemons share: the
// self-signed P-521 identity each side makes for itself (pedserver -regen,
// pedclient -mode regen), the single pinned certificate each side keeps of
// the other, and the TLS 1.3 settings both ends use (docs/pedserver.md §8,
// docs/pedclient.md §9).
//
// Pinning: the peer's certificate is compared byte for byte with the pinned
// one; no CA, no chain, no name check.
//
// Thread-safety: pure functions over files and OpenSSL objects the caller owns.
#pragma once

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "rped/bytes.h"
#include "rped/crypto/x509.h"
#include "rped/result.h"
#include "rped/secret.h"

namespace rped::service {

// The port a pedclient listens on for PED-initiated connections.
inline constexpr std::uint16_t kDefaultPeerPort = 9697;
inline constexpr int kPeerCertificateValidityDays = 3650;
inline constexpr std::size_t kMaxPeerNameChars = 64;

// A fresh self-signed X.509 v3 identity: P-521 key, ECDSA with SHA-512,
// digitalSignature, serverAuth + clientAuth (either end may be the TLS server).
struct PeerIdentityPem final {
  std::string certificate;
  SecretBytes key;  // PEM private key
};
Result<PeerIdentityPem> make_peer_identity(const std::string& common_name);

// -regen / -mode regen: makes a fresh identity, writes the key (0600) and the
// certificate (their directory private, created if missing), reads the
// certificate back as a check and prints what was made (CN, both files, the
// SHA-256 fingerprint). The caller confirms replacing old files first and
// prints whom to give the certificate to.
Result<void> regenerate_peer_identity(const std::string& common_name,
                                      const std::filesystem::path& certificate_file,
                                      const std::filesystem::path& key_file);

// A PEM file with exactly one certificate whose key is P-521.
Result<crypto::Certificate> load_single_p521_certificate(const std::filesystem::path& file);

// A registered peer's name: 1 to 64 of A-Z a-z 0-9 . _ -, not starting with '.'
// (it names a file). `what` is "an appliance name", "a PED server name".
Result<void> check_peer_name(const std::string& name, std::string_view what);

Bytes certificate_der(X509* certificate);

// TLS 1.3 only, key exchange on P-521 only, ECDSA-SHA512 signatures only, and
// this host's certificate and key from the two files. Peer verification is
// the caller's (it knows what is pinned).
Result<void> configure_peer_tls(SSL_CTX* context, const std::filesystem::path& certificate,
                                const std::filesystem::path& key);

// The last OpenSSL error as text, the queue cleared ("unknown reason" if none).
std::string openssl_reason();

}  // namespace rped::service
