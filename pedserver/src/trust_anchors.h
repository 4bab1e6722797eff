// The manufacturer roots the PED side trusts for HSM certificate chains
// (docs/protocol.md §8: "a configured trust anchor, never compiled in").
// They are the PEM files in -trustdir, by default <state dir>/trust/ (every
// CERTIFICATE block of every *.pem file).
//
// Thread-safety: pure functions over the file system.
#pragma once

#include <cstddef>
#include <filesystem>
#include <vector>

#include "rped/crypto/x509.h"
#include "rped/result.h"

namespace rped::pedserver {

inline constexpr std::size_t kMaxTrustAnchorFiles = 64;

struct TrustAnchors final {
  crypto::TrustStore store;
  std::vector<crypto::Certificate> roots;
};

// Errors name the directory or the file and say what to do.
Result<TrustAnchors> load_trust_anchors(const std::filesystem::path& directory);

}  // namespace rped::pedserver
