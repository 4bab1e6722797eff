// PED-initiated mode, pedclient's files: this client's TLS identity and the
// PED servers whose certificates are pinned (docs/pedclient.md §9).
//
//   <state>/tls/pedclient.crt     this client's self-signed P-521 certificate (-mode regen)
//   <state>/tls/pedclient.key     its private key, mode 0600
//   <state>/pedservers/NAME.pem   each pinned PED server's certificate (-pedserver register)
//
// A PED server may complete the TLS handshake with the listener only when it
// presents, byte for byte, one of the pinned certificates; the pins are
// re-read for every connection, so registering or deleting one needs no restart.
//
// Thread-safety: file access only; one writer at a time (atomic replacement).
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "rped/bytes.h"
#include "rped/config/settings.h"
#include "rped/result.h"

namespace rped::pedclient {

inline constexpr std::size_t kMaxPinnedPedservers = 256;

struct PinnedPedserver final {
  std::string name;
  Bytes der;                // the pinned certificate
  std::string fingerprint;  // SHA-256, hex
  std::string subject;
};

std::filesystem::path peer_certificate_path(const std::filesystem::path& state_dir);
std::filesystem::path peer_key_path(const std::filesystem::path& state_dir);
std::filesystem::path pinned_pedserver_path(const std::filesystem::path& state_dir,
                                            const std::string& name);

// Every pinned PED server (a missing directory is none), sorted by name. A
// file that is not a single P-521 certificate is an error naming it.
Result<std::vector<PinnedPedserver>> load_pinned_pedservers(const std::filesystem::path& state_dir);

// The command-line commands; each prints its result and returns the exit status.
int run_regen(const config::Invocation& invocation, const std::filesystem::path& state_dir);
int run_register_pedserver(const config::Invocation& invocation,
                           const std::filesystem::path& state_dir);
int run_list_pedservers(const config::Invocation& invocation,
                        const std::filesystem::path& state_dir);
int run_delete_pedserver(const config::Invocation& invocation,
                         const std::filesystem::path& state_dir);

}  // namespace rped::pedclient
