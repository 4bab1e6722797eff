#include "rped/channel/key_schedule.h"

#include <algorithm>
#include <string>

#include "rped/crypto/kdf.h"
#include "rped/kas.h"

namespace rped::channel {

namespace {

// AlgorithmID (SP 800-56A r3 §5.8.2.1.1): names the scheme, curve and the way
// the DKM is split, so keys derived for one scheme never serve another.
constexpr std::string_view kAlgorithmIdFullUnified = "RPED1/C2e2s/P521";
constexpr std::string_view kAlgorithmIdOnePass = "RPED1/C1e1s/P521";
static_assert(kAlgorithmIdFullUnified.size() == 16 && kAlgorithmIdOnePass.size() == 16);

Bytes party_id(std::string_view label, std::uint64_t serial) {
  Bytes id(label.begin(), label.end());
  append_u64_be(id, serial);
  return id;
}

std::size_t hsm_ephemeral_bytes(Scheme scheme) {
  return scheme == Scheme::full_unified ? crypto::kP521XYBytes : kHsmNonceBytes;
}

template <std::size_t N>
SecretArray<N> take(ByteView dkm, std::size_t& offset) {
  SecretArray<N> out = SecretArray<N>::copy_of(dkm.subspan(offset).first<N>());
  offset += N;
  return out;
}

}  // namespace

Bytes party_id_u(std::uint64_t rpk_serial) { return party_id("RPED-PED", rpk_serial); }
Bytes party_id_v(std::uint64_t hsm_serial) { return party_id("RPED-HSM", hsm_serial); }

Result<void> Transcript::check() const {
  if (ped_ephemeral_xy.size() != crypto::kP521XYBytes) {
    return make_error(Errc::invalid_argument, "transcript: PED ephemeral key must be 132 bytes X||Y");
  }
  if (hello_digest.size() != kHelloDigestBytes) {
    return make_error(Errc::invalid_argument, "transcript: the HsmHello digest must be 64 bytes (SHA-512)");
  }
  if (hsm_ephemeral_data.size() != hsm_ephemeral_bytes(scheme)) {
    return make_error(Errc::invalid_argument, "transcript: HSM ephemeral data has the wrong size for the scheme");
  }
  if (scheme == Scheme::one_pass_password && rpk_serial != 0) {
    return make_error(Errc::invalid_argument, "transcript: C(1e,1s) has no RPK, so the RPK serial must be 0");
  }
  return {};
}

Bytes Transcript::fixed_info_public() const {
  // SP 800-56A r3 §5.8.2.1.1 concatenation format. Every field is fixed-length
  // for a given scheme, so the concatenation is unambiguous without length prefixes.
  const std::string_view algorithm_id =
      scheme == Scheme::full_unified ? kAlgorithmIdFullUnified : kAlgorithmIdOnePass;
  Bytes out(algorithm_id.begin(), algorithm_id.end());
  const Bytes u = id_u();
  const Bytes v = id_v();
  out.insert(out.end(), u.begin(), u.end());                                    // PartyUInfo: ID_U
  out.insert(out.end(), ped_ephemeral_xy.begin(), ped_ephemeral_xy.end());      //   || QeU
  out.insert(out.end(), v.begin(), v.end());                                    // PartyVInfo: ID_V
  out.insert(out.end(), hsm_ephemeral_data.begin(), hsm_ephemeral_data.end());  //   || QeV or N_V
  append_u32_be(out, static_cast<std::uint32_t>(kDkmBytes * 8));                // SuppPubInfo: L in bits
  out.insert(out.end(), hello_digest.begin(), hello_digest.end());              //   || SHA-512(HsmHello)
  return out;
}

Bytes Transcript::mac_data_u() const {
  // SP 800-56A r3 §5.9.1.1 with U as provider. C(2e,2s): bilateral KC_2_U.
  // C(1e,1s): §6.2.2.3 defines only V -> U confirmation (U has no static key to
  // confirm); our U additionally proves knowledge of the password with a tag
  // built exactly like KC_1_U, checked by V before V reveals anything derived
  // from the password (docs/protocol.md §4.5).
  const kas::KcMessage message = scheme == Scheme::full_unified ? kas::KcMessage::kc_2_u : kas::KcMessage::kc_1_u;
  return kas::mac_data(message, id_u(), id_v(), ped_ephemeral_xy, hsm_ephemeral_data);
}

Bytes Transcript::mac_data_v() const {
  const kas::KcMessage message = scheme == Scheme::full_unified ? kas::KcMessage::kc_2_v : kas::KcMessage::kc_1_v;
  return kas::mac_data(message, id_v(), id_u(), hsm_ephemeral_data, ped_ephemeral_xy);
}

Result<void> check_supp_priv_info(Scheme scheme, ByteView supp_priv_info) {
  if (scheme == Scheme::full_unified) {
    if (supp_priv_info.size() != kRpvBytes) {
      return make_error(Errc::invalid_argument, "the RPV must be 32 bytes");
    }
    return {};
  }
  const bool digits = std::all_of(supp_priv_info.begin(), supp_priv_info.end(),
                                  [](std::uint8_t c) { return c >= '0' && c <= '9'; });
  if (supp_priv_info.size() != kPasswordDigits || !digits) {
    return make_error(Errc::invalid_argument, "the one-time password must be exactly 8 decimal digits");
  }
  return {};
}

Result<void> KeyDerivationRequest::check() const {
  RPED_TRY(transcript.check());
  const bool full = transcript.scheme == Scheme::full_unified;
  const bool needs_z_part = full || side == Side::ped;
  const std::size_t want_z = needs_z_part ? crypto::kP521FieldBytes : 0;
  if (z_part.size() != want_z) {
    return make_error(Errc::invalid_argument, "key request: the daemon's part of Z has the wrong size");
  }
  const bool needs_device_key = full || side == Side::hsm;
  if (device_peer_key.has_value() != needs_device_key) {
    return make_error(Errc::invalid_argument, "key request: a device peer key is required exactly when a static key "
                                              "takes part");
  }
  if (device_peer_key && device_peer_key->curve() != crypto::Curve::p521) {
    return make_error(Errc::invalid_argument, "key request: the device peer key must be P-521");
  }
  if ((side == Side::hsm) != (peer_tag.size() == kKcTagBytes) || (side == Side::ped && !peer_tag.empty())) {
    return make_error(Errc::invalid_argument, "key request: the HSM side needs the PED's 64-byte tag, the PED side none");
  }
  return {};
}

Result<SecretBytes> derive_dkm(const KeyDerivationRequest& request, const crypto::EcKeyPair* device_static,
                               ByteView supp_priv_info) {
  RPED_TRY(request.check());
  RPED_TRY(check_supp_priv_info(request.transcript.scheme, supp_priv_info));
  SecretBytes z = request.z_part.clone();
  if (request.device_peer_key) {
    if (device_static == nullptr) {
      return make_error(Errc::invalid_argument, "key request needs the device's static key, and it has none");
    }
    // C(2e,2s): Zs = CDH(own static, peer static). C(1e,1s) on V: Z = CDH(static V, ephemeral U).
    RPED_TRY_ASSIGN(const SecretBytes zs, device_static->ecdh(*request.device_peer_key));
    z.append(zs.reveal());
  }
  // FixedInfo = AlgorithmID || PartyUInfo || PartyVInfo || SuppPubInfo || SuppPrivInfo (SP 800-56A r3 §5.8.2.1).
  SecretBytes fixed_info = SecretBytes::copy_of(request.transcript.fixed_info_public());
  fixed_info.append(supp_priv_info);
  RPED_TRY_ASSIGN(SecretBytes dkm, crypto::one_step_kdf_sha512(z.reveal(), fixed_info.reveal(), kDkmBytes));
  if (request.side == Side::hsm) {
    // MacKey = the first kMacKeyBytes of DKM (SP 800-56A r3 §5.9.1: MacKey comes first).
    const auto verified = kas::verify_kc_tag(crypto::Hash::sha512, dkm.reveal().first(kMacKeyBytes),
                                             request.transcript.mac_data_u(), request.peer_tag);
    if (!verified.ok()) {
      return make_error(Errc::mac_mismatch, "the PED's key-confirmation tag does not verify");
    }
  }
  return dkm;
}

Result<SessionKeys> SessionKeys::from_dkm(const SecretBytes& dkm) {
  if (dkm.size() != kDkmBytes) {
    return make_error(Errc::invalid_length, "DKM must be " + std::to_string(kDkmBytes) + " bytes");
  }
  const ByteView bytes = dkm.reveal();
  std::size_t offset = 0;
  SessionKeys keys{take<kMacKeyBytes>(bytes, offset),
                   {take<kDekBytes>(bytes, offset), take<kDmkBytes>(bytes, offset), take<kCwkBytes>(bytes, offset)},
                   {take<kDekBytes>(bytes, offset), take<kDmkBytes>(bytes, offset), take<kCwkBytes>(bytes, offset)}};
  return keys;
}

}  // namespace rped::channel
