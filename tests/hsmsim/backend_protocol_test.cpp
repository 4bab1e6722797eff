// The HSM backend protocol codec (docs/hsm-backend.md): every message
// round-trips, every parser refuses malformed input with invalid_encoding, and
// the direction rules hold.
#include <gtest/gtest.h>

#include <algorithm>

#include "rped/channel/endpoint.h"
#include "rped/hsm/backend_protocol.h"
#include "rped/ped/device_protocol.h"
#include "support/channel_harness.h"
#include "support/result_assertions.h"

namespace rped::hsm {
namespace {

using test::fails_with;
using test::is_ok;
using test::must;

BackendFrame frame(FrameKind kind, MessageType type, std::uint32_t id, Bytes body = {}) {
  return BackendFrame{kind, type, id, SecretBytes::copy_of(body)};
}

Bytes wire(const BackendFrame& f) {
  const SecretBytes s = f.serialize();
  return Bytes(s.reveal().begin(), s.reveal().end());
}

// Every strict prefix of a body is refused (the fields are all mandatory).
template <typename Parse>
void expect_truncations_refused(ByteView body, Parse parse) {
  for (std::size_t n = 0; n < body.size(); ++n) {
    EXPECT_TRUE(fails_with(parse(body.first(n)), Errc::invalid_encoding))
        << "prefix of " << n << " bytes";
  }
  Bytes longer(body.begin(), body.end());
  longer.push_back(0);
  EXPECT_TRUE(fails_with(parse(longer), Errc::invalid_encoding)) << "a trailing byte";
}

TEST(BackendFrame, RoundTripsAndSizesItself) {
  const BackendFrame f = frame(FrameKind::request, MessageType::derive_session_keys, 7, {1, 2, 3});
  const Bytes w = wire(f);
  ASSERT_EQ(w.size(), kBackendFrameHeaderBytes + 3);
  EXPECT_EQ(must(backend_frame_size(w)), w.size());
  const BackendFrame back = must(BackendFrame::parse(w));
  EXPECT_EQ(back.kind, FrameKind::request);
  EXPECT_EQ(back.type, MessageType::derive_session_keys);
  EXPECT_EQ(back.request_id, 7u);
  EXPECT_TRUE(
      std::equal(back.body.reveal().begin(), back.body.reveal().end(), f.body.reveal().begin()));
}

TEST(BackendFrame, RefusesEveryMalformedHeader) {
  const Bytes good = wire(frame(FrameKind::request, MessageType::get_identity, 1));
  const auto mutated = [&](std::size_t offset, std::uint8_t value) {
    Bytes b = good;
    b[offset] = value;
    return b;
  };
  EXPECT_TRUE(is_ok(BackendFrame::parse(good)));
  EXPECT_TRUE(
      fails_with(BackendFrame::parse(Bytes(good.begin(), good.end() - 1)), Errc::invalid_encoding));
  EXPECT_TRUE(fails_with(BackendFrame::parse(mutated(3, 0x07)),
                         Errc::invalid_encoding));  // length below the header
  EXPECT_TRUE(
      fails_with(BackendFrame::parse(mutated(4, 0x02)), Errc::invalid_encoding));  // version 2
  EXPECT_TRUE(fails_with(BackendFrame::parse(mutated(5, 0x00)), Errc::invalid_encoding));  // kind 0
  EXPECT_TRUE(fails_with(BackendFrame::parse(mutated(5, 0x04)), Errc::invalid_encoding));  // kind 4
  EXPECT_TRUE(
      fails_with(BackendFrame::parse(mutated(7, 0x42)), Errc::invalid_encoding));  // unknown type
  EXPECT_TRUE(fails_with(BackendFrame::parse(mutated(11, 0x00)),
                         Errc::invalid_encoding));  // request with id 0
  // A notification type sent as a request, a request type as a notification, a notification with an
  // id.
  EXPECT_TRUE(fails_with(
      BackendFrame::parse(wire(frame(FrameKind::request, MessageType::ped_connection_state, 1))),
      Errc::invalid_encoding));
  EXPECT_TRUE(fails_with(
      BackendFrame::parse(wire(frame(FrameKind::notification, MessageType::get_identity, 0))),
      Errc::invalid_encoding));
  EXPECT_TRUE(fails_with(BackendFrame::parse(wire(
                             frame(FrameKind::notification, MessageType::ped_connection_state, 3))),
                         Errc::invalid_encoding));
  // A length beyond the maximum is refused from the first four bytes alone.
  EXPECT_TRUE(
      fails_with(backend_frame_size(Bytes{0x00, 0x02, 0x00, 0x00}), Errc::invalid_encoding));
  EXPECT_TRUE(fails_with(backend_frame_size(Bytes{0x00, 0x00}), Errc::invalid_encoding));
}

TEST(BackendFrame, EachPartySendsOnlyItsOwnRequestsAndAnswersTheOthers) {
  struct Case {
    MessageType type;
    Party initiator;
  };
  const Case cases[] = {{MessageType::get_identity, Party::pedclient},
                        {MessageType::derive_session_keys, Party::pedclient},
                        {MessageType::audit_resume, Party::pedclient},
                        {MessageType::connect_ped, Party::hsm},
                        {MessageType::disconnect_ped, Party::hsm},
                        {MessageType::ped_request, Party::hsm},
                        {MessageType::audit_records, Party::hsm}};
  for (const Case& c : cases) {
    const Party other = c.initiator == Party::hsm ? Party::pedclient : Party::hsm;
    const BackendFrame request = frame(FrameKind::request, c.type, 1);
    const BackendFrame response = frame(FrameKind::response, c.type, 1);
    EXPECT_TRUE(is_ok(check_sender(request, c.initiator))) << message_type_name(c.type);
    EXPECT_TRUE(fails_with(check_sender(request, other), Errc::invalid_encoding))
        << message_type_name(c.type);
    EXPECT_TRUE(is_ok(check_sender(response, other))) << message_type_name(c.type);
    EXPECT_TRUE(fails_with(check_sender(response, c.initiator), Errc::invalid_encoding))
        << message_type_name(c.type);
  }
  const BackendFrame state = frame(FrameKind::notification, MessageType::ped_connection_state, 0);
  EXPECT_TRUE(is_ok(check_sender(state, Party::pedclient)));
  EXPECT_TRUE(fails_with(check_sender(state, Party::hsm), Errc::invalid_encoding));
  // Version 1 defines the audit types (docs/hsm-backend.md §4.7): none is reserved.
  EXPECT_FALSE(is_reserved(MessageType::audit_records));
  EXPECT_FALSE(is_reserved(MessageType::audit_resume));
  EXPECT_FALSE(is_reserved(MessageType::ped_request));
}

TEST(BackendResponse, OkAndErrorRoundTrip) {
  const SecretBytes ok = ok_response(Bytes{9, 8});
  auto parsed = must(parse_response(ok.reveal()));
  EXPECT_FALSE(parsed.first.has_value());
  EXPECT_EQ(Bytes(parsed.second.begin(), parsed.second.end()), (Bytes{9, 8}));

  const Bytes error = error_response(
      Failure{Status::handshake_failed, channel::AlertCode::ped_busy, "serving another HSM"});
  auto failed = must(parse_response(error));
  ASSERT_TRUE(failed.first.has_value());
  EXPECT_EQ(failed.first->status, Status::handshake_failed);
  EXPECT_EQ(failed.first->alert, channel::AlertCode::ped_busy);
  EXPECT_EQ(failed.first->message, "serving another HSM");

  // Without an alert; and an error response never claims ok.
  auto no_alert = must(parse_response(error_response(Failure{Status::timeout, std::nullopt, ""})));
  EXPECT_FALSE(no_alert.first->alert.has_value());
  auto not_ok = must(parse_response(error_response(Failure{Status::ok, std::nullopt, "bug"})));
  ASSERT_TRUE(not_ok.first.has_value());
  EXPECT_EQ(not_ok.first->status, Status::internal);

  expect_truncations_refused(error, [](ByteView b) { return parse_response(b); });
  EXPECT_TRUE(fails_with(parse_response(Bytes{0x00, 0x63}), Errc::invalid_encoding));  // status 99
  EXPECT_TRUE(fails_with(parse_response(Bytes{0x00, 0x07, 0x00, 0x63, 0, 0}),
                         Errc::invalid_encoding));  // alert 99
}

TEST(BackendBodies, IdentityRoundTripsWithItsChain) {
  const test::HsmPki pki = test::make_hsm_pki(1234567);
  IdentityResponse id;
  id.serial = 1234567;
  id.label = "myHSM";
  id.firmware_version = "7.8.4";
  id.model = "hsmsim";
  id.rpv_initialized = true;
  id.certificate_chain = {pki.ecdh_cert, pki.hoc};
  const Bytes body = id.serialize();
  const IdentityResponse back = must(IdentityResponse::parse(body));
  EXPECT_EQ(back.serial, 1234567u);
  EXPECT_EQ(back.label, "myHSM");
  EXPECT_EQ(back.firmware_version, "7.8.4");
  EXPECT_TRUE(back.rpv_initialized);
  ASSERT_EQ(back.certificate_chain.size(), 2u);
  EXPECT_EQ(back.certificate_chain[0].der(), pki.ecdh_cert.der());
  expect_truncations_refused(body, [](ByteView b) { return IdentityResponse::parse(b); });

  // One certificate, or four, is not a chain the channel accepts.
  IdentityResponse short_chain = id;
  short_chain.certificate_chain = {pki.ecdh_cert};
  EXPECT_TRUE(fails_with(IdentityResponse::parse(short_chain.serialize()), Errc::invalid_encoding));
  IdentityResponse long_chain = id;
  long_chain.certificate_chain = {pki.ecdh_cert, pki.hoc, pki.root, pki.root};
  EXPECT_TRUE(fails_with(IdentityResponse::parse(long_chain.serialize()), Errc::invalid_encoding));
}

// A genuine HSM-side key request, from a real handshake.
channel::KeyDerivationRequest hsm_key_request(const test::ChannelWorld& world,
                                              channel::Scheme scheme) {
  test::ChannelLink link(world, scheme);
  std::optional<channel::KeyDerivationRequest> captured;
  link.hsm_device = [&](const channel::KeyDerivationRequest& r) {
    channel::KeyDerivationRequest copy;
    copy.side = r.side;
    copy.transcript = r.transcript;
    copy.z_part = r.z_part.clone();
    copy.device_peer_key = r.device_peer_key;
    copy.peer_tag = r.peer_tag;
    captured = std::move(copy);
    return Result<SecretBytes>(make_error(Errc::internal, "captured only"));
  };
  link.run();
  if (!captured) {
    throw std::runtime_error("no HSM key request");
  }
  return std::move(*captured);
}

TEST(BackendBodies, DeriveSessionKeysRoundTripsBothSchemes) {
  const test::ChannelWorld world;
  for (const channel::Scheme scheme :
       {channel::Scheme::full_unified, channel::Scheme::one_pass_password}) {
    DeriveSessionKeysRequest request;
    request.key_request = hsm_key_request(world, scheme);
    if (scheme == channel::Scheme::full_unified) {
      request.rpk_certificate = world.rpk_cert;
    }
    const SecretBytes body = request.serialize();
    const DeriveSessionKeysRequest back = must(DeriveSessionKeysRequest::parse(body.reveal()));
    EXPECT_EQ(back.key_request.transcript.scheme, scheme);
    EXPECT_EQ(back.key_request.transcript.hsm_serial, world.hsm_serial);
    EXPECT_EQ(back.key_request.peer_tag, request.key_request.peer_tag);
    EXPECT_EQ(back.rpk_certificate.has_value(), scheme == channel::Scheme::full_unified);
    // The round-tripped request derives the same DKM as the original.
    const ByteView secret =
        scheme == channel::Scheme::full_unified ? world.rpv.reveal() : world.password.reveal();
    EXPECT_TRUE(must(channel::derive_dkm(back.key_request, &world.pki.ecdh_key, secret)) ==
                must(channel::derive_dkm(request.key_request, &world.pki.ecdh_key, secret)));
    expect_truncations_refused(body.reveal(),
                               [](ByteView b) { return DeriveSessionKeysRequest::parse(b); });
  }
}

TEST(BackendBodies, DeriveSessionKeysRefusesPedSideRequestsAndStrayCertificates) {
  const test::ChannelWorld world;
  DeriveSessionKeysRequest one_pass;
  one_pass.key_request = hsm_key_request(world, channel::Scheme::one_pass_password);
  one_pass.rpk_certificate = world.rpk_cert;  // no RPK in C(1e,1s)
  EXPECT_TRUE(fails_with(DeriveSessionKeysRequest::parse(one_pass.serialize().reveal()),
                         Errc::invalid_encoding));

  // A PED-side (U) request is the PED's to answer, never the HSM's.
  channel::KeyDerivationRequest ped_side;
  ped_side.side = channel::Side::ped;
  ped_side.transcript = one_pass.key_request.transcript;
  ped_side.z_part = SecretBytes::copy_of(Bytes(66, 1));
  DeriveSessionKeysRequest wrong_side;
  wrong_side.key_request = std::move(ped_side);
  EXPECT_TRUE(fails_with(DeriveSessionKeysRequest::parse(wrong_side.serialize().reveal()),
                         Errc::invalid_encoding));
}

TEST(BackendBodies, DkmHasExactlyItsLength) {
  DeriveSessionKeysResponse response;
  response.dkm = SecretBytes::copy_of(Bytes(channel::kDkmBytes, 0x5A));
  const SecretBytes body = response.serialize();
  EXPECT_TRUE(must(DeriveSessionKeysResponse::parse(body.reveal())).dkm == response.dkm);
  expect_truncations_refused(body.reveal(),
                             [](ByteView b) { return DeriveSessionKeysResponse::parse(b); });
  DeriveSessionKeysResponse short_dkm;
  short_dkm.dkm = SecretBytes::copy_of(Bytes(channel::kDkmBytes - 1, 0x5A));
  EXPECT_TRUE(fails_with(DeriveSessionKeysResponse::parse(short_dkm.serialize().reveal()),
                         Errc::invalid_encoding));
}

TEST(BackendBodies, ConnectionStateAndConnectRoundTrip) {
  PedConnectionState down;
  down.connected = false;
  down.scheme = channel::Scheme::full_unified;
  down.pedserver = "10.0.0.5:1503";
  down.reason = channel::AlertCode::timeout;
  down.detail = "idle timeout";
  const Bytes body = down.serialize();
  const PedConnectionState back = must(PedConnectionState::parse(body));
  EXPECT_FALSE(back.connected);
  EXPECT_EQ(back.reason, channel::AlertCode::timeout);
  EXPECT_EQ(back.pedserver, "10.0.0.5:1503");
  expect_truncations_refused(body, [](ByteView b) { return PedConnectionState::parse(b); });
  Bytes up_with_reason = body;
  up_with_reason[0] = 1;  // connected, yet a reason
  EXPECT_TRUE(fails_with(PedConnectionState::parse(up_with_reason), Errc::invalid_encoding));

  ConnectPedRequest connect;
  connect.host = "pedserver.example";
  connect.port = 1503;
  connect.scheme = channel::Scheme::one_pass_password;
  connect.timeout_ms = 200'000;
  const Bytes connect_body = connect.serialize();
  const ConnectPedRequest connect_back = must(ConnectPedRequest::parse(connect_body));
  EXPECT_EQ(connect_back.host, "pedserver.example");
  EXPECT_EQ(connect_back.scheme, channel::Scheme::one_pass_password);
  expect_truncations_refused(connect_body, [](ByteView b) { return ConnectPedRequest::parse(b); });
  ConnectPedRequest no_host = connect;
  no_host.host.clear();
  EXPECT_TRUE(fails_with(ConnectPedRequest::parse(no_host.serialize()), Errc::invalid_encoding));
  ConnectPedRequest port_zero = connect;
  port_zero.port = 0;
  EXPECT_TRUE(fails_with(ConnectPedRequest::parse(port_zero.serialize()), Errc::invalid_encoding));
  ConnectPedRequest no_time = connect;
  no_time.timeout_ms = 0;
  EXPECT_TRUE(fails_with(ConnectPedRequest::parse(no_time.serialize()), Errc::invalid_encoding));
  Bytes scheme_three = connect_body;
  scheme_three[2 + connect.host.size() + 2] = 3;
  EXPECT_TRUE(fails_with(ConnectPedRequest::parse(scheme_three), Errc::invalid_encoding));

  ConnectPedResponse response{7001, "pedserver.example:1503", "CN=RPK"};
  const Bytes response_body = response.serialize();
  EXPECT_EQ(must(ConnectPedResponse::parse(response_body)).rpk_serial, 7001u);
  expect_truncations_refused(response_body,
                             [](ByteView b) { return ConnectPedResponse::parse(b); });
}

TEST(BackendBodies, PedRequestCarriesOnlyChannelCommands) {
  ped::ReadSecretRequest read;
  read.key_type = ped::KeyType::blue;
  read.context = "HSM 1 / SO LOGIN";
  const Bytes device =
      ped::DeviceFrame{ped::FrameKind::command, ped::Op::read_secret, 5, read.serialize()}
          .serialize();
  PedRequest request;
  request.timeout_ms = 200'000;
  request.device_frame = SecretBytes::copy_of(device);
  const SecretBytes body = request.serialize();
  const PedRequest back = must(PedRequest::parse(body.reveal()));
  EXPECT_EQ(back.timeout_ms, 200'000u);
  EXPECT_TRUE(back.device_frame == request.device_frame);
  expect_truncations_refused(body.reveal(), [](ByteView b) { return PedRequest::parse(b); });

  // pedserver's own operations never come from the HSM; responses are not requests.
  for (const ped::Op op :
       {ped::Op::derive_session_keys, ped::Op::read_rpk_info, ped::Op::set_remote_session}) {
    PedRequest own;
    own.timeout_ms = 1000;
    own.device_frame =
        SecretBytes::copy_of(ped::DeviceFrame{ped::FrameKind::command, op, 5, {}}.serialize());
    EXPECT_TRUE(fails_with(PedRequest::parse(own.serialize().reveal()), Errc::invalid_encoding))
        << ped::op_name(op);
  }
  PedRequest response_frame;
  response_frame.timeout_ms = 1000;
  response_frame.device_frame = SecretBytes::copy_of(
      ped::DeviceFrame{ped::FrameKind::response, ped::Op::read_secret, 5, ped::ok_response({})}
          .serialize());
  EXPECT_TRUE(
      fails_with(PedRequest::parse(response_frame.serialize().reveal()), Errc::invalid_encoding));

  PedResponse answer;
  answer.device_frame = response_frame.device_frame.clone();
  const SecretBytes answer_body = answer.serialize();
  EXPECT_TRUE(is_ok(PedResponse::parse(answer_body.reveal())));
  expect_truncations_refused(answer_body.reveal(),
                             [](ByteView b) { return PedResponse::parse(b); });
  PedResponse command_as_answer;
  command_as_answer.device_frame = SecretBytes::copy_of(device);
  EXPECT_TRUE(fails_with(PedResponse::parse(command_as_answer.serialize().reveal()),
                         Errc::invalid_encoding));
}

// ---------------------------------------------------------------------------
// Audit (docs/hsm-backend.md §4.7)

AuditRecords audit_batch(std::uint64_t first, std::size_t count) {
  audit::ChainWriter writer(audit::LogSecret{}, first - 1, audit::HmacTag{});
  AuditRecords batch;
  batch.first_seq = first;
  for (std::size_t i = 0; i < count; ++i) {
    audit::AuditEvent event;
    event.unix_time = 1'700'000'000 + static_cast<std::int64_t>(i);
    batch.records.push_back(must(writer.append(event, "record " + std::to_string(i))));
  }
  return batch;
}

TEST(BackendBodies, AuditRecordsRoundTripAndCountTheirLimits) {
  const AuditRecords batch = audit_batch(41, 3);
  const Bytes body = batch.serialize();
  ASSERT_EQ(body.size(), 2 + 3 * audit::kRecordBytes);
  const AuditRecords back = must(AuditRecords::parse(body));
  EXPECT_EQ(back.first_seq, 41u);
  EXPECT_EQ(back.last_seq(), 43u);
  EXPECT_EQ(back.records, batch.records);
  expect_truncations_refused(body, [](ByteView b) { return AuditRecords::parse(b); });

  const Bytes full = audit_batch(1, kMaxAuditBatch).serialize();
  EXPECT_TRUE(is_ok(AuditRecords::parse(full)));
  EXPECT_LE(full.size() + kBackendFrameHeaderBytes, kMaxBackendFrameBytes);
  Bytes too_many = full;
  too_many[0] = static_cast<std::uint8_t>((kMaxAuditBatch + 1) >> 8);
  too_many[1] = static_cast<std::uint8_t>(kMaxAuditBatch + 1);
  EXPECT_TRUE(fails_with(AuditRecords::parse(too_many), Errc::invalid_encoding));
  EXPECT_TRUE(fails_with(AuditRecords::parse(Bytes{0, 0}), Errc::invalid_encoding)) << "empty";
}

TEST(BackendBodies, AuditRecordsRefusesGapsReorderingAndBadLines) {
  AuditRecords batch = audit_batch(10, 3);
  std::swap(batch.records[1], batch.records[2]);  // 10, 12, 11
  EXPECT_TRUE(fails_with(AuditRecords::parse(batch.serialize()), Errc::invalid_encoding));
  batch = audit_batch(10, 3);
  batch.records[1] = batch.records[0];  // 10, 10, 12
  EXPECT_TRUE(fails_with(AuditRecords::parse(batch.serialize()), Errc::invalid_encoding));
  batch = audit_batch(10, 2);
  batch.records[1][audit::kRecordBytes - 1] = 'X';  // no newline
  EXPECT_TRUE(fails_with(AuditRecords::parse(batch.serialize()), Errc::invalid_encoding));
  batch = audit_batch(10, 2);
  batch.records[0][audit::kPrevHmacOffset] = 'g';  // not hex
  EXPECT_TRUE(fails_with(AuditRecords::parse(batch.serialize()), Errc::invalid_encoding));
}

TEST(BackendBodies, AuditAcknowledgementAndResumeRoundTrip) {
  const Bytes ack = AuditRecordsResponse{123456}.serialize();
  EXPECT_EQ(must(AuditRecordsResponse::parse(ack)).durable_seq, 123456u);
  expect_truncations_refused(ack, [](ByteView b) { return AuditRecordsResponse::parse(b); });
  EXPECT_TRUE(fails_with(AuditRecordsResponse::parse(AuditRecordsResponse{audit::kMaxSeq + 1}.serialize()),
                         Errc::invalid_encoding));

  AuditResumeRequest resume;
  resume.last_seq = 77;
  resume.last_prev_hmac.fill(0xAB);
  const Bytes request = resume.serialize();
  const AuditResumeRequest back = must(AuditResumeRequest::parse(request));
  EXPECT_EQ(back.last_seq, 77u);
  EXPECT_EQ(back.last_prev_hmac, resume.last_prev_hmac);
  expect_truncations_refused(request, [](ByteView b) { return AuditResumeRequest::parse(b); });

  AuditResumeResponse answer;
  answer.next_seq = 78;
  answer.head_seq = 90;
  answer.head_hmac.fill(0x5A);
  answer.rotation_interval_s = 86400;
  answer.rotation_bytes = 1 << 20;
  const Bytes response = answer.serialize();
  const AuditResumeResponse parsed = must(AuditResumeResponse::parse(response));
  EXPECT_EQ(parsed.next_seq, 78u);
  EXPECT_EQ(parsed.head_seq, 90u);
  EXPECT_EQ(parsed.head_hmac, answer.head_hmac);
  EXPECT_EQ(parsed.rotation_interval_s, 86400u);
  EXPECT_EQ(parsed.rotation_bytes, 1u << 20);
  expect_truncations_refused(response, [](ByteView b) { return AuditResumeResponse::parse(b); });
  answer.next_seq = 92;  // beyond head + 1: the HSM cannot resume from a record it never wrote
  EXPECT_TRUE(fails_with(AuditResumeResponse::parse(answer.serialize()), Errc::invalid_encoding));
  answer.next_seq = 0;
  EXPECT_TRUE(fails_with(AuditResumeResponse::parse(answer.serialize()), Errc::invalid_encoding));
}

}  // namespace
}  // namespace rped::hsm
