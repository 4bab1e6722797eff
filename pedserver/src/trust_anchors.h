// The manufacturer roots the PED side trusts for HSM certificate chains
// (docs/protocol.md §8: "a configured trust anchor, never compiled in").
// They are the PEM files in -trustdir, by default <state dir>/trust/ (every
// CERTIFICATE block of every *.pem file).
//
// Thread-safety: pure functions over the file system.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <vector>

#include "rped/bytes.h"
#include "rped/crypto/x509.h"
#include "rped/result.h"

namespace rped::pedserver {

inline constexpr std::size_t kMaxTrustAnchorFiles = 64;

struct TrustAnchors final {
  crypto::TrustStore store;
  std::vector<crypto::Certificate> roots;
  // Pinned-fingerprint mode (docs/attestation.md §6): <dir>/pinned/<serial>,
  // one line, the HOC's SHA-256 in hex (colons allowed). HSM serial -> digest.
  std::map<std::uint64_t, Bytes> pinned_hoc_sha256;
};

inline constexpr std::size_t kMaxPinFiles = 1024;

// Errors name the directory or the file and say what to do.
Result<TrustAnchors> load_trust_anchors(const std::filesystem::path& directory);

}  // namespace rped::pedserver
