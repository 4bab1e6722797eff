// The two endpoints interoperate in both schemes and both directions.
// Negative cases live in channel_negative_test.cpp.
#include <gtest/gtest.h>

#include "rped/channel/endpoint.h"
#include "support/channel_harness.h"
#include "support/result_assertions.h"

namespace rped::channel {
namespace {

using test::bytes_of;
using test::ChannelLink;
using test::ChannelWorld;
using test::is_ok;
using test::must;

class ChannelInterop : public ::testing::TestWithParam<Scheme> {
 protected:
  ChannelWorld world_;
};

TEST_P(ChannelInterop, EstablishesAndCarriesDataBothWays) {
  ChannelLink link(world_, GetParam());
  link.run();
  ASSERT_EQ(link.hsm.state(), State::established);
  ASSERT_EQ(link.ped.state(), State::established);

  // Each side saw exactly one key request (its device) and one EstablishedEvent.
  const auto count = [](const std::vector<Event>& events, auto tag) {
    return std::count_if(events.begin(), events.end(),
                         [](const Event& e) { return std::holds_alternative<decltype(tag)>(e); });
  };
  EXPECT_EQ(count(link.hsm_events, KeyRequestEvent{}), 1);
  EXPECT_EQ(count(link.ped_events, KeyRequestEvent{}), 1);
  ASSERT_EQ(count(link.ped_events, EstablishedEvent{}), 1);
  const auto* established = std::get_if<EstablishedEvent>(&link.ped_events.back());
  ASSERT_NE(established, nullptr);
  EXPECT_EQ(established->hsm_serial, world_.hsm_serial);
  EXPECT_EQ(established->scheme, GetParam());
  EXPECT_EQ(established->rpk_serial, GetParam() == Scheme::full_unified ? world_.rpk_serial : 0u);
  EXPECT_NE(established->peer_certificate_subject.find("serialNumber=1234567"), std::string::npos)
      << established->peer_certificate_subject;

  // Application data, several records each way, including an empty and a maximal one.
  const Bytes big(kMaxRecordPlaintext, 0xA5);
  link.pump({}, must(link.ped.send(bytes_of("SO login, 3 of 5"))));
  link.pump(must(link.hsm.send(bytes_of("Insert a SO / HSM Admin PED Key (BLUE)"))), {});
  link.pump(must(link.hsm.send({})), {});
  link.pump({}, must(link.ped.send(big)));
  const auto hsm_got = ChannelLink::data(link.hsm_events);
  const auto ped_got = ChannelLink::data(link.ped_events);
  ASSERT_EQ(hsm_got.size(), 2u);
  EXPECT_EQ(hsm_got[0], bytes_of("SO login, 3 of 5"));
  EXPECT_EQ(hsm_got[1], big);
  ASSERT_EQ(ped_got.size(), 2u);
  EXPECT_EQ(ped_got[0], bytes_of("Insert a SO / HSM Admin PED Key (BLUE)"));
  EXPECT_TRUE(ped_got[1].empty());

  // Nothing of the plaintext is visible on the wire.
  for (const Bytes& chunk : link.ped_sent) {
    const std::string wire(chunk.begin(), chunk.end());
    EXPECT_EQ(wire.find("SO login"), std::string::npos);
  }
}

TEST_P(ChannelInterop, PingIsAnsweredWithTheSamePayload) {
  ChannelLink link(world_, GetParam());
  link.run();
  link.pump({}, must(link.ped.ping(bytes_of("are you there"))));
  bool got_pong = false;
  for (const Event& e : link.ped_events) {
    if (const auto* pong = std::get_if<PongEvent>(&e)) {
      got_pong = pong->payload == bytes_of("are you there");
    }
  }
  EXPECT_TRUE(got_pong);
  EXPECT_TRUE(ChannelLink::data(link.hsm_events).empty());  // a ping is not application data
}

TEST_P(ChannelInterop, CspsAreWrappedUnderTheSendersCwk) {
  ChannelLink link(world_, GetParam());
  link.run();
  const Bytes secret(32, 0x5C);
  const Bytes from_ped = must(link.ped.wrap_csp(secret));
  const Bytes from_hsm = must(link.hsm.wrap_csp(secret));
  EXPECT_EQ(from_ped.size(), secret.size() + 8);
  EXPECT_NE(from_ped, from_hsm);  // one CWK per direction
  const SecretBytes unwrapped = must(link.hsm.unwrap_csp(from_ped));
  EXPECT_TRUE(constant_time_equal(unwrapped.reveal(), secret));
  EXPECT_TRUE(test::fails_with(link.ped.unwrap_csp(from_ped), Errc::unwrap_failed));  // not its own direction
  EXPECT_TRUE(is_ok(link.ped.unwrap_csp(from_hsm)));
}

TEST_P(ChannelInterop, OrderlyCloseReachesThePeerAuthenticatedAndWipesKeys) {
  ChannelLink link(world_, GetParam());
  link.run();
  EXPECT_TRUE(link.ped.holds_key_material());
  link.pump({}, link.ped.close(AlertCode::remote_mode_exited));
  const auto closed = ChannelLink::closed(link.hsm_events);
  ASSERT_TRUE(closed.has_value());
  EXPECT_EQ(closed->code, AlertCode::remote_mode_exited);
  EXPECT_TRUE(closed->by_peer);
  EXPECT_EQ(link.hsm.state(), State::closed);
  EXPECT_FALSE(link.hsm.holds_key_material());
  EXPECT_FALSE(link.ped.holds_key_material());
  // The close travelled as a sealed record, not a clear Alert.
  EXPECT_EQ(link.ped_sent.back().at(1), static_cast<std::uint8_t>(MessageType::record));
}

TEST_P(ChannelInterop, BytesMayArriveOneAtATime) {
  ChannelLink link(world_, GetParam());
  // Re-chunk everything into single bytes by feeding each output one byte at a time.
  Output from_hsm = link.hsm.start();
  Output from_ped;
  for (int round = 0; round < 8 && link.ped.state() != State::established; ++round) {
    Output to_ped_events;
    for (const std::uint8_t b : from_hsm.send) {
      Output o = link.ped.receive(ByteView(&b, 1));
      for (auto& e : o.events) {
        if (std::holds_alternative<IdentityEvent>(e)) {
          o = link.ped.complete_identity({});  // the custodian's YES
          break;
        }
      }
      for (auto& e : o.events) {
        if (auto* r = std::get_if<KeyRequestEvent>(&e)) {
          o = link.ped.complete_key_request(link.ped_device(r->request));
          break;
        }
      }
      from_ped.send.insert(from_ped.send.end(), o.send.begin(), o.send.end());
    }
    from_hsm = {};
    for (const std::uint8_t b : from_ped.send) {
      Output o = link.hsm.receive(ByteView(&b, 1));
      for (auto& e : o.events) {
        if (auto* r = std::get_if<KeyRequestEvent>(&e)) {
          o = link.hsm.complete_key_request(link.hsm_device(r->request));
          break;
        }
      }
      from_hsm.send.insert(from_hsm.send.end(), o.send.begin(), o.send.end());
    }
    from_ped = {};
  }
  EXPECT_EQ(link.ped.state(), State::established);
  EXPECT_EQ(link.hsm.state(), State::established);
}

INSTANTIATE_TEST_SUITE_P(BothSchemes, ChannelInterop, ::testing::Values(Scheme::full_unified, Scheme::one_pass_password),
                         [](const ::testing::TestParamInfo<Scheme>& param_info) {
                           return param_info.param == Scheme::full_unified ? std::string("FullUnified")
                                                                      : std::string("OnePassPassword");
                         });

// The orange key is read only once the HSM has chosen Full Unified.
TEST(ChannelLazyRpk, PedAsksForTheRpkOnlyForFullUnified) {
  ChannelWorld world;
  for (const Scheme scheme : {Scheme::full_unified, Scheme::one_pass_password}) {
    PedEndpointConfig ped_cfg = world.ped_config(scheme);
    ped_cfg.rpk_certificate.reset();
    ped_cfg.rpk_serial = 0;
    ped_cfg.request_rpk_from_device = true;
    ped_cfg.allow_password_mode = true;
    ChannelLink link(world, world.hsm_config(scheme), std::move(ped_cfg));
    int rpk_reads = 0;
    link.rpk_source = [&]() -> Result<RpkInfo> {
      ++rpk_reads;
      return RpkInfo{world.rpk_cert, world.rpk_serial};
    };
    link.run();
    EXPECT_EQ(link.ped.state(), State::established) << scheme_name(scheme);
    EXPECT_EQ(rpk_reads, scheme == Scheme::full_unified ? 1 : 0);
  }
}

TEST(ChannelLazyRpk, AFailedOrangeKeyReadEndsTheSessionWithDeviceFailure) {
  ChannelWorld world;
  PedEndpointConfig ped_cfg = world.ped_config(Scheme::full_unified);
  ped_cfg.rpk_certificate.reset();
  ped_cfg.request_rpk_from_device = true;
  ChannelLink link(world, world.hsm_config(Scheme::full_unified), std::move(ped_cfg));
  link.rpk_source = []() -> Result<RpkInfo> { return make_error(Errc::invalid_argument, "timeout"); };
  link.run();
  const auto ped_closed = ChannelLink::closed(link.ped_events);
  ASSERT_TRUE(ped_closed.has_value());
  EXPECT_EQ(ped_closed->code, AlertCode::device_failure);
  const auto hsm_closed = ChannelLink::closed(link.hsm_events);
  ASSERT_TRUE(hsm_closed.has_value());
  EXPECT_EQ(hsm_closed->code, AlertCode::device_failure);
  EXPECT_TRUE(hsm_closed->by_peer);
}

TEST(OneTimePassword, IsEightUniformDigits) {
  for (int i = 0; i < 50; ++i) {
    const SecretBytes otp = must(generate_one_time_password());
    EXPECT_TRUE(is_ok(check_supp_priv_info(Scheme::one_pass_password, otp.reveal())));
  }
}

}  // namespace
}  // namespace rped::channel
