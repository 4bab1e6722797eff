// fuzz_seed_generator: writes the seed corpora of the fuzz targets from real
// handshakes and records of the deterministic fixture (fixture.h), both
// schemes. Usage:
//
//   fuzz_seed_generator <corpus root>      # e.g. tests/fuzz/corpus
//
// Writes <root>/<target>/<name> for its own file names only; anything else in
// those folders (e.g. a committed crash reproducer) is left alone.
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fixture.h"
#include "rped/bytes.h"
#include "rped/channel/messages.h"
#include "rped/channel/record.h"
#include "rped/ped/device_protocol.h"

namespace {

using rped::Bytes;
using rped::ByteView;
using rped::fuzz::Endpoint;
using rped::fuzz::Scheme;
using rped::test::bytes_of;
using rped::test::must;
namespace channel = rped::channel;
namespace crypto = rped::crypto;
namespace fs = std::filesystem;

class CorpusWriter final {
 public:
  explicit CorpusWriter(fs::path root) : root_(std::move(root)) {}

  void write(std::string_view target, std::string_view name, ByteView content) {
    const fs::path dir = root_ / target;
    fs::create_directories(dir);
    std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(content.data()),
              static_cast<std::streamsize>(content.size()));
    if (!out) {
      throw std::runtime_error("cannot write " + (dir / name).string());
    }
    ++written_;
  }
  void write(std::string_view target, std::string_view name, std::string_view text) {
    write(target, name, ByteView(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
  }
  int written() const { return written_; }

 private:
  fs::path root_;
  int written_ = 0;
};

Bytes concat(std::initializer_list<ByteView> parts) {
  Bytes out;
  for (const ByteView p : parts) {
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}

Bytes body_of(ByteView frame) {
  return Bytes(frame.begin() + channel::kFrameHeaderBytes, frame.end());
}

// Selector and chunk-shape prefix of the endpoint targets, then the stream.
Bytes endpoint_seed(std::uint8_t selector, std::uint8_t shape,
                    std::initializer_list<ByteView> frames) {
  Bytes out{selector, shape};
  const Bytes stream = concat(frames);
  out.insert(out.end(), stream.begin(), stream.end());
  return out;
}

Bytes sent(rped::Result<channel::Output> out) {
  return must(std::move(out)).send;
}

// One established pair, then three records each way:
//   PED -> HSM: data (seq 0), ping (1), close (2)
//   HSM -> PED: data (0), pong answering the ping (1), close (2)
struct RecordedSession {
  rped::fuzz::Handshake handshake;
  std::vector<Bytes> ped_records;
  std::vector<Bytes> hsm_records;
};

RecordedSession record_session(const rped::fuzz::World& world, Scheme scheme) {
  Endpoint hsm = must(Endpoint::hsm(world.hsm_config(scheme)));
  Endpoint ped = must(Endpoint::ped(world.ped_config(scheme)));
  RecordedSession s{rped::fuzz::run_handshake(world, hsm, ped), {}, {}};
  s.hsm_records.push_back(sent(hsm.send(bytes_of("Insert a SO / HSM Admin PED Key (BLUE)"))));
  s.ped_records.push_back(sent(ped.send(bytes_of("SO login, 3 of 5"))));
  s.ped_records.push_back(sent(ped.ping(bytes_of("are you there"))));
  static_cast<void>(hsm.receive(s.ped_records[0]));
  s.hsm_records.push_back(hsm.receive(s.ped_records[1]).send);  // the pong
  s.ped_records.push_back(ped.close(channel::AlertCode::close_notify).send);
  s.hsm_records.push_back(hsm.close(channel::AlertCode::remote_mode_exited).send);
  for (const Bytes& r : s.ped_records) {
    if (r.empty()) {
      throw std::runtime_error("PED produced no record");
    }
  }
  for (const Bytes& r : s.hsm_records) {
    if (r.empty()) {
      throw std::runtime_error("HSM produced no record");
    }
  }
  return s;
}

// The first record a fresh PED (or HSM) sends after a handshake: sequence 0,
// which a fresh RecordOpener accepts.
template <typename SendFn>
Bytes first_record(const rped::fuzz::World& world, bool from_ped, SendFn send_fn) {
  Endpoint hsm = must(Endpoint::hsm(world.hsm_config(Scheme::full_unified)));
  Endpoint ped = must(Endpoint::ped(world.ped_config(Scheme::full_unified)));
  static_cast<void>(rped::fuzz::run_handshake(world, hsm, ped));
  return send_fn(from_ped ? ped : hsm);
}

Bytes spki_of(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key, &der);
  if (len <= 0) {
    throw std::runtime_error("i2d_PUBKEY failed");
  }
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

void write_hex(CorpusWriter& w, const rped::fuzz::Fixture& f) {
  const std::string confirm = rped::to_hex(f.handshake(Scheme::full_unified).confirm);
  w.write("fuzz_hex", "hsm_confirm_frame.hex", confirm);
  w.write("fuzz_hex", "mixed_case.hex", "DEADbeef0102A0fF");
  w.write("fuzz_hex", "non_hex_char.hex", "12zz");
}

void write_reader(CorpusWriter& w, const rped::fuzz::Fixture& f) {
  const auto script = [](std::initializer_list<std::uint8_t> ops, ByteView data) {
    Bytes out{static_cast<std::uint8_t>(ops.size())};
    out.insert(out.end(), ops.begin(), ops.end());
    out.insert(out.end(), data.begin(), data.end());
    return out;
  };
  // fuzz_reader.cpp op codes: 0 u8, 1 u16, 2 u32, 3 u64, 4 bytes(arg*256+p),
  // 5 vector16(p, p+arg*160), 6 rest, 7 expect_end; arg = op / 8.
  constexpr std::uint8_t kVector16Upto4161 = 26 * 8 + 5;
  const auto& full = f.handshake(Scheme::full_unified);
  w.write("fuzz_reader", "hsm_hello_layout.bin",
          script({0, 3, 4, 133, 0, kVector16Upto4161, 1, kVector16Upto4161, 1, 7},
                 body_of(full.hello)));
  w.write("fuzz_reader", "ped_key_share_layout.bin",
          script({4, 133, 3, kVector16Upto4161, 0, 4, 64, 7}, body_of(full.key_share)));
  Bytes counting(32);
  for (std::size_t i = 0; i < counting.size(); ++i) {
    counting[i] = static_cast<std::uint8_t>(i);
  }
  w.write("fuzz_reader", "every_integer_then_rest.bin", script({0, 1, 2, 3, 6, 7}, counting));
}

void write_ec_points(CorpusWriter& w, const rped::fuzz::Fixture& f) {
  const crypto::EcPublicKey& p521 = f.world.hsm_static_key.public_key();
  const crypto::EcKeyPair p224 =
      must(crypto::EcKeyPair::from_private(crypto::Curve::p224, bytes_of("rped-fuzz")));
  w.write("fuzz_ec_point", "p521_valid.bin", p521.uncompressed());
  w.write("fuzz_ec_point", "p224_valid.bin", p224.public_key().uncompressed());
  w.write("fuzz_ec_point", "p521_spki.der", p521.spki_der());

  Bytes off_curve = p521.uncompressed();
  off_curve.back() ^= 0x01;
  w.write("fuzz_ec_point", "p521_off_curve.bin", off_curve);
  // x = p = 2^521 - 1: one past the largest field element.
  Bytes x_is_p = p521.uncompressed();
  x_is_p[1] = 0x01;
  std::fill(x_is_p.begin() + 2, x_is_p.begin() + 1 + crypto::kP521FieldBytes, 0xff);
  w.write("fuzz_ec_point", "p521_x_equals_p.bin", x_is_p);

  // The same P-521 key with explicit curve parameters (refused: named curves only).
  EVP_PKEY* explicit_key = EVP_PKEY_dup(p521.native());
  if (explicit_key == nullptr ||
      EVP_PKEY_set_utf8_string_param(explicit_key, OSSL_PKEY_PARAM_EC_ENCODING,
                                     OSSL_PKEY_EC_ENCODING_EXPLICIT) != 1) {
    EVP_PKEY_free(explicit_key);
    throw std::runtime_error("cannot switch a key to explicit curve parameters");
  }
  const Bytes explicit_spki = spki_of(explicit_key);
  EVP_PKEY_free(explicit_key);
  w.write("fuzz_ec_point", "p521_spki_explicit_params.der", explicit_spki);

  EVP_PKEY* p256 = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (p256 == nullptr) {
    throw std::runtime_error("P-256 key generation failed");
  }
  const Bytes p256_spki = spki_of(p256);
  EVP_PKEY_free(p256);
  w.write("fuzz_ec_point", "p256_spki_unsupported.der", p256_spki);
}

void write_certificates(CorpusWriter& w, const rped::fuzz::Fixture& f) {
  const rped::fuzz::World& world = f.world;
  w.write("fuzz_certificate", "hsm_static_key.der", world.hsm_cert.der());
  w.write("fuzz_certificate", "rpk.der", world.rpk_cert.der());
  w.write("fuzz_certificate", "hsm_chain.pem",
          world.hsm_cert.pem() + world.hoc.pem() + world.root.pem());
  w.write("fuzz_certificate", "rpk.pem", world.rpk_cert.pem());
}

void write_messages(CorpusWriter& w, const rped::fuzz::Fixture& f) {
  const auto seed = [](std::uint8_t selector, ByteView frame) {
    return concat({ByteView(&selector, 1), body_of(frame)});
  };
  const auto& full = f.handshake(Scheme::full_unified);
  const auto& one_pass = f.handshake(Scheme::one_pass_password);
  w.write("fuzz_messages", "hsm_hello_full_unified.bin", seed(0, full.hello));
  w.write("fuzz_messages", "hsm_hello_one_pass.bin", seed(0, one_pass.hello));
  w.write("fuzz_messages", "ped_key_share_full_unified.bin", seed(1, full.key_share));
  w.write("fuzz_messages", "ped_key_share_one_pass.bin", seed(1, one_pass.key_share));
  w.write("fuzz_messages", "hsm_confirm.bin", seed(2, full.confirm));
  const Bytes close_notify = channel::frame(
      channel::MessageType::alert, channel::Alert{channel::AlertCode::close_notify}.serialize());
  w.write("fuzz_messages", "alert_close_notify.bin", seed(3, close_notify));
}

void write_records(CorpusWriter& w, const rped::fuzz::Fixture& f) {
  const rped::fuzz::World& world = f.world;
  const Bytes ped_data = first_record(
      world, true, [](Endpoint& e) { return sent(e.send(bytes_of("SO login, 3 of 5"))); });
  const Bytes ped_ping =
      first_record(world, true, [](Endpoint& e) { return sent(e.ping(bytes_of("ping"))); });
  const Bytes ped_close = first_record(
      world, true, [](Endpoint& e) { return e.close(channel::AlertCode::close_notify).send; });
  const Bytes hsm_data =
      first_record(world, false, [](Endpoint& e) { return sent(e.send(Bytes(300, 0xa5))); });
  // Every seed must authenticate under fuzz_record_open's fixed keys.
  const channel::SessionKeys keys =
      must(channel::SessionKeys::from_dkm(f.handshake(Scheme::full_unified).dkm));
  for (const ByteView record :
       {ByteView(ped_data), ByteView(ped_ping), ByteView(ped_close), ByteView(hsm_data)}) {
    const bool from_ped = record.data() != hsm_data.data();
    auto opener =
        must(channel::RecordOpener::create(from_ped ? channel::Side::ped : channel::Side::hsm,
                                           from_ped ? keys.ped_to_hsm : keys.hsm_to_ped));
    must(opener.open(record.first(channel::kFrameHeaderBytes),
                     record.subspan(channel::kFrameHeaderBytes)));
  }
  w.write("fuzz_record_open", "ped_to_hsm_data.bin", body_of(ped_data));
  w.write("fuzz_record_open", "ped_to_hsm_ping.bin", body_of(ped_ping));
  w.write("fuzz_record_open", "ped_to_hsm_close.bin", body_of(ped_close));
  w.write("fuzz_record_open", "hsm_to_ped_data.bin", body_of(hsm_data));
}

// An endpoint seed must reach the channel and the peer's sealed close; checked
// by replaying it exactly as the fuzz target does.
void check_deep(std::string_view name, const rped::fuzz::DriveSummary& summary) {
  if (!summary.established || !summary.closed || !summary.closed->by_peer ||
      summary.data_events == 0) {
    throw std::runtime_error("endpoint seed " + std::string(name) +
                             " does not reach the peer's close: " +
                             (summary.closed ? summary.closed->detail : std::string("no close")));
  }
}

void write_endpoints(CorpusWriter& w, const rped::fuzz::Fixture& f) {
  using rped::fuzz::hsm_selector;
  using rped::fuzz::ped_selector;
  using rped::fuzz::State;
  const RecordedSession full = record_session(f.world, Scheme::full_unified);
  const RecordedSession one_pass = record_session(f.world, Scheme::one_pass_password);
  const auto& pr = full.ped_records;
  const auto& hr = full.hsm_records;
  const auto& opr = one_pass.ped_records;
  const auto& ohr = one_pass.hsm_records;
  constexpr Scheme kFull = Scheme::full_unified;
  constexpr Scheme kOnePass = Scheme::one_pass_password;
  constexpr bool kSlow = true;

  const auto hsm = [&](std::string_view name, std::uint8_t selector, std::uint8_t shape,
                       std::initializer_list<ByteView> frames) {
    const Bytes seed = endpoint_seed(selector, shape, frames);
    check_deep(name, rped::fuzz::run_hsm_input(seed));
    w.write("fuzz_endpoint_hsm", name, seed);
  };
  hsm("await_key_share_full_unified.bin", hsm_selector(kFull, State::hsm_await_key_share, false), 0,
      {full.handshake.key_share, pr[0], pr[1], pr[2]});
  hsm("await_key_share_one_pass_slow_device.bin",
      hsm_selector(kOnePass, State::hsm_await_key_share, kSlow), 2,
      {one_pass.handshake.key_share, opr[0], opr[1], opr[2]});
  hsm("await_device_full_unified_bytewise.bin", hsm_selector(kFull, State::hsm_await_device, false),
      12, {pr[0], pr[1], pr[2]});
  hsm("established_full_unified_chunked.bin", hsm_selector(kFull, State::established, false), 3,
      {pr[0], pr[1], pr[2]});
  hsm("established_one_pass.bin", hsm_selector(kOnePass, State::established, false), 0,
      {opr[0], opr[1], opr[2]});

  const auto ped = [&](std::string_view name, std::uint8_t selector, std::uint8_t shape,
                       std::initializer_list<ByteView> frames) {
    const Bytes seed = endpoint_seed(selector, shape, frames);
    check_deep(name, rped::fuzz::run_ped_input(seed));
    w.write("fuzz_endpoint_ped", name, seed);
  };
  const auto& fh = full.handshake;
  const auto& oh = one_pass.handshake;
  ped("await_hello_full_unified.bin", ped_selector(kFull, false, State::ped_await_hello, false), 0,
      {fh.hello, fh.confirm, hr[0], hr[1], hr[2]});
  ped("await_hello_one_pass_chunked.bin",
      ped_selector(kOnePass, false, State::ped_await_hello, false), 5,
      {oh.hello, oh.confirm, ohr[0], ohr[1], ohr[2]});
  ped("await_hello_rpk_from_device_slow_device_bytewise.bin",
      ped_selector(kFull, true, State::ped_await_hello, kSlow), 12,
      {fh.hello, fh.confirm, hr[0], hr[1], hr[2]});
  // The custodian's YES is pending when the stream starts (docs/attestation.md §6).
  ped("await_identity_full_unified_bytewise.bin",
      ped_selector(kFull, false, State::ped_await_identity, false), 12,
      {fh.confirm, hr[0], hr[1], hr[2]});
  ped("await_rpk_full_unified_bytewise.bin", ped_selector(kFull, true, State::ped_await_rpk, false),
      12, {fh.confirm, hr[0], hr[1], hr[2]});
  ped("await_confirm_one_pass_chunked.bin",
      ped_selector(kOnePass, false, State::ped_await_confirm, false), 9,
      {oh.confirm, ohr[0], ohr[1], ohr[2]});
  ped("established_full_unified_bytewise.bin",
      ped_selector(kFull, false, State::established, false), 12, {hr[0], hr[1], hr[2]});
}

void write_device_protocol(CorpusWriter& w, const rped::fuzz::Fixture& f) {
  using rped::fuzz::DeviceParser;
  namespace ped = rped::ped;
  const auto seed = [](DeviceParser parser, ByteView body) {
    const auto selector = static_cast<std::uint8_t>(parser);
    return concat({ByteView(&selector, 1), body});
  };
  const ped::IdentifyResponse identify{1, "2.9.1", "PED-000123", "Remote PED emulator",
                                       ped::Mode::remote};
  const ped::DeviceFrame identify_frame{ped::FrameKind::response, ped::Op::identify, 7,
                                        ped::ok_response(identify.serialize())};
  w.write("fuzz_device_protocol", "frame_identify_response.bin",
          seed(DeviceParser::frame, identify_frame.serialize()));
  w.write("fuzz_device_protocol", "response_pin_incorrect.bin",
          seed(DeviceParser::response,
               ped::error_response(ped::Status::pin_incorrect, "PIN incorrect")));
  const ped::ReadRpkInfoResponse rpk_info{rped::fuzz::kHsmSerial, rped::fuzz::kRpkSerial,
                                          f.world.rpk_cert.der()};
  w.write("fuzz_device_protocol", "read_rpk_info_response.bin",
          seed(DeviceParser::read_rpk_info_response, rpk_info.serialize()));
  ped::DisplayEvent display;
  display.lines = {"REMOTE PED",     "HSM 1234567",    "", "Insert a",
                   "SO / HSM Admin", "PED Key (BLUE)", "", "Press ENTER"};
  w.write("fuzz_device_protocol", "display_event.bin",
          seed(DeviceParser::display_event, display.serialize()));
  // The custodian's confirmation of the HSM (docs/attestation.md §6).
  const ped::ConfirmIdentityRequest confirm{
      true, {"HSM 1234567", "\"prod-ca\"", "verified:", "RPED Demo Root"}, 200'000};
  w.write("fuzz_device_protocol", "confirm_identity_request.bin",
          seed(DeviceParser::confirm_identity_request, confirm.serialize()));
  w.write("fuzz_device_protocol", "confirm_identity_response.bin",
          seed(DeviceParser::confirm_identity_response,
               ped::ConfirmIdentityResponse{true}.serialize()));

  // The key requests of the real handshakes: the PED's (Full Unified, in its
  // derive_session_keys command) and the HSM's (one-time password).
  Endpoint ped_endpoint = must(Endpoint::ped(f.world.ped_config(Scheme::full_unified)));
  static_cast<void>(ped_endpoint.receive(f.handshake(Scheme::full_unified).hello));
  const channel::Output hello_out = ped_endpoint.complete_identity({});  // the custodian's YES
  ped::DeriveSessionKeysRequest derive;
  derive.request = must(ped::parse_key_request(
      ped::serialize_key_request(rped::fuzz::only_key_request(hello_out, "seed PED request"))));
  w.write("fuzz_device_protocol", "derive_session_keys_request_full_unified.bin",
          seed(DeviceParser::derive_session_keys_request, derive.serialize()));
  Endpoint hsm_endpoint = must(Endpoint::hsm(f.world.hsm_config(Scheme::one_pass_password)));
  static_cast<void>(hsm_endpoint.start());
  const channel::Output share_out =
      hsm_endpoint.receive(f.handshake(Scheme::one_pass_password).key_share);
  w.write("fuzz_device_protocol", "key_request_hsm_one_pass.bin",
          seed(DeviceParser::key_request, ped::serialize_key_request(rped::fuzz::only_key_request(
                                              share_out, "seed HSM request"))));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus root, e.g. tests/fuzz/corpus>\n", argv[0]);
    return 2;
  }
  try {
    const rped::fuzz::Fixture& f = rped::fuzz::fixture();
    CorpusWriter w{fs::path(argv[1])};
    write_hex(w, f);
    write_reader(w, f);
    write_ec_points(w, f);
    write_certificates(w, f);
    write_messages(w, f);
    write_records(w, f);
    write_endpoints(w, f);
    write_device_protocol(w, f);
    std::printf("fuzz_seed_generator: wrote %d seed files under %s\n", w.written(), argv[1]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_seed_generator: %s\n", e.what());
    return 1;
  }
  return 0;
}
