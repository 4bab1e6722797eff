// The handshake as a table of (state, message) pairs (ENGINEERING.md
// conventions 5 and 12): every state either side can be in meets a well-formed
// frame of every message type. The pairs of the documented table advance the
// handshake (Alerts end the session by_peer in every open state until the peer
// has proven its keys); every other
// pair ends the session with exactly unexpected_message, wipes the keys, and
// tells the peer. A closed endpoint ignores everything.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "rped/channel/endpoint.h"
#include "rped/channel/messages.h"
#include "support/channel_harness.h"
#include "support/result_assertions.h"

namespace rped::channel {
namespace {

using test::bytes_of;
using test::ChannelLink;
using test::key_request_in;
using test::must;

const test::ChannelWorld& world() {
  static const test::ChannelWorld w;
  return w;
}

// Where an endpoint can be: its side and its state.
struct Position {
  Side side;
  State state;
};

constexpr std::array kPositions = {
    Position{Side::hsm, State::hsm_start},
    Position{Side::hsm, State::hsm_await_key_share},
    Position{Side::hsm, State::hsm_await_device},
    Position{Side::hsm, State::established},
    Position{Side::hsm, State::closed},
    Position{Side::ped, State::ped_await_hello},
    Position{Side::ped, State::ped_await_identity},
    Position{Side::ped, State::ped_await_rpk},
    Position{Side::ped, State::ped_await_device},
    Position{Side::ped, State::ped_await_confirm},
    Position{Side::ped, State::established},
    Position{Side::ped, State::closed},
};

// ped_await_rpk exists only in C(2e,2s), when the PED reads its RPK on demand.
bool reachable(Scheme scheme, const Position& at) {
  return at.state != State::ped_await_rpk || scheme == Scheme::full_unified;
}

// Every message type, and type bytes nobody defined.
constexpr std::array<std::uint8_t, 8> kTypes = {
    static_cast<std::uint8_t>(MessageType::hsm_hello),
    static_cast<std::uint8_t>(MessageType::ped_key_share),
    static_cast<std::uint8_t>(MessageType::hsm_confirm),
    static_cast<std::uint8_t>(MessageType::alert),
    static_cast<std::uint8_t>(MessageType::record),
    0x00,
    0x42,
    0xFF,
};

constexpr auto kAlertType = static_cast<std::uint8_t>(MessageType::alert);
constexpr AlertCode kInjectedAlert = AlertCode::remote_mode_exited;

// The documented table (endpoint.h): what each allowed pair leads to. Alerts
// are allowed in every open state and handled separately.
struct Allowed {
  State state;
  MessageType type;
  State next;
};
constexpr std::array kAllowed = {
    Allowed{State::hsm_await_key_share, MessageType::ped_key_share, State::hsm_await_device},
    Allowed{State::ped_await_hello, MessageType::hsm_hello, State::ped_await_identity},
    Allowed{State::ped_await_confirm, MessageType::hsm_confirm, State::established},
    Allowed{State::established, MessageType::record, State::established},
};

std::optional<Allowed> allowed(State state, std::uint8_t type) {
  for (const Allowed& a : kAllowed) {
    if (a.state == state && static_cast<std::uint8_t>(a.type) == type) {
      return a;
    }
  }
  return std::nullopt;
}

struct Pair {
  Scheme scheme;
  Position at;
  std::uint8_t type;
};

void PrintTo(const Pair& p, std::ostream* os) {
  *os << scheme_name(p.scheme) << ", " << (p.at.side == Side::hsm ? "HSM " : "PED ")
      << state_name(p.at.state) << " <- " << message_type_name(p.type) << " (0x" << std::hex
      << int{p.type} << std::dec << ")";
}

std::vector<Pair> all_pairs() {
  std::vector<Pair> pairs;
  for (const Scheme scheme : {Scheme::full_unified, Scheme::one_pass_password}) {
    for (const Position& at : kPositions) {
      if (!reachable(scheme, at)) {
        continue;
      }
      for (const std::uint8_t type : kTypes) {
        pairs.push_back({scheme, at, type});
      }
    }
  }
  return pairs;
}

// Well-formed frames of every type from one reference session, so that a
// frame from the session under test is never needed to provoke a rejection.
struct ReferenceFrames {
  std::map<std::uint8_t, Bytes> to_hsm;  // what a PED could send
  std::map<std::uint8_t, Bytes> to_ped;  // what an HSM could send
};

const ReferenceFrames& reference_frames(Scheme scheme) {
  static std::map<Scheme, ReferenceFrames> cache;
  if (const auto it = cache.find(scheme); it != cache.end()) {
    return it->second;
  }
  ChannelLink link(world(), scheme);
  link.run();
  if (link.hsm.state() != State::established || link.ped.state() != State::established) {
    throw std::runtime_error("reference session did not establish");
  }
  ReferenceFrames f;
  const auto hello = static_cast<std::uint8_t>(MessageType::hsm_hello);
  const auto share = static_cast<std::uint8_t>(MessageType::ped_key_share);
  const auto confirm = static_cast<std::uint8_t>(MessageType::hsm_confirm);
  const auto record = static_cast<std::uint8_t>(MessageType::record);
  for (auto* side : {&f.to_hsm, &f.to_ped}) {
    (*side)[hello] = link.hsm_sent.at(0);
    (*side)[share] = link.ped_sent.at(0);
    (*side)[confirm] = link.hsm_sent.at(1);
    (*side)[kAlertType] = frame(MessageType::alert, Alert{kInjectedAlert}.serialize());
    for (const std::uint8_t unknown : kTypes) {
      if (message_type_name(unknown) == "unknown") {
        (*side)[unknown] = frame(static_cast<MessageType>(unknown), bytes_of("??"));
      }
    }
  }
  f.to_hsm[record] = must(link.ped.send(bytes_of("from another session"))).send;
  f.to_ped[record] = must(link.hsm.send(bytes_of("from another session"))).send;
  return cache.emplace(scheme, std::move(f)).first->second;
}

// A fresh link driven until one endpoint is at the position, with the frame
// the peer of that session would send it next (for the allowed pair).
struct Staged {
  std::unique_ptr<ChannelLink> link;
  Endpoint* target = nullptr;
  Endpoint* peer = nullptr;
  Bytes genuine_next;
};

bool has_identity_event(const Output& out) {
  for (const Event& e : out.events) {
    if (std::holds_alternative<IdentityEvent>(e)) {
      return true;
    }
  }
  return false;
}

Staged stage(Scheme scheme, const Position& at) {
  Staged s;
  PedEndpointConfig ped_cfg = world().ped_config(scheme);
  if (at.state == State::ped_await_rpk) {
    ped_cfg.rpk_certificate.reset();  // read from the orange key when the HSM asks for C(2e,2s)
    ped_cfg.request_rpk_from_device = true;
  }
  s.link = std::make_unique<ChannelLink>(world(), world().hsm_config(scheme), std::move(ped_cfg));
  ChannelLink& l = *s.link;
  s.target = at.side == Side::hsm ? &l.hsm : &l.ped;
  s.peer = at.side == Side::hsm ? &l.ped : &l.hsm;
  const auto reached = [&](Side side, State state) { return at.side == side && at.state == state; };
  if (reached(Side::hsm, State::hsm_start)) {
    return s;
  }
  const Bytes hello = l.hsm.start().send;
  if (reached(Side::ped, State::ped_await_hello)) {
    s.genuine_next = hello;
    return s;
  }
  const Output ped_identity = l.ped.receive(hello);
  if (reached(Side::ped, State::ped_await_identity)) {
    return s;  // the custodian has not answered yet
  }
  if (!has_identity_event(ped_identity)) {
    throw std::runtime_error("the PED side did not ask the custodian about the HSM");
  }
  const Output ped_asks = l.ped.complete_identity({});
  if (reached(Side::ped, State::ped_await_rpk) || reached(Side::ped, State::ped_await_device)) {
    return s;  // the RPK or key request stays unanswered
  }
  const Bytes share = l.ped.complete_key_request(l.ped_device(key_request_in(ped_asks))).send;
  if (reached(Side::hsm, State::hsm_await_key_share)) {
    s.genuine_next = share;
    return s;
  }
  const Output hsm_asks = l.hsm.receive(share);
  if (reached(Side::hsm, State::hsm_await_device)) {
    return s;
  }
  const Bytes confirm = l.hsm.complete_key_request(l.hsm_device(key_request_in(hsm_asks))).send;
  if (reached(Side::ped, State::ped_await_confirm)) {
    s.genuine_next = confirm;
    return s;
  }
  l.pump({}, l.ped.receive(confirm));
  if (at.state == State::closed) {
    Output bye = s.target->close(AlertCode::close_notify);
    if (at.side == Side::hsm) {
      l.pump(std::move(bye), {});
    } else {
      l.pump({}, std::move(bye));
    }
    return s;
  }
  s.genuine_next = must(s.peer->send(bytes_of("genuine"))).send;
  return s;
}

std::optional<ClosedEvent> closed_in(const Output& out) {
  for (const Event& e : out.events) {
    if (const auto* c = std::get_if<ClosedEvent>(&e)) {
      return *c;
    }
  }
  return std::nullopt;
}

template <typename E>
bool has_event(const Output& out) {
  for (const Event& e : out.events) {
    if (std::holds_alternative<E>(e)) {
      return true;
    }
  }
  return false;
}

class ChannelStateTable : public ::testing::TestWithParam<Pair> {
 public:
  static void TearDownTestSuite() {
    std::cout << "[ state table ] walked " << walked_ << " (state, message) pairs: " << advanced_
              << " advanced by the table, " << alerts_ << " ended by an Alert, " << rejected_
              << " rejected with unexpected_message, " << ignored_ << " ignored when closed\n";
  }

 protected:
  static inline std::size_t walked_ = 0;
  static inline std::size_t advanced_ = 0;
  static inline std::size_t alerts_ = 0;
  static inline std::size_t rejected_ = 0;
  static inline std::size_t ignored_ = 0;
};

TEST_P(ChannelStateTable, OnlyTheDocumentedPairsAreAccepted) {
  const Pair& p = GetParam();
  Staged s = stage(p.scheme, p.at);
  Endpoint& target = *s.target;
  ASSERT_EQ(target.state(), p.at.state);
  const bool target_is_hsm = p.at.side == Side::hsm;
  const std::optional<Allowed> rule = allowed(p.at.state, p.type);
  const ReferenceFrames& refs = reference_frames(p.scheme);
  const Bytes& input =
      rule ? s.genuine_next : (target_is_hsm ? refs.to_hsm : refs.to_ped).at(p.type);
  ASSERT_FALSE(input.empty());
  ++walked_;

  Output out = target.receive(input);
  const std::optional<ClosedEvent> closed = closed_in(out);

  if (p.at.state == State::closed) {
    EXPECT_TRUE(out.send.empty());
    EXPECT_TRUE(out.events.empty());
    EXPECT_EQ(target.state(), State::closed);
    ++ignored_;
    return;
  }
  // A clear Alert is believed until the peer has proven its keys (docs/protocol.md
  // §3.4): for the PED that happens on establishment (tag_V verified); the HSM
  // is established before the PED's first record, so it still believes one.
  const bool alert_believed = !(p.at.state == State::established && !target_is_hsm);
  if (p.type == kAlertType && alert_believed) {
    ASSERT_TRUE(closed.has_value());
    EXPECT_EQ(closed->code, kInjectedAlert);
    EXPECT_TRUE(closed->by_peer);
    EXPECT_TRUE(out.send.empty());
    EXPECT_EQ(target.state(), State::closed);
    EXPECT_FALSE(target.holds_key_material());
    ++alerts_;
    return;
  }
  if (rule) {
    EXPECT_FALSE(closed.has_value()) << closed->detail;
    EXPECT_EQ(target.state(), rule->next);
    switch (rule->type) {
      case MessageType::ped_key_share:
        EXPECT_TRUE(has_event<KeyRequestEvent>(out));
        break;
      case MessageType::hsm_hello:
        // docs/attestation.md §6: the custodian is asked before any key is read.
        EXPECT_TRUE(has_event<IdentityEvent>(out));
        EXPECT_FALSE(has_event<KeyRequestEvent>(out));
        EXPECT_FALSE(has_event<RpkRequestEvent>(out));
        break;
      case MessageType::hsm_confirm:
        EXPECT_TRUE(has_event<EstablishedEvent>(out));
        break;
      case MessageType::record:
        EXPECT_TRUE(has_event<DataEvent>(out));
        break;
      default:
        ADD_FAILURE() << "the table names a type the test does not know";
        break;
    }
    ++advanced_;
    return;
  }

  ASSERT_TRUE(closed.has_value()) << "the endpoint accepted a message outside the table";
  EXPECT_EQ(closed->code, AlertCode::unexpected_message) << closed->detail;
  EXPECT_FALSE(closed->by_peer);
  EXPECT_EQ(target.state(), State::closed);
  EXPECT_FALSE(target.holds_key_material());
  if (p.at.state == State::established) {
    // Authenticated close: the peer learns the code from a sealed record.
    ASSERT_FALSE(out.send.empty());
    EXPECT_EQ(out.send.at(1), static_cast<std::uint8_t>(MessageType::record));
    ChannelLink& l = *s.link;
    if (target_is_hsm) {
      l.pump(std::move(out), {});
    } else {
      l.pump({}, std::move(out));
    }
    const auto peer_closed = ChannelLink::closed(target_is_hsm ? l.ped_events : l.hsm_events);
    ASSERT_TRUE(peer_closed.has_value());
    EXPECT_EQ(peer_closed->code, AlertCode::unexpected_message);
    EXPECT_TRUE(peer_closed->by_peer);
    EXPECT_FALSE(s.peer->holds_key_material());
  } else {
    EXPECT_EQ(out.send,
              frame(MessageType::alert, Alert{AlertCode::unexpected_message}.serialize()));
  }
  ++rejected_;
}

INSTANTIATE_TEST_SUITE_P(Channel, ChannelStateTable, ::testing::ValuesIn(all_pairs()),
                         [](const ::testing::TestParamInfo<Pair>& param_info) {
                           const Pair& p = param_info.param;
                           std::string name =
                               p.scheme == Scheme::full_unified ? "FullUnified_" : "OnePass_";
                           name += p.at.side == Side::hsm ? "hsm_" : "ped_";
                           name += std::string(state_name(p.at.state)) + "_";
                           const std::string_view type = message_type_name(p.type);
                           name += type == "unknown" ? "type" + std::to_string(p.type)
                                                     : std::string(type);
                           return name;
                         });

// The pair list covers every position and type exactly once per scheme, and
// the table has exactly the four documented entries.
TEST(ChannelStateTableCoverage, PairsAreGeneratedForEveryPositionAndType) {
  const std::vector<Pair> pairs = all_pairs();
  // ped_await_rpk is walked in C(2e,2s) only.
  EXPECT_EQ(pairs.size(), (2 * kPositions.size() - 1) * kTypes.size());
  std::size_t allowed_pairs = 0;
  for (const Pair& p : pairs) {
    allowed_pairs += allowed(p.at.state, p.type) && p.at.state != State::closed ? 1 : 0;
  }
  // Per scheme: one allowed message in each of the three awaiting states, and
  // records in established on both sides.
  EXPECT_EQ(allowed_pairs, 2u * 5u);
  std::cout << "[ state table ] " << pairs.size() << " (state, message) pairs generated\n";
}

}  // namespace
}  // namespace rped::channel
