// SP 800-56A Rev.3 key-agreement building blocks, independent of our wire
// protocol: the shared secret Z of each scheme (§6.1.1.2 Full Unified,
// §6.2.2.2 One-Pass Diffie-Hellman), key-confirmation MacData (§5.9.1.1) and
// MacTags (§5.9.1.2). Curve, hash, IDs and FixedInfo are parameters, so NIST's
// ACVP vectors (other curves, other FixedInfo patterns) run through the same
// code as the channel (docs/protocol.md fixes the channel's own choices).
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "rped/bytes.h"
#include "rped/crypto/ec.h"
#include "rped/crypto/kdf.h"
#include "rped/result.h"
#include "rped/secret.h"

namespace rped::kas {

// SP 800-56A r3 §5.9.1.1: the message_string that starts MacData. The digit is
// 1 for unilateral and 2 for bilateral confirmation; the letter is the provider.
enum class KcMessage : std::uint8_t { kc_1_u, kc_1_v, kc_2_u, kc_2_v };
inline constexpr std::size_t kKcMessageBytes = 6;
std::string_view kc_message_string(KcMessage message) noexcept;

// Full Unified C(2e,2s, ECC CDH), §6.1.1.2: Z = Ze || Zs with
// Ze = CDH(own ephemeral, peer ephemeral), Zs = CDH(own static, peer static).
// The order is the same for both parties.
Result<SecretBytes> full_unified_z(const crypto::EcKeyPair& own_static, const crypto::EcKeyPair& own_ephemeral,
                                   const crypto::EcPublicKey& peer_static, const crypto::EcPublicKey& peer_ephemeral);

// Z = Ze || Zs from its two halves when they are computed in different places
// (the static half inside the HSM or the PED, the ephemeral half in a daemon).
SecretBytes concatenate_z(const SecretBytes& ze, const SecretBytes& zs);

// One-Pass Diffie-Hellman C(1e,1s, ECC CDH), §6.2.2.2: Z = CDH(ephemeral of U, static of V).
Result<SecretBytes> one_pass_z_party_u(const crypto::EcKeyPair& own_ephemeral, const crypto::EcPublicKey& peer_static);
Result<SecretBytes> one_pass_z_party_v(const crypto::EcKeyPair& own_static, const crypto::EcPublicKey& peer_ephemeral);

// MacData = message_string || ID_P || ID_R || EphemData_P || EphemData_R (§5.9.1.1),
// P the provider and R the recipient. EphemData is a party's ephemeral public
// key as X||Y, or its nonce, or empty when it has neither.
Bytes mac_data(KcMessage message, ByteView id_provider, ByteView id_recipient, ByteView ephem_provider,
               ByteView ephem_recipient);

// MacTag = T_macLen[HMAC-hash(MacKey, MacData)] (§5.9.1.2, §5.2.1).
Result<Bytes> kc_tag(crypto::Hash hash, ByteView mac_key, ByteView mac_data, std::size_t tag_bytes);

inline constexpr std::size_t kMinKcTagBytes = 8;  // SP 800-56A r3 §5.9.3: at least 64 bits

// Recomputes the tag and compares in constant time; a mismatch, or a tag
// shorter than kMinKcTagBytes, is Errc::mac_mismatch.
Result<void> verify_kc_tag(crypto::Hash hash, ByteView mac_key, ByteView mac_data, ByteView received_tag);

}  // namespace rped::kas
