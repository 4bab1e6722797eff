// The emulator's state directory (docs/hsmsim.md §State directory):
//
//   DIR/hsm.state            the HSM's persistent state (hsm_state.h), 0600
//   DIR/hsmsim.lock          held (flock) by the running emulator: one per directory
//   DIR/backend.sock         pedclient's socket (docs/hsm-backend.md), 0600
//   DIR/control.sock         the operator command line's socket, 0600
//   DIR/certificates/        PEM copies for operators and pedserver configuration:
//                            manufacturer-root.pem, hoc.pem, hsm-static.pem, hsm-chain.pem
//   DIR/manufacturer/        the demo manufacturer (unless --manufacturer names another
//                            directory, which several emulated HSMs may share):
//                            manufacturer-root.pem and manufacturer-root.key (raw 66-byte scalar,
//                            0600)
//
// On the first start the HSM is "manufactured": a serial, a HOC issued by the
// manufacturer root, a static P-521 key with its certificate (keyAgreement,
// subject serialNumber = HSM serial). Later starts load and check it.
//
// Thread-safety: one StateDirectory per process; save() is called under the
// HSM's own lock.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "rped/crypto/ec.h"
#include "rped/crypto/x509.h"
#include "rped/hsmsim/hsm_state.h"
#include "rped/result.h"

namespace rped::hsmsim {

inline constexpr std::string_view kDefaultFirmwareVersion = "7.8.4";
inline constexpr std::string_view kDefaultModel = "Luna PCIe HSM 7 (hsmsim)";

struct ManufacturingOptions {
  std::optional<std::uint64_t> serial;  // default: a random 7-digit serial
  std::string firmware_version = std::string(kDefaultFirmwareVersion);
  std::string model = std::string(kDefaultModel);
  std::optional<std::filesystem::path> manufacturer_dir;  // default: DIR/manufacturer
};

// The keys and certificates of manufacturing, loaded and checked.
struct HsmKeys {
  crypto::EcKeyPair hoc_key;
  crypto::EcKeyPair static_key;
  crypto::Certificate root;
  crypto::Certificate hoc;
  crypto::Certificate static_certificate;
};

class StateDirectory final {
 public:
  // Opens (creating with mode 0700) DIR, takes its lock, and loads the state,
  // manufacturing the HSM on the first start. A serial in `options` that
  // differs from an existing state's is an error.
  static Result<StateDirectory> open(const std::filesystem::path& dir,
                                     const ManufacturingOptions& options);

  StateDirectory(StateDirectory&&) noexcept;
  StateDirectory& operator=(StateDirectory&&) noexcept;
  StateDirectory(const StateDirectory&) = delete;
  StateDirectory& operator=(const StateDirectory&) = delete;
  ~StateDirectory();

  const std::filesystem::path& path() const noexcept { return dir_; }
  std::filesystem::path backend_socket() const { return dir_ / "backend.sock"; }
  std::filesystem::path control_socket() const { return dir_ / "control.sock"; }
  static std::filesystem::path control_socket_of(const std::filesystem::path& dir) {
    return dir / "control.sock";
  }

  // The state as loaded (callers own the in-memory copy from then on).
  HsmState take_loaded_state() { return std::move(loaded_); }
  // Checks the manufacturing keys against their certificates and the chain.
  static Result<HsmKeys> load_keys(const Manufacturing& manufacturing);

  // Writes the whole state atomically (temporary file, fsync, rename), mode 0600.
  Result<void> save(const HsmState& state) const;

 private:
  StateDirectory(std::filesystem::path dir, int lock_fd, HsmState loaded)
      : dir_(std::move(dir)), lock_fd_(lock_fd), loaded_(std::move(loaded)) {}
  std::filesystem::path dir_;
  int lock_fd_ = -1;
  HsmState loaded_;
};

// Reads a state file without taking the directory's lock (for `hsmsim show`
// while the emulator runs: the file is replaced atomically, never torn).
Result<HsmState> read_state_file(const std::filesystem::path& dir);

}  // namespace rped::hsmsim
