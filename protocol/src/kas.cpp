#include "rped/kas.h"

#include "rped/crypto/symmetric.h"

namespace rped::kas {

std::string_view kc_message_string(KcMessage message) noexcept {
  switch (message) {
    case KcMessage::kc_1_u: return "KC_1_U";
    case KcMessage::kc_1_v: return "KC_1_V";
    case KcMessage::kc_2_u: return "KC_2_U";
    case KcMessage::kc_2_v: return "KC_2_V";
    default: return "";
  }
}

SecretBytes concatenate_z(const SecretBytes& ze, const SecretBytes& zs) {
  SecretBytes z = ze.clone();
  z.append(zs.reveal());
  return z;
}

Result<SecretBytes> full_unified_z(const crypto::EcKeyPair& own_static, const crypto::EcKeyPair& own_ephemeral,
                                   const crypto::EcPublicKey& peer_static, const crypto::EcPublicKey& peer_ephemeral) {
  RPED_TRY_ASSIGN(const SecretBytes ze, own_ephemeral.ecdh(peer_ephemeral));
  RPED_TRY_ASSIGN(const SecretBytes zs, own_static.ecdh(peer_static));
  return concatenate_z(ze, zs);
}

Result<SecretBytes> one_pass_z_party_u(const crypto::EcKeyPair& own_ephemeral, const crypto::EcPublicKey& peer_static) {
  return own_ephemeral.ecdh(peer_static);
}

Result<SecretBytes> one_pass_z_party_v(const crypto::EcKeyPair& own_static, const crypto::EcPublicKey& peer_ephemeral) {
  return own_static.ecdh(peer_ephemeral);
}

Bytes mac_data(KcMessage message, ByteView id_provider, ByteView id_recipient, ByteView ephem_provider,
               ByteView ephem_recipient) {
  const std::string_view text = kc_message_string(message);
  Bytes out(text.begin(), text.end());
  for (const ByteView part : {id_provider, id_recipient, ephem_provider, ephem_recipient}) {
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

Result<Bytes> kc_tag(crypto::Hash hash, ByteView mac_key, ByteView mac_data_bytes, std::size_t tag_bytes) {
  if (tag_bytes == 0 || tag_bytes > crypto::digest_bytes(hash)) {
    return make_error(Errc::invalid_argument, "key-confirmation tag length " + std::to_string(tag_bytes) +
                                                  " is outside [1, " + std::to_string(crypto::digest_bytes(hash)) + "]");
  }
  RPED_TRY_ASSIGN(Bytes tag, crypto::hmac(hash, mac_key, {mac_data_bytes}));
  tag.resize(tag_bytes);
  return tag;
}

Result<void> verify_kc_tag(crypto::Hash hash, ByteView mac_key, ByteView mac_data_bytes, ByteView received_tag) {
  // SP 800-56A r3 §5.9.3: MacTagLen is at least 64 bits, so a short tag can't be guessed.
  if (received_tag.size() < kMinKcTagBytes) {
    return make_error(Errc::mac_mismatch, "key-confirmation MacTag of " + std::to_string(received_tag.size()) +
                                              " bytes is shorter than the 8-byte minimum");
  }
  RPED_TRY_ASSIGN(const Bytes expected, kc_tag(hash, mac_key, mac_data_bytes, received_tag.size()));
  if (!constant_time_equal(expected, received_tag)) {
    return make_error(Errc::mac_mismatch, "key-confirmation MacTag does not verify");
  }
  return {};
}

}  // namespace rped::kas
