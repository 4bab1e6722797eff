// The deterministic world shared by the fuzz targets and the seed generator.
//
// Every key is derived from a fixed label, every certificate has a fixed
// validity window and both endpoints validate at a fixed time, the ephemeral
// keys and the HSM nonce are injected, and the RPV and password are constants.
// So a handshake run in any process produces the same transcript, DKM and
// session keys: frames and records captured once by fuzz_seed_generator stay
// valid seeds, and a crashing input reproduces in a fresh process. (ECDSA
// signatures on the certificates are randomized by OpenSSL, so certificate
// bytes differ between runs; they verify all the same, and no transcript or
// key depends on them.)
//
// The fixture is built once per process, on first use (a function-local
// static); a setup failure throws (test::must) and ends the run at its first
// input with the reason printed. Per-input checks abort through require(),
// which libFuzzer reports as a crash with the input saved.
//
// tests/support/pki.h pulls in gtest/gtest.h (via result_assertions.h); only
// header-only helpers (must, bytes_of) are used, so nothing links GoogleTest.
//
// Thread-safety: the Fixture is built once (function-local static) and only
// read afterwards.
#pragma once

#include <openssl/sha.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "rped/bytes.h"
#include "rped/channel/endpoint.h"
#include "rped/channel/key_schedule.h"
#include "rped/channel/messages.h"
#include "rped/crypto/ec.h"
#include "rped/crypto/x509.h"
#include "rped/secret.h"
#include "support/pki.h"

namespace rped::fuzz {

using channel::Endpoint;
using channel::Scheme;
using channel::State;

// ---------------------------------------------------------------------------
// Invariants

// An invariant of the code under test does not hold: report and abort, so
// libFuzzer saves the input.
[[noreturn]] inline void violated(std::string_view what) {
  std::fprintf(stderr, "fuzz invariant violated: %.*s\n", static_cast<int>(what.size()),
               what.data());
  std::abort();
}

inline void require(bool holds, std::string_view what) {
  if (!holds) {
    violated(what);
  }
}

// libFuzzer hands (nullptr, 0) for the empty input; a span of that is fine.
inline ByteView input_view(const std::uint8_t* data, std::size_t size) {
  return ByteView(data, size);
}

// ---------------------------------------------------------------------------
// Fixed values

inline constexpr std::int64_t kNotBefore = 1704067200;         // 2024-01-01T00:00:00Z
inline constexpr std::int64_t kNotAfter = 2335219200;          // 2044-01-01T00:00:00Z
inline constexpr std::int64_t kVerificationTime = 1767225600;  // 2026-01-01T00:00:00Z
inline constexpr std::uint64_t kHsmSerial = 1234567;
inline constexpr std::uint64_t kRpkSerial = 7001;

// A P-521 private scalar from a label: 0x0000 || SHA-512(label). 66 bytes,
// below the group order since the top 16 bits are zero. Fuzzing only: these
// keys are public by construction.
inline Bytes fixed_scalar(std::string_view label) {
  Bytes d(2 + SHA512_DIGEST_LENGTH, 0);
  SHA512(reinterpret_cast<const unsigned char*>(label.data()), label.size(), d.data() + 2);
  return d;
}

inline crypto::EcKeyPair fixed_key(std::string_view label) {
  return test::must(crypto::EcKeyPair::from_private(crypto::Curve::p521, fixed_scalar(label)));
}

inline test::CertSpec with_fixed_validity(test::CertSpec spec) {
  spec.not_before = kNotBefore;
  spec.not_after = kNotAfter;
  return spec;
}

inline constexpr std::array<Scheme, 2> kSchemes = {Scheme::full_unified, Scheme::one_pass_password};

inline std::size_t scheme_index(Scheme scheme) {
  return scheme == Scheme::full_unified ? 0 : 1;
}

// ---------------------------------------------------------------------------
// The world: PKI, device secrets, endpoint configurations

struct World {
  crypto::EcKeyPair root_key = fixed_key("rped-fuzz manufacturer root");
  crypto::EcKeyPair hoc_key = fixed_key("rped-fuzz HSM origin");
  crypto::EcKeyPair hsm_static_key = fixed_key("rped-fuzz HSM static ECDH");
  crypto::EcKeyPair rpk_key = fixed_key("rped-fuzz RPK");
  Bytes hsm_ephemeral_scalar = fixed_scalar("rped-fuzz HSM ephemeral");
  Bytes ped_ephemeral_scalar = fixed_scalar("rped-fuzz PED ephemeral");
  Bytes hsm_nonce = Bytes(channel::kHsmNonceBytes, 0x4e);
  SecretBytes rpv = SecretBytes::copy_of(Bytes(channel::kRpvBytes, 0x5a));
  SecretBytes password = SecretBytes::copy_of(test::bytes_of("31415926"));

  crypto::Certificate root = test::self_signed(root_key, with_fixed_validity(test::root_ca_spec()));
  crypto::Certificate hoc =
      test::issue(hoc_key.public_key(), root, root_key, with_fixed_validity(test::hoc_spec()));
  crypto::Certificate hsm_cert = issue_hsm_cert();
  crypto::Certificate rpk_cert = test::issue(rpk_key.public_key(), hoc, hoc_key,
                                             with_fixed_validity(test::rpk_spec(kRpkSerial)));
  crypto::TrustStore roots = test::must(crypto::TrustStore::from_anchors(std::span(&root, 1)));

  channel::HsmEndpointConfig hsm_config(Scheme scheme) const {
    channel::HsmEndpointConfig c;
    c.scheme = scheme;
    c.hsm_serial = kHsmSerial;
    c.certificate_chain = {hsm_cert, hoc};
    c.verification_time = kVerificationTime;
    c.entropy = entropy(hsm_ephemeral_scalar);
    return c;
  }

  channel::PedEndpointConfig ped_config(Scheme scheme) const {
    channel::PedEndpointConfig c;
    c.manufacturer_roots = roots;
    if (scheme == Scheme::full_unified) {
      c.rpk_certificate = rpk_cert;
      c.rpk_serial = kRpkSerial;
    } else {
      c.allow_password_mode = true;
    }
    c.verification_time = kVerificationTime;
    c.entropy = entropy(ped_ephemeral_scalar);
    return c;
  }

  // The devices: the HSM holds its static key, the RPV and the password; the
  // PED holds the RPK private key, the RPV and the password typed in.
  Result<SecretBytes> hsm_device(const channel::KeyDerivationRequest& r) const {
    const bool full = r.transcript.scheme == Scheme::full_unified;
    return channel::derive_dkm(r, &hsm_static_key, full ? rpv.reveal() : password.reveal());
  }
  Result<SecretBytes> ped_device(const channel::KeyDerivationRequest& r) const {
    const bool full = r.transcript.scheme == Scheme::full_unified;
    return channel::derive_dkm(r, full ? &rpk_key : nullptr,
                               full ? rpv.reveal() : password.reveal());
  }
  Result<SecretBytes> device_of(const Endpoint& e, const channel::KeyDerivationRequest& r) const {
    return e.side() == channel::Side::hsm ? hsm_device(r) : ped_device(r);
  }

 private:
  crypto::Certificate issue_hsm_cert() const {
    test::CertSpec spec = with_fixed_validity(test::hsm_ecdh_spec());
    spec.subject_serial_number = std::to_string(kHsmSerial);
    return test::issue(hsm_static_key.public_key(), hoc, hoc_key, spec);
  }

  // The same ephemeral key (and nonce) for every handshake: a fresh key pair
  // object each time, since an endpoint owns the one it is given.
  channel::EntropySource entropy(const Bytes& ephemeral_scalar) const {
    channel::EntropySource e;
    e.ephemeral_key = [ephemeral_scalar] {
      return crypto::EcKeyPair::from_private(crypto::Curve::p521, ephemeral_scalar);
    };
    e.nonce = [nonce = hsm_nonce](std::span<std::uint8_t> out) -> Result<void> {
      if (out.size() != nonce.size()) {
        return make_error(Errc::invalid_length, "fuzz fixture nonce has a fixed size");
      }
      std::copy(nonce.begin(), nonce.end(), out.begin());
      return {};
    };
    return e;
  }
};

// ---------------------------------------------------------------------------
// One real handshake per scheme, recorded

struct Handshake {
  Bytes hello;      // HsmHello frame, HSM -> PED
  Bytes key_share;  // PedKeyShare frame, PED -> HSM
  Bytes confirm;    // HsmConfirm frame, HSM -> PED
  SecretBytes dkm;  // what both devices derived
};

// The one KeyRequestEvent in `out`, or a throw.
inline const channel::KeyDerivationRequest& only_key_request(const channel::Output& out,
                                                             const char* step) {
  const channel::KeyDerivationRequest* found = nullptr;
  for (const channel::Event& e : out.events) {
    if (const auto* k = std::get_if<channel::KeyRequestEvent>(&e)) {
      if (found != nullptr) {
        throw std::runtime_error(std::string("fuzz fixture: two key requests at ") + step);
      }
      found = &k->request;
    }
  }
  if (found == nullptr) {
    throw std::runtime_error(std::string("fuzz fixture: no key request at ") + step);
  }
  return *found;
}

inline void expect_state(const Endpoint& e, State want, const char* step) {
  if (e.state() != want) {
    throw std::runtime_error(std::string("fuzz fixture: ") + step + " left state " +
                             std::string(channel::state_name(e.state())) + ", expected " +
                             std::string(channel::state_name(want)));
  }
}

// Runs the handshake step by step between `hsm` and `ped` (fresh endpoints of
// `world`) and leaves both established.
inline Handshake run_handshake(const World& world, Endpoint& hsm, Endpoint& ped) {
  Handshake h;
  h.hello = hsm.start().send;
  expect_state(hsm, State::hsm_await_key_share, "HSM start");

  static_cast<void>(ped.receive(h.hello));
  expect_state(ped, State::ped_await_identity, "PED hello");
  const channel::Output ped_confirmed = ped.complete_identity({});  // the custodian's YES
  h.dkm = test::must(world.ped_device(only_key_request(ped_confirmed, "PED identity confirmed")));
  h.key_share = ped.complete_key_request(h.dkm.clone()).send;
  expect_state(ped, State::ped_await_confirm, "PED key share");

  const channel::Output hsm_share = hsm.receive(h.key_share);
  const SecretBytes hsm_dkm =
      test::must(world.hsm_device(only_key_request(hsm_share, "HSM key share")));
  if (!(hsm_dkm == h.dkm)) {
    throw std::runtime_error("fuzz fixture: the two devices derived different keys");
  }
  h.confirm = hsm.complete_key_request(hsm_dkm.clone()).send;
  expect_state(hsm, State::established, "HSM confirm");

  static_cast<void>(ped.receive(h.confirm));
  expect_state(ped, State::established, "PED confirm");
  return h;
}

struct Fixture {
  World world;
  std::array<Handshake, 2> handshakes;  // by scheme_index()

  const Handshake& handshake(Scheme scheme) const { return handshakes[scheme_index(scheme)]; }

  static Fixture build() {
    Fixture f;
    for (const Scheme scheme : kSchemes) {
      Endpoint hsm = test::must(Endpoint::hsm(f.world.hsm_config(scheme)));
      Endpoint ped = test::must(Endpoint::ped(f.world.ped_config(scheme)));
      f.handshakes[scheme_index(scheme)] = run_handshake(f.world, hsm, ped);
    }
    return f;
  }
};

// Built on first use, once per process.
inline const Fixture& fixture() {
  static const Fixture f = Fixture::build();
  return f;
}

// ---------------------------------------------------------------------------
// Device calls: what an endpoint asked its device for, answered later

// A request the endpoint emitted, or (set up by the fixture) the recorded DKM
// that answers the recorded handshake's request.
// An IdentityEvent is answered with the custodian's YES.
using DeviceCall = std::variant<channel::KeyDerivationRequest, channel::RpkRequestEvent,
                                channel::IdentityEvent, SecretBytes>;

inline channel::Output answer(const World& world, Endpoint& e, DeviceCall call) {
  if (auto* request = std::get_if<channel::KeyDerivationRequest>(&call)) {
    return e.complete_key_request(world.device_of(e, *request));
  }
  if (std::holds_alternative<channel::RpkRequestEvent>(call)) {
    return e.complete_rpk_request(channel::RpkInfo{world.rpk_cert, kRpkSerial});
  }
  if (std::holds_alternative<channel::IdentityEvent>(call)) {
    return e.complete_identity({});
  }
  return e.complete_key_request(std::move(std::get<SecretBytes>(call)));
}

// ---------------------------------------------------------------------------
// Endpoints in a chosen state, without the peer: the recorded frames and the
// recorded DKM take the peer's and the device's part. A state that waits for
// the device comes with the device call still to be answered.

struct Started {
  Endpoint endpoint;
  std::optional<DeviceCall> pending;
};

inline constexpr std::array<State, 3> kHsmStartStates = {
    State::hsm_await_key_share, State::hsm_await_device, State::established};
inline constexpr std::array<State, 6> kPedStartStates = {
    State::ped_await_hello,   State::ped_await_rpk, State::ped_await_device, State::ped_await_confirm,
    State::established,       State::ped_await_identity};

inline Started hsm_in_state(const Fixture& f, Scheme scheme, State state) {
  auto made = Endpoint::hsm(f.world.hsm_config(scheme));
  require(made.ok(), "HSM endpoint configuration is refused");
  Started s{std::move(made).value(), std::nullopt};
  static_cast<void>(s.endpoint.start());
  if (state != State::hsm_await_key_share) {
    static_cast<void>(s.endpoint.receive(f.handshake(scheme).key_share));
    require(s.endpoint.state() == State::hsm_await_device,
            "HSM endpoint refused the recorded PedKeyShare");
    s.pending = f.handshake(scheme).dkm.clone();
  }
  if (state == State::established) {
    static_cast<void>(answer(f.world, s.endpoint, std::move(*s.pending)));
    s.pending.reset();
  }
  require(s.endpoint.state() == state, "HSM endpoint did not reach the chosen state");
  return s;
}

// `rpk_from_device`: the PED has no RPK certificate configured and asks the
// orange key for it (Full Unified only).
inline Started ped_in_state(const Fixture& f, Scheme scheme, bool rpk_from_device, State state) {
  channel::PedEndpointConfig config = f.world.ped_config(scheme);
  if (rpk_from_device) {
    config.rpk_certificate.reset();
    config.rpk_serial = 0;
    config.request_rpk_from_device = true;
  }
  auto made = Endpoint::ped(std::move(config));
  require(made.ok(), "PED endpoint configuration is refused");
  Started s{std::move(made).value(), std::nullopt};
  Endpoint& e = s.endpoint;
  const Handshake& h = f.handshake(scheme);
  if (state != State::ped_await_hello) {
    static_cast<void>(e.receive(h.hello));
    require(e.state() == State::ped_await_identity, "PED endpoint refused the recorded HsmHello");
    if (state == State::ped_await_identity) {
      s.pending = channel::IdentityEvent{};
      return s;
    }
    static_cast<void>(e.complete_identity({}));
    if (e.state() == State::ped_await_rpk) {
      s.pending = channel::RpkRequestEvent{kHsmSerial};
    } else {
      require(e.state() == State::ped_await_device, "PED endpoint refused the recorded HsmHello");
      s.pending = h.dkm.clone();
    }
  }
  if (e.state() == State::ped_await_rpk && state != State::ped_await_rpk) {
    static_cast<void>(answer(f.world, e, std::move(*s.pending)));
    require(e.state() == State::ped_await_device, "PED endpoint refused the RPK");
    s.pending = h.dkm.clone();
  }
  if (state == State::ped_await_confirm || state == State::established) {
    static_cast<void>(answer(f.world, e, std::move(*s.pending)));
    s.pending.reset();
  }
  if (state == State::established) {
    static_cast<void>(e.receive(h.confirm));
  }
  require(e.state() == state, "PED endpoint did not reach the chosen state");
  return s;
}

// ---------------------------------------------------------------------------
// Driving an endpoint with fuzz input

// Chunk sizes from one input byte, as a network might deliver the stream:
//   0      one frame per chunk, split where the (untrusted) frame headers say;
//          a trailing partial frame is the last chunk;
//   other  a xorshift sequence seeded by the byte gives sizes in
//          [1, 2^(shape % 12)]: shape 12 (or 24, ...) delivers byte by byte.
// Device calls are answered between chunks, so only a stream split where a
// device call falls due can complete a handshake: shape 0 and byte-by-byte do.
class ChunkSizes final {
 public:
  explicit ChunkSizes(std::uint8_t shape) noexcept
      : shape_(shape),
        state_(0x9E3779B9u * (std::uint32_t{shape} + 1u)),
        limit_(std::size_t{1} << (shape % 12)) {}

  std::size_t next(ByteView rest) noexcept {
    if (shape_ == 0) {
      if (rest.size() < channel::kFrameHeaderBytes) {
        return rest.size();
      }
      const std::size_t frame_size =
          channel::kFrameHeaderBytes + ((std::size_t{rest[2]} << 8) | rest[3]);
      return frame_size < rest.size() ? frame_size : rest.size();
    }
    state_ ^= state_ << 13;
    state_ ^= state_ >> 17;
    state_ ^= state_ << 5;
    const std::size_t size = 1 + state_ % limit_;
    return size < rest.size() ? size : rest.size();
  }

 private:
  std::uint8_t shape_;
  std::uint32_t state_;
  std::size_t limit_;
};

// What an endpoint sends is a sequence of whole, well-formed frames.
inline void require_well_formed_frames(ByteView sent) {
  while (!sent.empty()) {
    require(sent.size() >= channel::kFrameHeaderBytes, "endpoint sent a truncated frame header");
    const channel::FrameHeader header =
        channel::FrameHeader::parse(sent.first<channel::kFrameHeaderBytes>());
    require(header.version == channel::kProtocolVersion,
            "endpoint sent a frame of another version");
    require(header.body_length <= channel::kMaxFrameBody, "endpoint sent an oversized frame");
    require(sent.size() >= channel::kFrameHeaderBytes + header.body_length,
            "endpoint sent a truncated frame");
    const ByteView body = sent.subspan(channel::kFrameHeaderBytes, header.body_length);
    if (header.type == static_cast<std::uint8_t>(channel::MessageType::alert)) {
      require(channel::Alert::parse(body).ok(), "endpoint sent a malformed Alert");
    }
    sent = sent.subspan(channel::kFrameHeaderBytes + header.body_length);
  }
}

// What happened while an endpoint was driven; the seed generator checks that
// its seeds go deep.
struct DriveSummary {
  bool established = false;
  std::size_t data_events = 0;
  std::size_t pong_events = 0;
  std::optional<channel::ClosedEvent> closed;
};

class Driver final {
 public:
  Driver(const World& world, Endpoint& e, bool slow_device)
      : world_(world), e_(e), slow_device_(slow_device) {
    summary_.established = e.state() == State::established;
  }

  // Feeds `stream` in chunks shaped by `shape`. A pending device call (from
  // the start state) is answered after the first chunk; with a slow device,
  // every device call is answered only after the next chunk has arrived.
  DriveSummary run(ByteView stream, std::uint8_t shape, std::optional<DeviceCall> pending) {
    if (pending) {
      due_.push_back(std::move(*pending));
    }
    ChunkSizes sizes(shape);
    while (!stream.empty()) {
      const std::size_t n = sizes.next(stream);
      const bool closed_before = e_.state() == State::closed;
      channel::Output out = e_.receive(stream.first(n));
      if (closed_before) {
        require(out.send.empty() && out.events.empty(), "closed endpoint answered input");
      }
      check(std::move(out));
      stream = stream.subspan(n);
      answer_due();
      if (!slow_device_) {
        settle();
      } else {
        due_ = std::move(fresh_);
        fresh_.clear();
      }
    }
    answer_due();
    settle();
    check(e_.close(channel::AlertCode::close_notify));
    require(e_.state() == State::closed, "local close did not close the endpoint");
    return summary_;
  }

 private:
  void answer_due() {
    std::vector<DeviceCall> due = std::move(due_);
    due_.clear();
    for (DeviceCall& call : due) {
      const bool closed_before = e_.state() == State::closed;
      channel::Output out = answer(world_, e_, std::move(call));
      if (closed_before) {
        require(out.send.empty() && out.events.empty(),
                "closed endpoint acted on a late device answer");
      }
      check(std::move(out));
    }
  }

  // Answers device calls until the endpoint asks for nothing more.
  void settle() {
    while (!fresh_.empty()) {
      due_ = std::move(fresh_);
      fresh_.clear();
      answer_due();
    }
  }

  void check(channel::Output out) {
    require_well_formed_frames(out.send);
    for (channel::Event& event : out.events) {
      if (auto* request = std::get_if<channel::KeyRequestEvent>(&event)) {
        require(e_.state() == State::hsm_await_device || e_.state() == State::ped_await_device ||
                    e_.state() == State::closed,
                "key request while not waiting for the device");
        fresh_.emplace_back(std::move(request->request));
      } else if (auto* identity = std::get_if<channel::IdentityEvent>(&event)) {
        require(e_.state() == State::ped_await_identity || e_.state() == State::closed,
                "identity event while not waiting for the custodian");
        fresh_.emplace_back(std::move(*identity));
      } else if (auto* rpk = std::get_if<channel::RpkRequestEvent>(&event)) {
        require(e_.state() == State::ped_await_rpk || e_.state() == State::closed,
                "RPK request while not waiting for the orange key");
        fresh_.emplace_back(*rpk);
      } else if (std::holds_alternative<channel::EstablishedEvent>(event)) {
        require(!summary_.established, "endpoint established twice");
        summary_.established = true;
      } else if (const auto* data = std::get_if<channel::DataEvent>(&event)) {
        require(data->payload.size() <= channel::kMaxRecordPlaintext,
                "data event above the record limit");
        ++summary_.data_events;
      } else if (const auto* pong = std::get_if<channel::PongEvent>(&event)) {
        require(pong->payload.size() <= channel::kMaxRecordPlaintext,
                "pong event above the record limit");
        ++summary_.pong_events;
      } else if (const auto* closed = std::get_if<channel::ClosedEvent>(&event)) {
        require(!summary_.closed, "endpoint reported its close twice");
        summary_.closed = *closed;
      }
    }
    if (e_.state() == State::closed) {
      require(summary_.closed.has_value(), "endpoint closed without a ClosedEvent");
      require(!e_.holds_key_material(), "closed endpoint still holds key material");
    }
  }

  const World& world_;
  Endpoint& e_;
  bool slow_device_;
  std::vector<DeviceCall> due_;    // answered after the next chunk
  std::vector<DeviceCall> fresh_;  // asked for by the last Output
  DriveSummary summary_;
};

// ---------------------------------------------------------------------------
// The endpoint targets' input: selector(1) || chunk_shape(1) || network bytes.
//
// HSM selector: bit 0 scheme (0 Full Unified, 1 one-time password);
//   ((selector >> 1) & 0x3f) % 3 the start state: hsm_await_key_share,
//   hsm_await_device, established; bit 7 a slow device.
// PED selector: bit 0 scheme; bit 1 the RPK comes from the orange key
//   (RpkRequestEvent) instead of the configuration; ((selector >> 2) & 0x1f) % 6
//   the start state: ped_await_hello, ped_await_rpk, ped_await_device,
//   ped_await_confirm, established, ped_await_identity; bit 7 a slow device. ped_await_rpk
//   implies bit 1, and with the one-time password (which needs no RPK) it
//   means ped_await_hello.

inline constexpr std::uint8_t kSlowDevice = 0x80;

inline std::uint8_t hsm_selector(Scheme scheme, State state, bool slow_device) {
  std::uint8_t index = 0;
  while (kHsmStartStates[index] != state) {
    ++index;
  }
  return static_cast<std::uint8_t>((scheme == Scheme::one_pass_password ? 1 : 0) | (index << 1) |
                                   (slow_device ? kSlowDevice : 0));
}

inline std::uint8_t ped_selector(Scheme scheme, bool rpk_from_device, State state,
                                 bool slow_device) {
  std::uint8_t index = 0;
  while (kPedStartStates[index] != state) {
    ++index;
  }
  return static_cast<std::uint8_t>((scheme == Scheme::one_pass_password ? 1 : 0) |
                                   (rpk_from_device ? 2 : 0) | (index << 2) |
                                   (slow_device ? kSlowDevice : 0));
}

inline DriveSummary run_hsm_input(ByteView input) {
  if (input.size() < 2) {
    return {};
  }
  const Fixture& f = fixture();
  const std::uint8_t selector = input[0];
  const Scheme scheme = kSchemes[selector & 1];
  const State state = kHsmStartStates[((selector >> 1) & 0x3f) % kHsmStartStates.size()];
  Started s = hsm_in_state(f, scheme, state);
  Driver driver(f.world, s.endpoint, (selector & kSlowDevice) != 0);
  return driver.run(input.subspan(2), input[1], std::move(s.pending));
}

inline DriveSummary run_ped_input(ByteView input) {
  if (input.size() < 2) {
    return {};
  }
  const Fixture& f = fixture();
  const std::uint8_t selector = input[0];
  const Scheme scheme = kSchemes[selector & 1];
  State state = kPedStartStates[((selector >> 2) & 0x1f) % kPedStartStates.size()];
  bool rpk_from_device = (selector & 2) != 0;
  if (state == State::ped_await_rpk) {
    rpk_from_device = true;
    if (scheme == Scheme::one_pass_password) {
      state = State::ped_await_hello;
    }
  }
  Started s = ped_in_state(f, scheme, rpk_from_device, state);
  Driver driver(f.world, s.endpoint, (selector & kSlowDevice) != 0);
  return driver.run(input.subspan(2), input[1], std::move(s.pending));
}

// ---------------------------------------------------------------------------
// fuzz_device_protocol's first byte (% kDeviceParsers): which parser reads the rest.

enum class DeviceParser : std::uint8_t {
  frame,
  response,
  key_request,
  identify_response,
  status_response,
  set_remote_session_request,
  read_secret_request,
  read_secret_response,
  create_keyset_request,
  create_keyset_response,
  create_rpk_keyset_request,
  create_rpk_keyset_response,
  read_rpk_info_request,
  read_rpk_info_response,
  derive_session_keys_request,
  derive_session_keys_response,
  self_test_response,
  mode_changed_event,
  display_event,
  confirm_identity_request,   // docs/attestation.md §6
  confirm_identity_response,
};
inline constexpr std::uint8_t kDeviceParsers =
    static_cast<std::uint8_t>(DeviceParser::confirm_identity_response) + 1;

}  // namespace rped::fuzz
