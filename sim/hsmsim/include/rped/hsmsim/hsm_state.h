// The emulated HSM's persistent state: what a Luna HSM keeps in its
// non-volatile memory. One file, `hsm.state` in the state directory, binary
// (docs/hsmsim.md §State directory):
//
//   magic "RPEDHSM\0" (8) || format version u16 (= 1) || sections
//   section: tag u16 || length u32 || body
//
// Each section is one part of the state; a missing section takes its default
// (so a later version can add sections, e.g. the audit log of issue 7, and
// still read older files); an unknown tag or a malformed section is an error
// (the file comes from a newer emulator or was damaged). The file holds
// private keys, the RPV and role verifiers, so it is read into and written
// from wiping buffers only, replaced atomically, and has mode 0600.
//
// Role secrets are not stored: each role keeps a verifier,
//   HMAC-SHA512(key = 32-byte random salt, "RPED hsmsim verifier v1" || purpose || 0x00 || secret)
// which the role's PED key secret must reproduce at login.
//
// Thread-safety: value types; no shared state.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rped/bytes.h"
#include "rped/ped/device_protocol.h"
#include "rped/result.h"
#include "rped/secret.h"

namespace rped::hsmsim {

inline constexpr std::size_t kVerifierSaltBytes = 32;
inline constexpr std::size_t kVerifierBytes = 64;
inline constexpr std::size_t kMaxStateFileBytes = 1 << 20;
inline constexpr std::size_t kMaxLabelBytes = 32;  // Luna labels are at most 32 characters
inline constexpr std::uint16_t kDefaultPedServerPort = 1503;

// The roles of docs/hsmsim.md: the HSM's own (SO, auditor) and the
// application partition's (partition SO, crypto officer, crypto user).
enum class Role : std::uint8_t {
  so = 1,              // HSM Security Officer, blue key
  auditor = 2,         // white key
  partition_so = 3,    // blue key
  crypto_officer = 4,  // black key
  crypto_user = 5,     // black key (gray sticker)
};
std::string_view role_short_name(Role role) noexcept;  // "so", "au", "po", "co", "cu"
std::string_view role_long_name(Role role) noexcept;   // "HSM SO", ...
std::optional<Role> role_from_name(
    std::string_view name) noexcept;  // short names, case-insensitive
ped::KeyType role_key_type(Role role) noexcept;
// Failed logins before the role's policy acts (docs/hsmsim.md §Failed logins):
// SO 3 (then the HSM is zeroized), the others 10.
std::uint32_t role_login_limit(Role role) noexcept;

// A secret that lives on PED keys and that the HSM knows only by its verifier:
// a role's credential, or a cloning domain.
struct PedSecretRecord {
  bool initialized = false;
  Bytes salt;            // kVerifierSaltBytes
  SecretBytes verifier;  // kVerifierBytes
  std::uint8_t m = 0;    // the keyset's quorum, as the PED reported it
  std::uint8_t n = 0;
  Bytes keyset_id;
  std::uint32_t failed_logins = 0;
  std::int64_t locked_until = 0;  // Unix time; kLockedUntilReset: until reset by its initializer

  static constexpr std::int64_t kLockedUntilReset = std::numeric_limits<std::int64_t>::max();

  // A fresh record for `secret`; `purpose` separates the verifiers of
  // different roles and domains ("so", "hsm-domain", ...).
  static Result<PedSecretRecord> create(std::string_view purpose, ByteView secret, std::uint8_t m,
                                        std::uint8_t n, ByteView keyset_id);
  // Constant-time check of a presented secret.
  bool verifies(std::string_view purpose, ByteView secret) const;
  PedSecretRecord clone() const;
};

struct RpvRecord {
  bool initialized = false;
  SecretBytes rpv;               // channel::kRpvBytes
  std::uint64_t rpk_serial = 0;  // of the RPK issued with it
  std::uint8_t m = 0;
  std::uint8_t n = 0;
  std::int64_t created_at = 0;
};

// The one application partition hsmsim emulates.
struct PartitionRecord {
  bool created = false;
  bool initialized = false;
  std::string label;
  PedSecretRecord partition_so;
  PedSecretRecord crypto_officer;
  PedSecretRecord crypto_user;
  PedSecretRecord domain;
};

// Set at the first start ("manufacturing"); kept by zeroize and factory reset.
struct Manufacturing {
  std::uint64_t serial = 0;
  std::string firmware_version;
  std::string model;
  SecretBytes hoc_private;     // 66-byte P-521 scalar of the HOC key
  SecretBytes static_private;  // 66-byte P-521 scalar of the HSM static ECDH key
  Bytes root_certificate;      // DER, the manufacturer root (public; its key is not in the HSM)
  Bytes hoc_certificate;       // DER
  Bytes static_certificate;    // DER, keyAgreement, serialNumber = serial
  // The attestation key that signs PKCs (docs/attestation.md §2), issued by
  // the HOC. Its own state section (0x0007): a state file from before it
  // loads with both empty, and StateDirectory::open adds them.
  SecretBytes attestation_private;  // 66-byte P-521 scalar; empty: not yet made
  Bytes attestation_certificate;    // DER, digitalSignature + id-kp-rpedKeyAttestation
};

// A key pair generated inside the HSM by `key generate` (docs/hsmsim.md §3,
// docs/attestation.md §5): the minimal partition object hsmsim needs to
// attest "any key it generates". P-521 only; never leaves the HSM.
inline constexpr std::uint32_t kStaticKeyHandle = 1;        // the HSM static ECDH key
inline constexpr std::uint32_t kFirstGeneratedHandle = 16;  // `key generate` counts from here
inline constexpr std::size_t kMaxKeyObjects = 64;
struct KeyObject {
  std::uint32_t handle = 0;
  std::string label;            // 0..32 characters
  std::uint16_t key_usage = 0;  // attestation::KeyUsageBit set
  bool extractable = false;     // CKA_EXTRACTABLE as given at generation
  SecretBytes private_scalar;   // 66-byte P-521 scalar
  std::int64_t created_at = 0;  // Unix time
};

struct PedSettings {
  std::string host;  // `ped set -ip`; empty: none
  std::uint16_t port = kDefaultPedServerPort;
};

// HSM policies (docs/hsmsim.md §Policies).
enum class PolicyId : std::uint16_t {
  force_user_pin_change = 21,  // informational here
  allow_remote_ped = 25,       // 0: ped connect and key derivations are refused
};
struct PolicyInfo {
  PolicyId id;
  std::string_view description;
  std::uint32_t default_value;
};
std::span<const PolicyInfo> known_policies() noexcept;

// The audit log's persistent settings (docs/hsmsim.md §Audit log): the log
// secret, created at manufacturing and never changed (zeroize and factory
// reset keep it, so the chain goes on), and `audit config`. The records
// themselves wait for pedclient in DIR/audit.buffer (audit_log.h).
inline constexpr std::uint8_t kAuditOnSuccess = 1;
inline constexpr std::uint8_t kAuditOnFailure = 2;
inline constexpr std::size_t kAuditCategories = 7;  // audit::kCategoryCount
struct AuditSettings {
  SecretBytes secret;  // 32 bytes; empty until the first start creates it
  // Per audit::Category: kAuditOnSuccess | kAuditOnFailure. Unconditional is always both.
  std::array<std::uint8_t, kAuditCategories> categories{3, 3, 3, 0, 0, 3, 3};
  std::uint32_t rotation_interval_s = 86'400;  // for the host (pedclient); 0: never
  std::uint64_t rotation_bytes = 0;            // 0: pedclient's own setting
};

struct HsmState {
  Manufacturing manufacturing;
  bool initialized = false;  // `hsm init` done and not zeroized since
  std::string label;
  PedSecretRecord so;
  PedSecretRecord auditor;
  PedSecretRecord hsm_domain;
  PartitionRecord partition;
  RpvRecord rpv;
  std::map<std::uint16_t, std::uint32_t> policies;  // PolicyId -> value; missing: the default
  PedSettings ped;
  std::vector<KeyObject> objects;  // section 0x0008; destroyed by zeroize
  std::uint32_t next_handle = kFirstGeneratedHandle;
  AuditSettings audit;

  std::uint32_t policy(PolicyId id) const;
  PedSecretRecord& role_record(Role role);
  const PedSecretRecord& role_record(Role role) const;

  // `hsm zeroize`: the HSM's contents and credentials go; the RPV, the
  // auditor, the policies and the PED settings stay (docs/hsmsim.md).
  void zeroize();
  // `hsm factoryreset`: zeroize, and also the RPV, the auditor, the policies
  // and the PED settings. Manufacturing data stays.
  void factory_reset();
  // The partition's contents and credentials go; the partition stays created.
  void zeroize_partition();

  HsmState clone() const;

  Result<SecretBytes> serialize() const;
  static Result<HsmState> parse(ByteView file);
};

}  // namespace rped::hsmsim
