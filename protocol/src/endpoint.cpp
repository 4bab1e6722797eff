#include "rped/channel/endpoint.h"

#include <algorithm>
#include <string>

#include "rped/crypto/kdf.h"
#include "rped/crypto/symmetric.h"
#include "rped/kas.h"
#include "rped/wire.h"

namespace rped::channel {

std::string_view state_name(State state) noexcept {
  switch (state) {
    case State::hsm_start: return "hsm_start";
    case State::hsm_await_key_share: return "hsm_await_key_share";
    case State::hsm_await_device: return "hsm_await_device";
    case State::ped_await_hello: return "ped_await_hello";
    case State::ped_await_identity: return "ped_await_identity";
    case State::ped_await_rpk: return "ped_await_rpk";
    case State::ped_await_device: return "ped_await_device";
    case State::ped_await_confirm: return "ped_await_confirm";
    case State::established: return "established";
    case State::closed: return "closed";
    default: return "unknown";
  }
}

namespace {

EntropySource with_defaults(EntropySource entropy) {
  if (!entropy.ephemeral_key) {
    entropy.ephemeral_key = [] { return crypto::EcKeyPair::generate(crypto::Curve::p521); };
  }
  if (!entropy.nonce) {
    entropy.nonce = [](std::span<std::uint8_t> out) { return crypto::random_bytes(out); };
  }
  return entropy;
}

// A local failure: the code to report and a detail for the log.
struct Failure {
  AlertCode code;
  std::string detail;
};

Failure failure(AlertCode code, const Error& error) { return Failure{code, error.message}; }

// "FE57..E9BC": the first and last two bytes of a fingerprint, as the PED shows it.
std::string fingerprint_text(ByteView fingerprint) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string text;
  const auto put = [&text](std::uint8_t b) {
    text += kHex[b >> 4];
    text += kHex[b & 0x0F];
  };
  if (fingerprint.size() < 4) {
    return "?";
  }
  put(fingerprint[0]);
  put(fingerprint[1]);
  text += "..";
  put(fingerprint[fingerprint.size() - 2]);
  put(fingerprint[fingerprint.size() - 1]);
  return text;
}

// The common name of the anchor a verified chain reached: the issuer of its
// last certificate (the root itself when the chain carries it).
std::string anchor_name(const crypto::Certificate& last) {
  const std::string issuer = last.issuer();
  const std::size_t at = issuer.find("CN=");
  if (at == std::string::npos) {
    return issuer;
  }
  std::string cn;
  for (std::size_t i = at + 3; i < issuer.size(); ++i) {
    if (issuer[i] == '\\' && i + 1 < issuer.size()) {
      cn += issuer[++i];
    } else if (issuer[i] == ',' || issuer[i] == '+') {
      break;
    } else {
      cn += issuer[i];
    }
  }
  return cn;
}

}  // namespace

struct Endpoint::Impl {
  using Handler = std::optional<Failure> (Impl::*)(ByteView header, ByteView body, Output& out);
  struct Transition {
    State state;
    MessageType type;
    Handler handler;
  };
  static const Transition kTransitions[4];

  Side side;
  State state;
  std::optional<HsmEndpointConfig> hsm_config;
  std::optional<PedEndpointConfig> ped_config;
  EntropySource entropy;

  Bytes inbound;  // received bytes not yet forming a whole frame
  std::optional<crypto::EcKeyPair> ephemeral;
  Transcript transcript;
  std::string peer_subject;
  std::string verified_by;  // PED side: root CN or pinned HOC
  Bytes hoc_sha256;         // PED side
  std::optional<crypto::Certificate> hsm_certificate;  // PED side, once verified
  std::optional<crypto::EcPublicKey> hsm_static_key;  // PED side: from the HSM's certificate
  std::optional<crypto::EcPublicKey> rpk_static_key;  // HSM side: from the RPK certificate
  std::optional<HsmHello> hello_received;             // PED side
  std::uint64_t stated_hsm_serial = 0;                // PED side: from a parsed HsmHello
  std::optional<crypto::EcPublicKey> hsm_ephemeral_key;  // PED side, C(2e,2s): QeV, validated
  // PED side: configured or read from the orange key. HSM side: the one the PED presented.
  std::optional<crypto::Certificate> rpk_certificate;
  std::uint64_t rpk_serial = 0;
  std::optional<SessionKeys> keys;
  bool mac_key_live = false;
  bool peer_proven = false;  // the peer has shown it holds the session keys
  std::optional<RecordSealer> sealer;
  std::optional<RecordOpener> opener;

  // --- common -------------------------------------------------------------

  void wipe() {
    inbound.clear();
    ephemeral.reset();
    keys.reset();
    mac_key_live = false;
    sealer.reset();
    opener.reset();
  }

  void fail(const Failure& f, Output& out) {
    if (state == State::closed) {
      return;
    }
    // After establishment the close is authenticated; before, a clear Alert.
    bool sent = false;
    if (sealer) {
      Writer w;
      w.u16(static_cast<std::uint16_t>(f.code));
      auto sealed = sealer->seal(ContentType::close, w.data());
      if (sealed.ok()) {
        const Bytes& frame_bytes = sealed.value();
        out.send.insert(out.send.end(), frame_bytes.begin(), frame_bytes.end());
        sent = true;
      }
    }
    if (!sent) {
      const Bytes alert = frame(MessageType::alert, Alert{f.code}.serialize());
      out.send.insert(out.send.end(), alert.begin(), alert.end());
    }
    closed_by(f.code, false, f.detail, out);
  }

  void closed_by(AlertCode code, bool by_peer, std::string detail, Output& out) {
    wipe();
    state = State::closed;
    out.events.emplace_back(ClosedEvent{code, by_peer, std::move(detail)});
  }

  void append_frame(MessageType type, ByteView body, Output& out) {
    const Bytes f = frame(type, body);
    out.send.insert(out.send.end(), f.begin(), f.end());
  }

  void receive(ByteView bytes, Output& out) {
    if (state == State::closed) {
      return;
    }
    inbound.insert(inbound.end(), bytes.begin(), bytes.end());
    std::size_t consumed = 0;
    while (state != State::closed && inbound.size() - consumed >= kFrameHeaderBytes) {
      const ByteView rest = ByteView(inbound).subspan(consumed);
      const FrameHeader header = FrameHeader::parse(rest.first<kFrameHeaderBytes>());
      if (header.version != kProtocolVersion) {
        fail({AlertCode::unsupported_version,
              "frame version " + std::to_string(header.version) + "; this side speaks version 1"},
             out);
        return;
      }
      // Checked on the header alone, so nobody makes us buffer an oversized frame.
      if (header.body_length > kMaxFrameBody) {
        fail({AlertCode::frame_too_large, "frame body of " + std::to_string(header.body_length) +
                                              " bytes; the maximum is " + std::to_string(kMaxFrameBody)},
             out);
        return;
      }
      if (rest.size() < kFrameHeaderBytes + header.body_length) {
        break;
      }
      consumed += kFrameHeaderBytes + header.body_length;
      dispatch(header, rest.first(kFrameHeaderBytes), rest.subspan(kFrameHeaderBytes, header.body_length), out);
    }
    if (state == State::closed) {
      return;
    }
    inbound.erase(inbound.begin(), inbound.begin() + static_cast<std::ptrdiff_t>(consumed));
  }

  void dispatch(const FrameHeader& header, ByteView header_bytes, ByteView body, Output& out) {
    // A clear Alert is unauthenticated. Until the peer has proven it holds the
    // session keys it is how the peer reports a failure (the PED's tag_V check
    // fails after the HSM is already established), so it ends the session with
    // its code. Once the peer has proven its keys, its failures arrive sealed:
    // a clear Alert then is somebody else's, and its code is not believed.
    if (header.type == static_cast<std::uint8_t>(MessageType::alert)) {
      if (peer_proven) {
        fail({AlertCode::unexpected_message, "a clear Alert after the peer proved its keys; its code is not believed"},
             out);
        return;
      }
      auto alert = Alert::parse(body);
      if (!alert.ok()) {
        fail(failure(AlertCode::decode_error, alert.error()), out);
        return;
      }
      closed_by(alert->code, true, "peer sent alert " + std::string(alert_name(alert->code)), out);
      return;
    }
    for (const Transition& t : kTransitions) {
      if (t.state == state && static_cast<std::uint8_t>(t.type) == header.type) {
        const std::optional<Failure> f = (this->*t.handler)(header_bytes, body, out);
        if (f) {
          fail(*f, out);
        }
        return;
      }
    }
    fail({AlertCode::unexpected_message, std::string("message ") + std::string(message_type_name(header.type)) +
                                             " is not allowed in state " + std::string(state_name(state))},
         out);
  }

  Result<crypto::EcPublicKey> peer_point(ByteView point) {
    return crypto::EcPublicKey::from_uncompressed(crypto::Curve::p521, point);
  }

  // --- HSM side -------------------------------------------------------------

  std::optional<Failure> hsm_start(Output& out) {
    const HsmEndpointConfig& cfg = *hsm_config;
    HsmHello hello;
    hello.scheme = cfg.scheme;
    hello.hsm_serial = cfg.hsm_serial;
    if (cfg.scheme == Scheme::full_unified) {
      auto key = entropy.ephemeral_key();
      if (!key.ok()) {
        return failure(AlertCode::internal_error, key.error());
      }
      ephemeral.emplace(std::move(key).value());
      hello.ephemeral_data = ephemeral->public_key().uncompressed();
      transcript.hsm_ephemeral_data = ephemeral->public_key().xy();
    } else {
      hello.ephemeral_data.resize(kHsmNonceBytes);
      auto filled = entropy.nonce(hello.ephemeral_data);
      if (!filled.ok()) {
        return failure(AlertCode::internal_error, filled.error());
      }
      transcript.hsm_ephemeral_data = hello.ephemeral_data;
    }
    for (const crypto::Certificate& cert : cfg.certificate_chain) {
      hello.certificate_chain.push_back(cert.der());
    }
    hello.identity = cfg.identity;
    auto body = hello.serialize();
    if (!body.ok()) {
      return failure(AlertCode::internal_error, body.error());
    }
    auto digest = crypto::digest(crypto::Hash::sha512, body.value());
    if (!digest.ok()) {
      return failure(AlertCode::internal_error, digest.error());
    }
    transcript.hello_digest = std::move(digest).value();
    transcript.scheme = cfg.scheme;
    transcript.hsm_serial = cfg.hsm_serial;
    append_frame(MessageType::hsm_hello, body.value(), out);
    state = State::hsm_await_key_share;
    return std::nullopt;
  }

  std::optional<Failure> on_ped_key_share(ByteView, ByteView body, Output& out) {
    const HsmEndpointConfig& cfg = *hsm_config;
    auto share = PedKeyShare::parse(body);
    if (!share.ok()) {
      return failure(AlertCode::decode_error, share.error());
    }
    // SP 800-56A r3 §5.6.2.3.3: full validation of the PED's ephemeral key.
    auto qe_u = peer_point(share->ped_ephemeral);
    if (!qe_u.ok()) {
      return failure(AlertCode::invalid_public_key, qe_u.error());
    }
    KeyDerivationRequest request;
    request.side = Side::hsm;
    if (cfg.scheme == Scheme::full_unified) {
      // QeU = QeV means our own HsmHello came back reflected (or broken
      // randomness); SP 800-56A r3 assumes distinct parties, so refuse it.
      if (qe_u.value() == ephemeral->public_key()) {
        return Failure{AlertCode::invalid_public_key, "the PED's ephemeral key equals this side's own"};
      }
      if (auto f = check_rpk_certificate(share.value())) {
        return f;
      }
      auto ze = ephemeral->ecdh(qe_u.value());
      if (!ze.ok()) {
        return failure(AlertCode::invalid_public_key, ze.error());
      }
      request.z_part = std::move(ze).value();
      request.device_peer_key = *rpk_static_key;
    } else {
      if (share->rpk_serial != 0 || !share->rpk_certificate.empty()) {
        return Failure{AlertCode::decode_error, "PedKeyShare in C(1e,1s) must carry no RPK serial or certificate"};
      }
      request.device_peer_key = qe_u.value();
    }
    transcript.rpk_serial = share->rpk_serial;
    transcript.ped_ephemeral_xy = qe_u->xy();
    request.transcript = transcript;
    request.peer_tag = share->tag_u;
    state = State::hsm_await_device;
    out.events.emplace_back(KeyRequestEvent{std::move(request), rpk_certificate});
    return std::nullopt;
  }

  // The RPK certificate must have been issued by this HSM's HOC, allow key
  // agreement, name the RPK serial, and carry a P-521 key (stored in rpk_static_key).
  std::optional<Failure> check_rpk_certificate(const PedKeyShare& share) {
    const HsmEndpointConfig& cfg = *hsm_config;
    auto cert = crypto::Certificate::from_der(share.rpk_certificate);
    if (!cert.ok()) {
      return failure(AlertCode::bad_certificate, cert.error());
    }
    auto store = crypto::TrustStore::from_issuer(cfg.certificate_chain.at(1));
    if (!store.ok()) {
      return failure(AlertCode::internal_error, store.error());
    }
    auto verified = store->verify(cert.value(), {}, cfg.verification_time);
    if (!verified.ok()) {
      return Failure{AlertCode::certificate_untrusted,
                     "RPK certificate was not issued by this HSM's HOC: " + verified.error().message};
    }
    if (!cert->allows_key_agreement()) {
      return Failure{AlertCode::bad_certificate, "RPK certificate does not allow key agreement"};
    }
    if (cert->subject_serial_number() != std::to_string(share.rpk_serial)) {
      return Failure{AlertCode::bad_certificate, "RPK certificate serialNumber '" + cert->subject_serial_number() +
                                                     "' does not match RPK serial " + std::to_string(share.rpk_serial)};
    }
    auto key = cert->ec_public_key();
    if (!key.ok() || key->curve() != crypto::Curve::p521) {
      return Failure{AlertCode::bad_certificate, "RPK certificate key is not a valid P-521 key"};
    }
    // The HOC also issued this HSM's own static-key certificate (keyAgreement,
    // serialNumber); it must never pass as an RPK.
    if (auto own = cfg.certificate_chain.front().ec_public_key(); own.ok() && own.value() == key.value()) {
      return Failure{AlertCode::bad_certificate, "the RPK certificate carries this HSM's own static key"};
    }
    peer_subject = cert->subject();
    rpk_static_key = std::move(key).value();
    rpk_certificate = std::move(cert).value();  // handed to the HSM with the key request
    return std::nullopt;
  }

  std::optional<Failure> hsm_keys_ready(SecretBytes dkm, Output& out) {
    auto parsed = SessionKeys::from_dkm(dkm);
    if (!parsed.ok()) {
      return failure(AlertCode::device_failure, parsed.error());
    }
    keys.emplace(std::move(parsed).value());
    mac_key_live = true;
    auto tag = kas::kc_tag(crypto::Hash::sha512, keys->mac_key.reveal(), transcript.mac_data_v(), kKcTagBytes);
    if (!tag.ok()) {
      return failure(AlertCode::internal_error, tag.error());
    }
    // SP 800-56A r3 §5.9.1: MacKey serves key confirmation only; destroy it now.
    keys->mac_key.wipe();
    mac_key_live = false;
    auto body = HsmConfirm{std::move(tag).value()}.serialize();
    if (!body.ok()) {
      return failure(AlertCode::internal_error, body.error());
    }
    append_frame(MessageType::hsm_confirm, body.value(), out);
    return establish(Side::hsm, out);
  }

  // --- PED side -------------------------------------------------------------

  std::optional<Failure> on_hsm_hello(ByteView, ByteView body, Output& out) {
    const PedEndpointConfig& cfg = *ped_config;
    auto hello = HsmHello::parse(body);
    if (!hello.ok()) {
      return failure(AlertCode::decode_error, hello.error());
    }
    stated_hsm_serial = hello->hsm_serial;
    if (hello->scheme == Scheme::one_pass_password && !cfg.allow_password_mode) {
      return Failure{AlertCode::scheme_not_allowed,
                     "the HSM asked for C(1e,1s) password mode, which the custodian did not select"};
    }
    if (hello->scheme == Scheme::full_unified && !cfg.rpk_certificate && !cfg.request_rpk_from_device) {
      return Failure{AlertCode::scheme_not_allowed, "the HSM asked for C(2e,2s) and this PED has no RPK"};
    }
    if (auto f = check_hsm_chain(hello.value())) {
      return f;
    }
    if (hello->scheme == Scheme::full_unified) {
      // SP 800-56A r3 §5.6.2.3.3, before anything else is asked of the custodian.
      auto qe_v = peer_point(hello->ephemeral_data);
      if (!qe_v.ok()) {
        return failure(AlertCode::invalid_public_key, qe_v.error());
      }
      hsm_ephemeral_key = std::move(qe_v).value();
    }
    auto digest = crypto::digest(crypto::Hash::sha512, body);
    if (!digest.ok()) {
      return failure(AlertCode::internal_error, digest.error());
    }
    transcript.hello_digest = std::move(digest).value();
    hello_received.emplace(std::move(hello).value());
    // docs/attestation.md §6: nothing is asked of the PED's keys (orange key,
    // password) until the custodian has confirmed this HSM.
    state = State::ped_await_identity;
    // The identity is not needed again here: the event takes it.
    out.events.emplace_back(IdentityEvent{hello_received->scheme, hello_received->hsm_serial,
                                          std::move(hello_received->identity), verified_by, hoc_sha256,
                                          hsm_certificate});
    return std::nullopt;
  }

  std::optional<Failure> ped_identity_confirmed(Output& out) {
    if (hello_received->scheme == Scheme::full_unified && !ped_config->rpk_certificate) {
      state = State::ped_await_rpk;
      out.events.emplace_back(RpkRequestEvent{hello_received->hsm_serial});
      return std::nullopt;
    }
    return ped_start_key_agreement(out);
  }

  std::optional<Failure> ped_rpk_ready(RpkInfo rpk, Output& out) {
    if (rpk.serial == 0) {
      return Failure{AlertCode::device_failure, "the orange key reported RPK serial 0"};
    }
    rpk_certificate = std::move(rpk.certificate);
    rpk_serial = rpk.serial;
    return ped_start_key_agreement(out);
  }

  // PED side: QeU, Ze or Z, and the key-derivation request to the PED.
  std::optional<Failure> ped_start_key_agreement(Output& out) {
    const HsmHello* hello = &*hello_received;
    auto key = entropy.ephemeral_key();
    if (!key.ok()) {
      return failure(AlertCode::internal_error, key.error());
    }
    ephemeral.emplace(std::move(key).value());
    transcript.scheme = hello->scheme;
    transcript.hsm_serial = hello->hsm_serial;
    transcript.ped_ephemeral_xy = ephemeral->public_key().xy();
    KeyDerivationRequest request;
    request.side = Side::ped;
    if (hello->scheme == Scheme::full_unified) {
      const crypto::EcPublicKey& qe_v = *hsm_ephemeral_key;
      if (qe_v == ephemeral->public_key()) {
        return Failure{AlertCode::invalid_public_key, "the HSM's ephemeral key equals this side's own"};
      }
      auto ze = ephemeral->ecdh(qe_v);
      if (!ze.ok()) {
        return failure(AlertCode::invalid_public_key, ze.error());
      }
      transcript.rpk_serial = rpk_serial;
      transcript.hsm_ephemeral_data = qe_v.xy();
      request.z_part = std::move(ze).value();
      request.device_peer_key = *hsm_static_key;
    } else {
      // C(1e,1s): Z = CDH(ephemeral U, static V), all of it computable here.
      auto z = ephemeral->ecdh(*hsm_static_key);
      if (!z.ok()) {
        return failure(AlertCode::invalid_public_key, z.error());
      }
      transcript.rpk_serial = 0;
      transcript.hsm_ephemeral_data = hello->ephemeral_data;
      request.z_part = std::move(z).value();
    }
    request.transcript = transcript;
    state = State::ped_await_device;
    out.events.emplace_back(KeyRequestEvent{std::move(request), std::nullopt});
    return std::nullopt;
  }

  // HSM static-key certificate -> HOC [-> intermediate] -> manufacturer root;
  // keyAgreement; serialNumber = the HSM serial in HsmHello; a P-521 key.
  std::optional<Failure> check_hsm_chain(const HsmHello& hello) {
    const PedEndpointConfig& cfg = *ped_config;
    std::vector<crypto::Certificate> chain;
    for (const Bytes& der : hello.certificate_chain) {
      auto cert = crypto::Certificate::from_der(der);
      if (!cert.ok()) {
        return failure(AlertCode::bad_certificate, cert.error());
      }
      chain.push_back(std::move(cert).value());
    }
    if (!cfg.manufacturer_roots) {
      return Failure{AlertCode::certificate_untrusted, "no manufacturer root is configured"};
    }
    const crypto::Certificate& leaf = chain.front();
    const crypto::Certificate& hoc = chain.at(1);
    hoc_sha256 = hoc.sha256_fingerprint();
    auto verified = cfg.manufacturer_roots->verify(leaf, std::span(chain).subspan(1), cfg.verification_time);
    const auto pin = cfg.pinned_hoc_sha256.find(hello.hsm_serial);
    if (pin != cfg.pinned_hoc_sha256.end()) {
      // docs/attestation.md §6 pinned-fingerprint mode: the pin must hold; the
      // root need not be held (that is what the pin is for).
      if (pin->second != hoc_sha256) {
        return Failure{AlertCode::certificate_untrusted, "the HOC's SHA-256 " + fingerprint_text(hoc_sha256) +
                                                             " is not the one pinned for HSM " +
                                                             std::to_string(hello.hsm_serial)};
      }
      if (verified.ok()) {
        verified_by = anchor_name(chain.back()) + " + pin";
      } else {
        auto issuer = crypto::TrustStore::from_issuer(hoc);
        if (!issuer.ok()) {
          return failure(AlertCode::bad_certificate, issuer.error());
        }
        auto by_pin = issuer->verify(leaf, {}, cfg.verification_time);
        if (!by_pin.ok()) {
          return failure(AlertCode::certificate_untrusted, by_pin.error());
        }
        verified_by = "pinned HOC " + fingerprint_text(hoc_sha256);
      }
    } else {
      if (!verified.ok()) {
        return failure(AlertCode::certificate_untrusted, verified.error());
      }
      verified_by = anchor_name(chain.back());
    }
    if (!leaf.allows_key_agreement()) {
      return Failure{AlertCode::bad_certificate, "HSM static-key certificate does not allow key agreement"};
    }
    if (leaf.subject_serial_number() != std::to_string(hello.hsm_serial)) {
      return Failure{AlertCode::bad_certificate, "HSM certificate serialNumber '" + leaf.subject_serial_number() +
                                                     "' does not match HSM serial " +
                                                     std::to_string(hello.hsm_serial)};
    }
    auto key = leaf.ec_public_key();
    if (!key.ok() || key->curve() != crypto::Curve::p521) {
      return Failure{AlertCode::bad_certificate, "HSM static-key certificate key is not a valid P-521 key"};
    }
    hsm_static_key = std::move(key).value();
    peer_subject = leaf.subject();
    hsm_certificate = leaf;
    return std::nullopt;
  }

  std::optional<Failure> ped_keys_ready(SecretBytes dkm, Output& out) {
    auto parsed = SessionKeys::from_dkm(dkm);
    if (!parsed.ok()) {
      return failure(AlertCode::device_failure, parsed.error());
    }
    keys.emplace(std::move(parsed).value());
    mac_key_live = true;
    auto tag = kas::kc_tag(crypto::Hash::sha512, keys->mac_key.reveal(), transcript.mac_data_u(), kKcTagBytes);
    if (!tag.ok()) {
      return failure(AlertCode::internal_error, tag.error());
    }
    PedKeyShare share;
    share.ped_ephemeral = ephemeral->public_key().uncompressed();
    share.tag_u = std::move(tag).value();
    if (transcript.scheme == Scheme::full_unified) {
      share.rpk_serial = rpk_serial;
      share.rpk_certificate = rpk_certificate->der();
    }
    auto body = share.serialize();
    if (!body.ok()) {
      return failure(AlertCode::internal_error, body.error());
    }
    append_frame(MessageType::ped_key_share, body.value(), out);
    // The ephemeral private key has done its work (Ze / Z are computed).
    ephemeral.reset();
    state = State::ped_await_confirm;
    return std::nullopt;
  }

  std::optional<Failure> on_hsm_confirm(ByteView, ByteView body, Output& out) {
    auto confirm = HsmConfirm::parse(body);
    if (!confirm.ok()) {
      return failure(AlertCode::decode_error, confirm.error());
    }
    auto verified =
        kas::verify_kc_tag(crypto::Hash::sha512, keys->mac_key.reveal(), transcript.mac_data_v(), confirm->tag_v);
    keys->mac_key.wipe();
    mac_key_live = false;
    if (!verified.ok()) {
      return Failure{AlertCode::authentication_failed, "the HSM's key-confirmation tag does not verify"};
    }
    peer_proven = true;  // tag_V verified: the HSM holds the keys
    return establish(Side::ped, out);
  }

  // --- both -------------------------------------------------------------------

  // A locally originated record (data or ping). A payload that is too long is
  // the caller's error; running out of sequence numbers ends the session.
  Result<Output> seal_outgoing(ContentType type, ByteView payload) {
    if (state != State::established) {
      return make_error(Errc::invalid_argument, "cannot send: the channel is not established");
    }
    Output out;
    auto sealed = sealer->seal(type, payload);
    if (!sealed.ok()) {
      if (sealed.error().code == Errc::invalid_length) {
        return std::move(sealed).error();
      }
      fail(failure(AlertCode::sequence_exhausted, sealed.error()), out);
      return out;
    }
    out.send = std::move(sealed).value();
    return out;
  }

  std::optional<Failure> establish(Side self, Output& out) {
    const DirectionKeys& outgoing = self == Side::ped ? keys->ped_to_hsm : keys->hsm_to_ped;
    const DirectionKeys& incoming = self == Side::ped ? keys->hsm_to_ped : keys->ped_to_hsm;
    const Side peer = self == Side::ped ? Side::hsm : Side::ped;
    auto s = RecordSealer::create(self, outgoing);
    auto o = RecordOpener::create(peer, incoming);
    if (!s.ok() || !o.ok()) {
      return Failure{AlertCode::internal_error, "record layer setup failed"};
    }
    sealer.emplace(std::move(s).value());
    opener.emplace(std::move(o).value());
    ephemeral.reset();
    state = State::established;
    out.events.emplace_back(
        EstablishedEvent{transcript.scheme, transcript.hsm_serial, transcript.rpk_serial, peer_subject, verified_by,
                         hoc_sha256, hsm_certificate});
    return std::nullopt;
  }

  std::optional<Failure> on_record(ByteView header, ByteView body, Output& out) {
    auto opened = opener->open(header, body);
    if (!opened.ok()) {
      const Error& e = opened.error();
      switch (e.code) {
        case Errc::mac_mismatch: return failure(AlertCode::bad_record_mac, e);
        case Errc::invalid_encoding: return failure(AlertCode::decode_error, e);
        case Errc::invalid_argument:
          return failure(opener->next_sequence() >= kMaxRecordsPerDirection ? AlertCode::sequence_exhausted
                                                                           : AlertCode::record_out_of_order,
                         e);
        default: return failure(AlertCode::internal_error, e);
      }
    }
    OpenedRecord record = std::move(opened).value();
    peer_proven = true;  // a record that opens proves the peer holds the session keys
    switch (record.type) {
      case ContentType::data: out.events.emplace_back(DataEvent{std::move(record.payload)}); return std::nullopt;
      case ContentType::ping: {
        auto pong = sealer->seal(ContentType::pong, record.payload);
        if (!pong.ok()) {
          return failure(AlertCode::sequence_exhausted, pong.error());
        }
        out.send.insert(out.send.end(), pong->begin(), pong->end());
        return std::nullopt;
      }
      case ContentType::pong: out.events.emplace_back(PongEvent{std::move(record.payload)}); return std::nullopt;
      case ContentType::close: {
        Reader r(record.payload);
        auto value = r.u16("close.code");
        const std::optional<AlertCode> code = value.ok() ? alert_from_wire(value.value()) : std::nullopt;
        if (!code || !r.expect_end("close").ok()) {
          return Failure{AlertCode::decode_error, "sealed close message is malformed"};
        }
        closed_by(*code, true, "peer closed the session: " + std::string(alert_name(*code)), out);
        return std::nullopt;
      }
      default: return Failure{AlertCode::decode_error, "unknown record content type"};
    }
  }
};

// The complete table of (state, message) pairs a peer may send. Alerts are
// accepted in every open state (dispatch()). Everything else: unexpected_message.
const Endpoint::Impl::Transition Endpoint::Impl::kTransitions[4] = {
    {State::hsm_await_key_share, MessageType::ped_key_share, &Endpoint::Impl::on_ped_key_share},
    {State::ped_await_hello, MessageType::hsm_hello, &Endpoint::Impl::on_hsm_hello},
    {State::ped_await_confirm, MessageType::hsm_confirm, &Endpoint::Impl::on_hsm_confirm},
    {State::established, MessageType::record, &Endpoint::Impl::on_record},
};

Endpoint::Endpoint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Endpoint::Endpoint(Endpoint&&) noexcept = default;
Endpoint& Endpoint::operator=(Endpoint&&) noexcept = default;
Endpoint::~Endpoint() = default;

Result<Endpoint> Endpoint::hsm(HsmEndpointConfig config) {
  if (config.certificate_chain.size() < 2 || config.certificate_chain.size() > kMaxHsmChainCertificates) {
    return make_error(Errc::invalid_argument, "HSM endpoint needs its static-key certificate and HOC (2 or 3 certificates)");
  }
  auto impl = std::make_unique<Impl>();
  impl->side = Side::hsm;
  impl->state = State::hsm_start;
  impl->entropy = with_defaults(std::move(config.entropy));
  impl->hsm_config.emplace(std::move(config));
  return Endpoint(std::move(impl));
}

Result<Endpoint> Endpoint::ped(PedEndpointConfig config) {
  if (!config.manufacturer_roots) {
    return make_error(Errc::invalid_argument, "PED endpoint needs the manufacturer root trust store");
  }
  if (config.rpk_certificate && config.rpk_serial == 0) {
    return make_error(Errc::invalid_argument, "PED endpoint: an RPK certificate needs a non-zero RPK serial");
  }
  auto impl = std::make_unique<Impl>();
  impl->side = Side::ped;
  impl->state = State::ped_await_hello;
  impl->entropy = with_defaults(std::move(config.entropy));
  impl->rpk_certificate = config.rpk_certificate;
  impl->rpk_serial = config.rpk_serial;
  impl->ped_config.emplace(std::move(config));
  return Endpoint(std::move(impl));
}

Output Endpoint::start() {
  Output out;
  if (impl_->side == Side::hsm && impl_->state == State::hsm_start) {
    if (auto f = impl_->hsm_start(out)) {
      impl_->fail(*f, out);
    }
  }
  return out;
}

Output Endpoint::receive(ByteView bytes) {
  Output out;
  impl_->receive(bytes, out);
  return out;
}

Output Endpoint::complete_key_request(Result<SecretBytes> dkm) {
  Output out;
  Impl& m = *impl_;
  if (m.state != State::hsm_await_device && m.state != State::ped_await_device) {
    return out;  // late answer after a close: nothing to do
  }
  if (!dkm.ok()) {
    const bool wrong_secret = m.side == Side::hsm && dkm.error().code == Errc::mac_mismatch;
    m.fail(wrong_secret ? Failure{AlertCode::authentication_failed, "the PED's key-confirmation tag does not verify "
                                                                    "(wrong RPV, password or RPK)"}
                        : Failure{AlertCode::device_failure, "key derivation failed: " + dkm.error().message},
           out);
    return out;
  }
  const std::optional<Failure> f = m.side == Side::hsm ? m.hsm_keys_ready(std::move(dkm).value(), out)
                                                       : m.ped_keys_ready(std::move(dkm).value(), out);
  if (f) {
    m.fail(*f, out);
  }
  return out;
}

Output Endpoint::complete_rpk_request(Result<RpkInfo> rpk) {
  Output out;
  Impl& m = *impl_;
  if (m.state != State::ped_await_rpk) {
    return out;  // late answer after a close
  }
  const std::optional<Failure> f =
      rpk.ok() ? m.ped_rpk_ready(std::move(rpk).value(), out)
               : Failure{AlertCode::device_failure, "reading the orange key failed: " + rpk.error().message};
  if (f) {
    m.fail(*f, out);
  }
  return out;
}

Output Endpoint::complete_identity(Result<void> confirmed) {
  Output out;
  Impl& m = *impl_;
  if (m.state != State::ped_await_identity) {
    return out;  // late answer after a close
  }
  const std::optional<Failure> f = confirmed.ok() ? m.ped_identity_confirmed(out)
                                                  : Failure{AlertCode::identity_refused, confirmed.error().message};
  if (f) {
    m.fail(*f, out);
  }
  return out;
}

Result<Output> Endpoint::send(ByteView payload) { return impl_->seal_outgoing(ContentType::data, payload); }

Result<Output> Endpoint::ping(ByteView payload) { return impl_->seal_outgoing(ContentType::ping, payload); }

Output Endpoint::close(AlertCode code, std::string detail) {
  Output out;
  impl_->fail(Failure{code, detail.empty() ? "closed locally: " + std::string(alert_name(code)) : std::move(detail)},
              out);
  return out;
}

Result<Bytes> Endpoint::wrap_csp(ByteView secret) const {
  const Impl& m = *impl_;
  if (m.state != State::established) {
    return make_error(Errc::invalid_argument, "cannot wrap: the channel is not established");
  }
  const DirectionKeys& own = m.side == Side::ped ? m.keys->ped_to_hsm : m.keys->hsm_to_ped;
  return crypto::aes_kwp_wrap(own.cwk.reveal(), secret);
}

Result<SecretBytes> Endpoint::unwrap_csp(ByteView wrapped) const {
  const Impl& m = *impl_;
  if (m.state != State::established) {
    return make_error(Errc::invalid_argument, "cannot unwrap: the channel is not established");
  }
  const DirectionKeys& peer = m.side == Side::ped ? m.keys->hsm_to_ped : m.keys->ped_to_hsm;
  return crypto::aes_kwp_unwrap(peer.cwk.reveal(), wrapped);
}

Side Endpoint::side() const noexcept { return impl_->side; }
State Endpoint::state() const noexcept { return impl_->state; }

std::uint64_t Endpoint::stated_hsm_serial() const noexcept { return impl_->stated_hsm_serial; }

bool Endpoint::holds_key_material() const noexcept {
  const Impl& m = *impl_;
  return m.ephemeral.has_value() || m.keys.has_value() || m.sealer.has_value() || m.opener.has_value();
}

// ---------------------------------------------------------------------------

Result<OneTimePasswordGuard> OneTimePasswordGuard::create(SecretBytes password, unsigned max_attempts) {
  RPED_TRY(check_supp_priv_info(Scheme::one_pass_password, password.reveal()));
  if (max_attempts == 0) {
    return make_error(Errc::invalid_argument, "one-time password attempts must be at least 1");
  }
  return OneTimePasswordGuard(std::move(password), max_attempts);
}

Result<SecretBytes> OneTimePasswordGuard::derive(const KeyDerivationRequest& request,
                                                 const crypto::EcKeyPair& hsm_static) {
  if (used_) {
    return make_error(Errc::mac_mismatch, "the one-time password has already opened a session");
  }
  if (exhausted()) {
    return make_error(Errc::mac_mismatch, "the one-time password is used up after " + std::to_string(failed_) +
                                              " failed attempts");
  }
  if (request.side != Side::hsm || request.transcript.scheme != Scheme::one_pass_password) {
    return make_error(Errc::invalid_argument, "the one-time password answers only HSM-side C(1e,1s) requests");
  }
  auto dkm = derive_dkm(request, &hsm_static, password_.reveal());
  if (dkm.ok()) {
    // One-time: the password has opened its session and opens no other.
    password_.clear();
    used_ = true;
  } else if (dkm.error().code == Errc::mac_mismatch) {
    ++failed_;
    if (exhausted()) {
      password_.clear();  // nothing left to guess against
    }
  }
  return dkm;
}

Result<SecretBytes> generate_one_time_password() {
  // Rejection sampling over 32-bit values gives a uniform choice of 10^8.
  constexpr std::uint32_t kRange = 100'000'000;
  constexpr std::uint32_t kLimit = 0xFFFFFFFFu - (0xFFFFFFFFu % kRange);
  for (;;) {
    SecretArray<4> raw;
    RPED_TRY(crypto::random_bytes(raw.reveal_mutable()));
    const auto b = raw.reveal();
    std::uint32_t v = (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
    if (v >= kLimit) {
      continue;
    }
    v %= kRange;
    SecretBytes digits(kPasswordDigits);
    auto out = digits.reveal_mutable();
    for (std::size_t i = kPasswordDigits; i-- > 0;) {
      out[i] = static_cast<std::uint8_t>('0' + v % 10);
      v /= 10;
    }
    secure_wipe(&v, sizeof v);
    return digits;
  }
}

}  // namespace rped::channel
