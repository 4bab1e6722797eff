// PED keys as files. A PED key is a USB token holding one secret; the emulator
// keeps each key as one JSON file, <name>.json in the key directory, and a key
// is "inserted" by name.
//
// A key file holds the key's serial and label, the secret type, the keyset id,
// M, N and the split index, and the split WRAPPED with AES-256-KWP (SP 800-38F
// §6.3) under a key derived from the PIN with PBKDF2-HMAC-SHA512 (SP 800-132)
// and a random salt. The unwrap's integrity check is the PIN verifier: the PIN
// itself is never stored, and a key without PIN uses the empty PIN. Orange
// keys also hold the HSM and RPK serials, the RPK private scalar (wrapped the
// same way) and the RPK certificate (public, hex).
//
// Files are written atomically (a temporary file in the same directory, then
// rename) with mode 0600. Malformed files are errors, never crashes.
//
// Thread-safety: KeyDirectory holds only a path; concurrent writers of one key
// each produce a whole file (the last rename wins).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rped/bytes.h"
#include "rped/ped/device_protocol.h"
#include "rped/result.h"
#include "rped/secret.h"

namespace rped::pedsim {

// The RPK material every orange key carries besides its RPV split.
struct RpkMaterial {
  std::uint64_t hsm_serial = 0;
  std::uint64_t rpk_serial = 0;
  SecretBytes rpk_private;  // 66-byte P-521 scalar
  Bytes rpk_certificate;    // DER
};

// What is written on a key, before the PIN seals it.
struct KeyContents {
  ped::KeyType type = ped::KeyType::blue;
  std::string label;
  Bytes keyset_id;  // ped::kKeysetIdBytes
  std::uint8_t m = 1;
  std::uint8_t n = 1;
  std::uint8_t split_index = 1;  // the Shamir x of this split, 1..n
  SecretBytes split;
  std::optional<RpkMaterial> rpk;  // orange keys only
};

// A key file as stored: everything secret is wrapped.
struct PedKeyRecord {
  std::string serial;  // this physical key's serial: differs between a key and its duplicate
  std::string label;
  ped::KeyType type = ped::KeyType::blank;
  // Not blank:
  Bytes keyset_id;
  std::uint8_t m = 0;
  std::uint8_t n = 0;
  std::uint8_t split_index = 0;
  bool has_pin = false;
  Bytes pin_salt;
  std::uint32_t pin_kdf_iterations = 0;
  Bytes wrapped_split;
  // Orange:
  std::uint64_t hsm_serial = 0;
  std::uint64_t rpk_serial = 0;
  Bytes wrapped_rpk_private;
  Bytes rpk_certificate;

  bool is_blank() const noexcept { return type == ped::KeyType::blank; }
};

// The secrets of a key its PIN has opened.
struct UnsealedKey {
  SecretBytes split;
  SecretBytes rpk_private;  // orange keys only; empty otherwise
};

// A fresh random key serial (12 hex digits).
Result<std::string> new_key_serial();

// Seals `contents` under `pin` (ASCII digits; empty for a key without PIN)
// with a fresh salt, for the physical key `key_serial`.
Result<PedKeyRecord> seal_key(const KeyContents& contents, const SecretBytes& pin,
                              std::string key_serial);
// Opens a key with `pin`. A wrong PIN (or a damaged file) is Errc::unwrap_failed.
Result<UnsealedKey> unseal_key(const PedKeyRecord& record, const SecretBytes& pin);
// A blank key with a fresh serial.
Result<PedKeyRecord> blank_key_record(std::string label);
// A duplicate written on the key `target_serial`: the same sealed contents,
// so the copy opens with the same PIN.
PedKeyRecord duplicate_key_record(const PedKeyRecord& original, std::string target_serial);

// The JSON form of a key file, and back. parse checks every field's type and range.
std::string key_record_to_json(const PedKeyRecord& record);
Result<PedKeyRecord> parse_key_record(std::string_view json);
// Reads and parses any key file (pedsim show-key).
Result<PedKeyRecord> load_key_file(const std::filesystem::path& file);

class KeyDirectory final {
 public:
  // The directory must exist.
  static Result<KeyDirectory> open(std::filesystem::path directory);
  // Key names are file stems: 1-64 of [A-Za-z0-9._-], not starting with '.'.
  static Result<void> check_key_name(std::string_view name);

  const std::filesystem::path& path() const noexcept { return directory_; }
  std::filesystem::path file_of(std::string_view name) const;
  bool contains(std::string_view name) const;
  Result<PedKeyRecord> load(std::string_view name) const;
  // Atomic replace: temporary file, fsync, rename, mode 0600.
  Result<void> store(std::string_view name, const PedKeyRecord& record) const;
  // The names of the key files present, sorted.
  std::vector<std::string> names() const;

 private:
  explicit KeyDirectory(std::filesystem::path directory) : directory_(std::move(directory)) {}
  std::filesystem::path directory_;
};

// Writing keysets outside the PED's own flows: pedsim mint-demo-keys and tests.
struct KeysetSpec {
  ped::KeyType type = ped::KeyType::blue;
  std::string name_prefix;  // keys are <prefix>1 .. <prefix>N
  std::uint8_t m = 1;
  std::uint8_t n = 1;
  std::vector<std::string> pins;  // one per key; "" for no PIN; missing entries mean no PIN
  SecretBytes secret;
  std::optional<RpkMaterial> rpk;  // orange keysets
};

struct WrittenKeyset {
  Bytes keyset_id;
  std::vector<std::string> names;
};

// Splits the secret M of N and writes N key files; existing files are replaced.
Result<WrittenKeyset> write_keyset(const KeyDirectory& directory, const KeysetSpec& spec);
Result<void> write_blank_key(const KeyDirectory& directory, std::string_view name);

// "SO / HSM Admin 2 of 5": what a key's label says by default.
std::string default_label(ped::KeyType type, std::uint8_t split_index, std::uint8_t n);

}  // namespace rped::pedsim
