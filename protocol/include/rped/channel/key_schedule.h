// The channel's key schedule (docs/protocol.md §4): party identifiers,
// FixedInfo, key-confirmation MacData, the device-side derivation and the
// split of the derived keying material (DKM) into MacKey and per-direction
// DEK / DMK / CWK.
//
// Party U is always the PED side and party V always the HSM side: in
// C(1e,1s) U contributes only an ephemeral key and V only its static key; in
// C(2e,2s) both contribute both.
//
// Thread-safety: value types and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "rped/bytes.h"
#include "rped/channel/limits.h"
#include "rped/channel/messages.h"
#include "rped/crypto/ec.h"
#include "rped/result.h"
#include "rped/secret.h"

namespace rped::channel {

enum class Side : std::uint8_t {
  ped = 0x55,  // party U ('U')
  hsm = 0x56,  // party V ('V')
};

inline constexpr std::size_t kPartyIdBytes = 16;  // 8-byte role label || 64-bit serial
Bytes party_id_u(std::uint64_t rpk_serial);       // "RPED-PED" || rpk_serial
Bytes party_id_v(std::uint64_t hsm_serial);       // "RPED-HSM" || hsm_serial

// The public values of one handshake that both sides must agree on.
struct Transcript {
  Scheme scheme = Scheme::full_unified;
  std::uint64_t hsm_serial = 0;
  std::uint64_t rpk_serial = 0;  // 0 in C(1e,1s)
  Bytes ped_ephemeral_xy;        // QeU as X||Y, 132 bytes
  Bytes hsm_ephemeral_data;      // C(2e,2s): QeV as X||Y (132); C(1e,1s): nonce N_V (32)
  // SHA-512 of the HsmHello body as sent / received (64 bytes), in SuppPubInfo:
  // every field the custodian was shown before any key was read (the HSM's
  // label, chain, PKC) is bound to the keys, so a change on the way fails
  // key confirmation (docs/protocol.md §4.3).
  Bytes hello_digest;

  Result<void> check() const;  // field sizes match the scheme
  Bytes id_u() const { return party_id_u(rpk_serial); }
  Bytes id_v() const { return party_id_v(hsm_serial); }
  // AlgorithmID || PartyUInfo || PartyVInfo || SuppPubInfo (L || hello_digest): everything of
  // FixedInfo except SuppPrivInfo (the RPV or password), which only the
  // device holding it appends.
  Bytes fixed_info_public() const;
  Bytes mac_data_u() const;  // provider U: "KC_1_U" or "KC_2_U" || ID_U || ID_V || QeU || EphemData_V
  Bytes mac_data_v() const;  // provider V: "KC_1_V" or "KC_2_V" || ID_V || ID_U || EphemData_V || QeU
};

// What a daemon asks the device that holds the long-term secrets (the HSM for
// the HSM side, the PED for the PED side) to compute. The device's static
// private key and the RPV / password never leave it; it returns the DKM.
struct KeyDerivationRequest {
  Side side = Side::ped;  // whose device answers
  Transcript transcript;
  // The part of Z the daemon computed with its ephemeral key:
  //   C(2e,2s): Ze (66 bytes), either side;
  //   C(1e,1s): Z itself on the PED side (the PED has no static key); empty on the HSM side.
  SecretBytes z_part;
  // The public key the device's static private key agrees with (C(2e,2s):
  // the peer's static key; C(1e,1s) HSM side: the PED's ephemeral key).
  std::optional<crypto::EcPublicKey> device_peer_key;
  // HSM side only: the PED's MacTag. The HSM checks it before releasing any
  // key, so a wrong password yields no value an attacker could test offline.
  Bytes peer_tag;

  // Checks the shape of the request for its scheme and side.
  Result<void> check() const;
};

// The device's part, used by the HSM and PED emulators and by tests:
//   Z = z_part || CDH(device_static, device_peer_key)   (the CDH part when a static key takes part)
//   DKM = one-step KDF SHA-512 (Z, fixed_info_public || supp_priv_info), L = kDkmBytes
// and, on the HSM side, verification of peer_tag (Errc::mac_mismatch on failure).
// supp_priv_info is the 32-byte RPV (C(2e,2s)) or the 8 ASCII digits of the
// one-time password (C(1e,1s)).
Result<SecretBytes> derive_dkm(const KeyDerivationRequest& request, const crypto::EcKeyPair* device_static,
                               ByteView supp_priv_info);

struct DirectionKeys {
  SecretArray<kDekBytes> dek;  // AES-256-CTR data encryption key
  SecretArray<kDmkBytes> dmk;  // HMAC-SHA512 data MAC key
  SecretArray<kCwkBytes> cwk;  // AES-256-KWP CSP wrapping key
};

struct SessionKeys {
  SecretArray<kMacKeyBytes> mac_key;  // key confirmation only; wiped once the tags are done
  DirectionKeys ped_to_hsm;
  DirectionKeys hsm_to_ped;

  // DKM = MacKey || DEK_UV || DMK_UV || CWK_UV || DEK_VU || DMK_VU || CWK_VU.
  static Result<SessionKeys> from_dkm(const SecretBytes& dkm);
};

// Checks that supp_priv_info has the form the scheme requires.
Result<void> check_supp_priv_info(Scheme scheme, ByteView supp_priv_info);

}  // namespace rped::channel
