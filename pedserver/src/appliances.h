// PED-initiated (peer-to-peer) mode, the files: this host's TLS identity and
// the registered HSM appliances, all in the state directory.
//
//   <state>/tls/pedserver.crt    this host's self-signed P-521 certificate (-regen)
//   <state>/tls/pedserver.key    its private key, mode 0600
//   <state>/appliances.json      the registered appliances (-appliance register)
//   <state>/appliances/NAME.pem  each appliance's pinned certificate
//
// The identity, the certificate checks and the TLS settings are shared with
// pedclient (rped/service/peer_tls.h).
//
// Pinning: the appliance's certificate is compared byte for byte with the one
// presented in the TLS handshake; no CA is involved on either side.
//
// Thread-safety: file access only; one writer at a time (atomic replacement).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "rped/config/settings.h"
#include "rped/crypto/x509.h"
#include "rped/result.h"
#include "rped/service/peer_tls.h"

namespace rped::pedserver {

inline constexpr std::uint16_t kDefaultAppliancePort = service::kDefaultPeerPort;
inline constexpr std::size_t kMaxAppliances = 256;
// -mode connect: attempts and exponential back-off between them.
inline constexpr unsigned kMaxDialAttempts = 20;
inline constexpr std::chrono::milliseconds kFirstDialBackoff{500};
inline constexpr std::chrono::milliseconds kMaxDialBackoff{30'000};

struct Appliance final {
  std::string name;
  std::string host;  // IPv4 / IPv6 literal or host name
  std::uint16_t port = kDefaultAppliancePort;
  std::string fingerprint;  // SHA-256 of the pinned certificate, hex
};

std::filesystem::path host_certificate_path(const std::filesystem::path& state_dir);
std::filesystem::path host_key_path(const std::filesystem::path& state_dir);
std::filesystem::path appliance_certificate_path(const std::filesystem::path& state_dir,
                                                 const std::string& name);

// Reads <state>/appliances.json (a missing file is an empty registry).
Result<std::vector<Appliance>> load_appliances(const std::filesystem::path& state_dir);
Result<const Appliance*> find_appliance(const std::vector<Appliance>& appliances,
                                        const std::string& name);

// The command-line commands; each prints its result and returns the exit status.
int run_register_appliance(const config::Invocation& invocation,
                           const std::filesystem::path& state_dir);
int run_list_appliances(const config::Invocation& invocation,
                        const std::filesystem::path& state_dir);
int run_delete_appliance(const config::Invocation& invocation,
                         const std::filesystem::path& state_dir);
int run_regen(const config::Invocation& invocation, const std::filesystem::path& state_dir);

}  // namespace rped::pedserver
