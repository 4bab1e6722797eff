// Two channel endpoints wired back to back, with in-process stand-ins for the
// devices that hold the long-term secrets (the HSM: static key, RPV, one-time
// password; the PED: RPK private key, RPV from the orange key, the password
// typed on the keypad). Bytes are pumped until both sides are quiet; a filter
// may tamper with bytes in flight.
//
//   ChannelWorld world;                       // PKI, serials, RPV, password
//   ChannelLink link(world, Scheme::full_unified);
//   link.run();
//   EXPECT_EQ(link.hsm.state(), State::established);
#pragma once

#include <algorithm>
#include <functional>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <vector>

#include "rped/channel/endpoint.h"
#include "support/pki.h"
#include "support/must.h"

namespace rped::test {

struct ChannelWorld {
  std::uint64_t hsm_serial = 1234567;
  std::uint64_t rpk_serial = 7001;
  HsmPki pki = make_hsm_pki(hsm_serial);
  crypto::EcKeyPair rpk_key = must(crypto::EcKeyPair::generate());
  crypto::Certificate rpk_cert = issue_rpk(pki, rpk_key.public_key(), rpk_serial);
  SecretBytes rpv = must(crypto::random_secret(channel::kRpvBytes));
  SecretBytes password = SecretBytes::copy_of(bytes_of("31415926"));
  // Built once, as a daemon would at start-up.
  crypto::TrustStore manufacturer_roots = must(crypto::TrustStore::from_anchors(std::span(&pki.root, 1)));

  // The secret each device mixes in as SuppPrivInfo.
  ByteView supp_priv_info(channel::Scheme scheme) const {
    return scheme == channel::Scheme::full_unified ? rpv.reveal() : password.reveal();
  }

  channel::HsmEndpointConfig hsm_config(channel::Scheme scheme) const {
    channel::HsmEndpointConfig c;
    c.scheme = scheme;
    c.hsm_serial = hsm_serial;
    c.certificate_chain = {pki.ecdh_cert, pki.hoc};
    c.identity = channel::HsmIdentity{"prod-ca", "Luna PCIe HSM 7", "7.8.4", {}};
    return c;
  }
  channel::PedEndpointConfig ped_config(channel::Scheme scheme) const {
    channel::PedEndpointConfig c;
    c.manufacturer_roots = manufacturer_roots;
    if (scheme == channel::Scheme::full_unified) {
      c.rpk_certificate = rpk_cert;
      c.rpk_serial = rpk_serial;
    } else {
      c.allow_password_mode = true;
    }
    return c;
  }
};

// A device's answer to a key request, given the secret it mixes in.
inline Result<SecretBytes> hsm_device_answer(const ChannelWorld& w, const channel::KeyDerivationRequest& r,
                                             ByteView supp_priv) {
  return channel::derive_dkm(r, &w.pki.ecdh_key, supp_priv);
}
inline Result<SecretBytes> ped_device_answer(const ChannelWorld& w, const channel::KeyDerivationRequest& r,
                                             ByteView supp_priv) {
  const bool full = r.transcript.scheme == channel::Scheme::full_unified;
  return channel::derive_dkm(r, full ? &w.rpk_key : nullptr, supp_priv);
}

struct ChannelLink {
  using Filter = std::function<void(Bytes&)>;
  using Device = std::function<Result<SecretBytes>(const channel::KeyDerivationRequest&)>;

  ChannelLink(const ChannelWorld& world, channel::Scheme scheme)
      : ChannelLink(world, world.hsm_config(scheme), world.ped_config(scheme)) {}
  ChannelLink(const ChannelWorld& world, channel::HsmEndpointConfig hsm_cfg, channel::PedEndpointConfig ped_cfg)
      : hsm(must(channel::Endpoint::hsm(std::move(hsm_cfg)))), ped(must(channel::Endpoint::ped(std::move(ped_cfg)))) {
    hsm_device = [&world](const channel::KeyDerivationRequest& r) {
      return hsm_device_answer(world, r, world.supp_priv_info(r.transcript.scheme));
    };
    rpk_source = [&world]() -> Result<channel::RpkInfo> { return channel::RpkInfo{world.rpk_cert, world.rpk_serial}; };
    ped_device = [&world](const channel::KeyDerivationRequest& r) {
      return ped_device_answer(world, r, world.supp_priv_info(r.transcript.scheme));
    };
  }

  channel::Endpoint hsm;
  channel::Endpoint ped;
  Device hsm_device;
  Device ped_device;
  // Answers RpkRequestEvents (PED side reading the orange key).
  std::function<Result<channel::RpkInfo>()> rpk_source;
  // The custodian's answer to the IdentityEvent (docs/attestation.md §6): YES by default.
  std::function<Result<void>(const channel::IdentityEvent&)> custodian = [](const channel::IdentityEvent&) {
    return Result<void>{};
  };
  Filter hsm_to_ped;  // may alter bytes the HSM sends
  Filter ped_to_hsm;
  std::vector<channel::Event> hsm_events;
  std::vector<channel::Event> ped_events;
  std::vector<Bytes> hsm_sent;  // every chunk as sent, before filters
  std::vector<Bytes> ped_sent;

  // Starts the HSM side and pumps until quiet.
  void run() { pump(hsm.start(), {}); }

  // Feeds outputs across until neither side has anything left to say.
  void pump(channel::Output from_hsm, channel::Output from_ped) {
    for (int guard = 0; guard < 64; ++guard) {
      const bool quiet = from_hsm.send.empty() && from_hsm.events.empty() && from_ped.send.empty() &&
                         from_ped.events.empty();
      if (quiet) {
        return;
      }
      channel::Output next_hsm;
      channel::Output next_ped;
      absorb(from_hsm, hsm, hsm_device, hsm_events, next_hsm);
      absorb(from_ped, ped, ped_device, ped_events, next_ped);
      if (!from_hsm.send.empty()) {
        hsm_sent.push_back(from_hsm.send);
        Bytes b = from_hsm.send;
        if (hsm_to_ped) {
          hsm_to_ped(b);
        }
        merge(next_ped, ped.receive(b));
      }
      if (!from_ped.send.empty()) {
        ped_sent.push_back(from_ped.send);
        Bytes b = from_ped.send;
        if (ped_to_hsm) {
          ped_to_hsm(b);
        }
        merge(next_hsm, hsm.receive(b));
      }
      from_hsm = std::move(next_hsm);
      from_ped = std::move(next_ped);
    }
    throw std::runtime_error("channel link did not go quiet");
  }

  // The close event of one side, if it closed.
  static std::optional<channel::ClosedEvent> closed(const std::vector<channel::Event>& events) {
    for (const channel::Event& e : events) {
      if (const auto* c = std::get_if<channel::ClosedEvent>(&e)) {
        return *c;
      }
    }
    return std::nullopt;
  }
  static std::vector<Bytes> data(const std::vector<channel::Event>& events) {
    std::vector<Bytes> out;
    for (const channel::Event& e : events) {
      if (const auto* d = std::get_if<channel::DataEvent>(&e)) {
        out.push_back(d->payload);
      }
    }
    return out;
  }

 private:
  static void merge(channel::Output& into, channel::Output more) {
    into.send.insert(into.send.end(), more.send.begin(), more.send.end());
    for (auto& e : more.events) {
      into.events.push_back(std::move(e));
    }
  }
  // Records events; answers key requests at once through the device.
  void absorb(channel::Output& out, channel::Endpoint& self, const Device& device,
                     std::vector<channel::Event>& log, channel::Output& next) {
    for (channel::Event& e : out.events) {
      if (auto* request = std::get_if<channel::KeyRequestEvent>(&e)) {
        merge(next, self.complete_key_request(device(request->request)));
      }
      if (const auto* identity = std::get_if<channel::IdentityEvent>(&e)) {
        merge(next, self.complete_identity(custodian(*identity)));
      }
      if (std::holds_alternative<channel::RpkRequestEvent>(e)) {
        merge(next, self.complete_rpk_request(rpk_source ? rpk_source() : Result<channel::RpkInfo>(make_error(
                                                                               Errc::invalid_argument, "no RPK source"))));
      }
      log.push_back(std::move(e));
    }
    out.events.clear();
  }
};

// --- helpers for negative tests ----------------------------------------------

// The whole frames in `stream`, in order. For reading our own endpoints' output
// (which always emits whole frames) in tests, not for untrusted input: a
// trailing partial frame is returned as it is.
inline std::vector<Bytes> split_frames(ByteView stream) {
  std::vector<Bytes> frames;
  std::size_t at = 0;
  while (at < stream.size()) {
    std::size_t end = stream.size();
    if (stream.size() - at >= channel::kFrameHeaderBytes) {
      const std::size_t body = (std::size_t{stream[at + 2]} << 8) | stream[at + 3];
      end = std::min(stream.size(), at + channel::kFrameHeaderBytes + body);
    }
    frames.emplace_back(stream.begin() + static_cast<std::ptrdiff_t>(at),
                        stream.begin() + static_cast<std::ptrdiff_t>(end));
    at = end;
  }
  return frames;
}

// How many frames of `type` the chunks (e.g. ChannelLink::hsm_sent) hold.
inline std::size_t count_frames(const std::vector<Bytes>& chunks, channel::MessageType type) {
  std::size_t n = 0;
  for (const Bytes& chunk : chunks) {
    for (const Bytes& f : split_frames(chunk)) {
      n += f.size() > 1 && f[1] == static_cast<std::uint8_t>(type) ? 1 : 0;
    }
  }
  return n;
}

// A ChannelLink filter that hands every frame of `type` (header included) to
// `edit` and passes the other frames through unchanged.
inline ChannelLink::Filter edit_frames(channel::MessageType type,
                                       std::function<void(Bytes& frame)> edit) {
  return [type, edit = std::move(edit)](Bytes& chunk) {
    Bytes out;
    for (Bytes& f : split_frames(chunk)) {
      if (f.size() > 1 && f[1] == static_cast<std::uint8_t>(type)) {
        edit(f);
      }
      out.insert(out.end(), f.begin(), f.end());
    }
    chunk = std::move(out);
  };
}

// The key request an endpoint emitted in `out`; throws (a test failure) if there is none.
inline const channel::KeyDerivationRequest& key_request_in(const channel::Output& out) {
  for (const channel::Event& e : out.events) {
    if (const auto* r = std::get_if<channel::KeyRequestEvent>(&e)) {
      return r->request;
    }
  }
  throw std::runtime_error("the endpoint emitted no key request");
}

}  // namespace rped::test

// GoogleTest prints these by name in failure messages.
namespace rped::channel {
inline void PrintTo(AlertCode code, std::ostream* os) { *os << alert_name(code); }
inline void PrintTo(State state, std::ostream* os) { *os << state_name(state); }
}  // namespace rped::channel
