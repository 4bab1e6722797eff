// Serving HSMs through the real daemon: a whole SO login over the channel
// (Full Unified with the orange key, then read_secret of the blue keyset), one
// connection at a time, the pre-authentication, idle and ping deadlines, the
// PED unplugged and Remote PED mode left mid-session followed by a working
// reconnection, IPv6, and the admin interface refusing another user.
#include "harness.h"

namespace rped::pedserver::test {
namespace {

using PedServerServing = PedServerTest;
using channel::AlertCode;
using channel::Scheme;

Bytes read_secret_body(ped::KeyType type, const std::string& context) {
  ped::ReadSecretRequest request;
  request.key_type = type;
  request.context = context;
  request.timeout_ms = 30'000;
  return request.serialize();
}

bool contains(const Bytes& haystack, ByteView needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) !=
         haystack.end();
}

const std::string kBlueLogin =
    "expect \"Insert a\" 20s\n"
    "remove\n"
    "insert blue1\n"
    "enter\n"
    "expect \"Enter PED PIN:\" 20s\n"
    "pin 1111\n"
    "expect \"Keys read: 01 of 03\" 20s\n"
    "remove\n"
    "insert blue2\n"
    "enter\n"
    "expect \"Enter PED PIN:\" 20s\n"
    "pin 2222\n"
    "expect \"Keys read: 02 of 03\" 20s\n"
    "remove\n"
    "insert blue3\n"
    "enter\n"
    "expect \"Enter PED PIN:\" 20s\n"
    "pin 3333\n";

TEST_F(PedServerServing, SoLoginOverTheChannelReturnsTheWrappedSecret) {
  start_pedsim(kOrangeLogin + kBlueLogin);
  ASSERT_EQ(start_server().exit_code, 0);

  HsmPeer hsm(tcp_wire(port_), world_, Scheme::full_unified);
  ASSERT_TRUE(hsm.handshake()) << "closed: "
                               << (hsm.closed() ? channel::alert_name(hsm.closed()->code)
                                                : std::string_view("no"));

  nlohmann::json status = show_json();
  ASSERT_TRUE(status["client"].is_object()) << status.dump();
  EXPECT_EQ(status["client"]["hsm_serial"], world_.hsm_serial);
  EXPECT_EQ(status["client"]["state"], "established");
  EXPECT_EQ(status["ped"]["rpk_count"], 1);
  EXPECT_EQ(status["ped"]["rpk_serials"], nlohmann::json::array({world_.rpk_serial}));
  const Ran text = admin({"-mode", "show"});
  EXPECT_NE(text.out.find("Ped2 RPK Serial Numbers:           (7001)"), std::string::npos)
      << text.out;
  const std::size_t serial_line = text.out.find("HSM Serial Number:");
  ASSERT_NE(serial_line, std::string::npos) << text.out;
  EXPECT_NE(
      text.out.substr(serial_line, text.out.find('\n', serial_line) - serial_line).find("1234567"),
      std::string::npos)
      << text.out;

  // SO login: the PED reads 3 of the 5 blue keys; the secret comes back wrapped under the PED
  // side's CWK.
  Bytes channel_form;
  const auto login =
      hsm.call(ped::Op::read_secret, read_secret_body(ped::KeyType::blue, "HSM / SO LOGIN..."),
               kWait, &channel_form);
  ASSERT_TRUE(login.has_value()) << "no answer";
  const auto answer = must(ped::parse_response(login->body));
  ASSERT_EQ(answer.first.status, ped::Status::ok) << answer.first.message;
  const auto secret = must(ped::ReadSecretResponse::parse(answer.second));
  EXPECT_EQ(secret.m, 3);
  EXPECT_EQ(secret.n, 5);
  EXPECT_TRUE(secret.secret == world_.so_secret);
  EXPECT_FALSE(contains(channel_form, world_.so_secret.reveal())) << "the CSP travels wrapped";

  // pedserver's own operations are not for the HSM side to call.
  const auto refused = hsm.call(ped::Op::derive_session_keys, {});
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(must(ped::parse_response(refused->body)).first.status, ped::Status::bad_request);
  const auto get_status = hsm.call(ped::Op::get_status, {});
  ASSERT_TRUE(get_status.has_value());
  const auto ped_status =
      must(ped::StatusResponse::parse(must(ped::parse_response(get_status->body)).second));
  EXPECT_TRUE(ped_status.remote_session) << "pedserver told the PED whom it serves";

  // The HSM ends the session; the PED is free again and the keys are gone.
  hsm.wire().send(hsm.endpoint().close(AlertCode::close_notify).send);
  EXPECT_TRUE(wait_until([&] {
    const nlohmann::json s = show_json();
    return s.is_object() && s["client"].is_null();
  }));
  const std::string log = slurp(log_);
  EXPECT_NE(log.find("keys wiped: yes"), std::string::npos) << log;
  EXPECT_NE(log.find("read_secret (request 1) answered ok"), std::string::npos) << log;
  EXPECT_EQ(log.find(to_hex(world_.so_secret.reveal())), std::string::npos)
      << "no secret in the log";
  EXPECT_EQ(log.find(to_hex(world_.rpv.reveal())), std::string::npos) << "no RPV in the log";
}

TEST_F(PedServerServing, ASecondClientIsRefusedWithPedBusy) {
  start_pedsim();
  ASSERT_EQ(start_server().exit_code, 0);
  auto first = tcp_wire(port_);
  ASSERT_TRUE(first);
  ASSERT_TRUE(wait_until([&] {
    const nlohmann::json s = show_json();
    return s.is_object() && s["client"].is_object();
  }));
  auto second = tcp_wire(port_);
  ASSERT_TRUE(second);
  EXPECT_EQ(read_alert(*second), AlertCode::ped_busy);
  EXPECT_TRUE(wait_until([&] { return second->receive(50ms).has_value() && second->closed; }));
  const nlohmann::json status = show_json();
  EXPECT_EQ(status["connections"]["refused_busy"], 1);
  EXPECT_NE(slurp(log_).find("ped_busy"), std::string::npos);
}

TEST_F(PedServerServing, PreAuthenticationDeadlineDropsASilentClient) {
  start_pedsim();
  ASSERT_EQ(start_server({"-socketreadtimeout", "1"}).exit_code, 0);
  auto silent = tcp_wire(port_);
  ASSERT_TRUE(silent);
  const auto begun = Clock::now();
  EXPECT_EQ(read_alert(*silent, 5s), AlertCode::timeout);
  const auto took = Clock::now() - begun;
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 4s);
  // The PED is free again: the next client is served, not refused.
  EXPECT_TRUE(wait_until([&] {
    const nlohmann::json s = show_json();
    return s.is_object() && s["client"].is_null();
  }));
  auto next = tcp_wire(port_);
  ASSERT_TRUE(next);
  EXPECT_EQ(read_alert(*next, 5s), AlertCode::timeout)
      << "served (and dropped for silence), not ped_busy";
  EXPECT_NE(slurp(log_).find("pre-authentication deadline"), std::string::npos);
}

TEST_F(PedServerServing, IdleTimeoutEndsAnEstablishedSession) {
  start_pedsim(kPasswordEntry);
  ASSERT_EQ(start_server({"-idletimeout", "2"}).exit_code, 0);
  HsmPeer hsm(tcp_wire(port_), world_, Scheme::one_pass_password);
  ASSERT_TRUE(hsm.handshake());
  const auto established = Clock::now();
  ASSERT_TRUE(hsm.wait_closed(8s));
  ASSERT_TRUE(hsm.closed().has_value());
  EXPECT_EQ(hsm.closed()->code, AlertCode::timeout);
  EXPECT_GE(Clock::now() - established, 1800ms);
  EXPECT_NE(slurp(log_).find("(-idletimeout)"), std::string::npos);
}

TEST_F(PedServerServing, PingsKeepAnAnsweringHsmAndDropOneThatStops) {
  start_pedsim(kPasswordEntry);
  ASSERT_EQ(start_server({"-pinginterval", "1", "-pingtimeout", "1"}).exit_code, 0);
  HsmPeer hsm(tcp_wire(port_), world_, Scheme::one_pass_password);
  ASSERT_TRUE(hsm.handshake());
  // Answering (the endpoint answers pings with pongs): still open after several intervals.
  EXPECT_FALSE(hsm.wait_closed(2500ms));
  // Not reading, so not answering: pedserver gives up after interval + timeout.
  ASSERT_TRUE(
      wait_until([&] { return slurp(log_).find("no answer to a ping") != std::string::npos; }, 6s));
  ASSERT_TRUE(hsm.wait_closed(2s));
  ASSERT_TRUE(hsm.closed().has_value());
  EXPECT_EQ(hsm.closed()->code, AlertCode::timeout);
}

// -internalshutdowntimeout: an HSM that floods pings and never reads leaves
// pedserver's writer stuck behind a closed TCP window, so the close_notify at
// stop cannot go out; the session is cut after the internal shutdown timeout
// (1 s) rather than after -socketwritetimeout (300 s), and the stop completes.
TEST_F(PedServerServing, StopCutsASessionThatDoesNotCloseInTime) {
  start_pedsim(kPasswordEntry);
  ASSERT_EQ(start_server({"-internalshutdowntimeout", "1", "-socketwritetimeout", "300"}).exit_code,
            0);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int small = 4096;  // a small window fills quickly
  ASSERT_EQ(::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port_);
  ::inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  HsmPeer hsm(std::make_unique<TcpWire>(fd), world_, Scheme::one_pass_password);
  ASSERT_TRUE(hsm.handshake());

  // Pings until pedserver stops reading (its pongs cannot go out); never read.
  Bytes pending;
  std::uint64_t pings = 0;
  bool stuck = false;
  const auto give_up = Clock::now() + 30s;
  while (!stuck && Clock::now() < give_up) {
    if (pending.empty()) {
      Bytes payload;
      append_u64_be(payload, ++pings);
      pending = must(hsm.endpoint().ping(payload)).send;
    }
    const ssize_t n = ::send(fd, pending.data(), pending.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      pending.erase(pending.begin(), pending.begin() + n);
      continue;
    }
    ASSERT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK) << std::strerror(errno);
    pollfd writable{fd, POLLOUT, 0};
    stuck = ::poll(&writable, 1, 1000) == 0;
  }
  ASSERT_TRUE(stuck) << "pedserver kept reading after " << pings << " pings";

  const auto before = Clock::now();
  const Ran stopped = admin({"-mode", "stop"});
  EXPECT_EQ(stopped.exit_code, 0) << stopped.err;
  started_ = stopped.exit_code != 0;
  EXPECT_LT(Clock::now() - before, 10s);
  const std::string log = slurp(log_);
  EXPECT_NE(log.find("the session did not close within 1 s (-internalshutdowntimeout): cutting it"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("keys wiped: yes"), std::string::npos);
  EXPECT_NE(log.find("pedserver stopped"), std::string::npos);
}

TEST_F(PedServerServing, PedUnpluggedMidSessionThenTheNextConnectionWorks) {
  start_pedsim(kPasswordEntry +
               "expect \"Insert a\" 20s\n"
               "unplug\n"
               "wait 300ms\n"
               "replug\n" +
               kPasswordEntry);
  ASSERT_EQ(start_server().exit_code, 0);
  {
    HsmPeer hsm(tcp_wire(port_), world_, Scheme::one_pass_password);
    ASSERT_TRUE(hsm.handshake());
    EXPECT_FALSE(hsm.call(ped::Op::read_secret, read_secret_body(ped::KeyType::blue, "SO LOGIN"))
                     .has_value());
    ASSERT_TRUE(hsm.wait_closed());
    ASSERT_TRUE(hsm.closed().has_value());
    EXPECT_EQ(hsm.closed()->code, AlertCode::ped_unplugged);
  }
  ASSERT_TRUE(wait_until([&] { return ped_connected(); })) << "pedserver found the replugged PED";
  HsmPeer again(tcp_wire(port_), world_, Scheme::one_pass_password);
  ASSERT_TRUE(again.handshake()) << "no restart needed";
  const auto status = again.call(ped::Op::get_status, {});
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(must(ped::parse_response(status->body)).first.status, ped::Status::ok);
  EXPECT_EQ(show_json()["connections"]["sessions"], 2);
}

TEST_F(PedServerServing, LeavingRemotePedModeEndsTheSessionAndReenteringServesAgain) {
  start_pedsim(kPasswordEntry +
               "expect \"Awaiting command...\" 20s\n"
               "exit-remote\n"
               "wait 200ms\n"
               "mode remote\n" +
               kPasswordEntry);
  ASSERT_EQ(start_server().exit_code, 0);
  {
    HsmPeer hsm(tcp_wire(port_), world_, Scheme::one_pass_password);
    (void)hsm.handshake();
    ASSERT_TRUE(hsm.wait_closed());
    ASSERT_TRUE(hsm.closed().has_value());
    EXPECT_EQ(hsm.closed()->code, AlertCode::remote_mode_exited);
  }
  ASSERT_TRUE(wait_until([&] {
    const nlohmann::json s = show_json();
    return s.is_object() && s["client"].is_null() && s["ped"]["mode"] == "Remote PED";
  }));
  HsmPeer again(tcp_wire(port_), world_, Scheme::one_pass_password);
  EXPECT_TRUE(again.handshake());
}

TEST_F(PedServerServing, AnIpv6LiteralJustWorks) {
  start_pedsim(kPasswordEntry);
  ASSERT_EQ(start_server({"-ip", "::1"}).exit_code, 0);
  auto wire = tcp_wire(port_, "::1");
  ASSERT_TRUE(wire) << "listening on [::1]";
  HsmPeer hsm(std::move(wire), world_, Scheme::one_pass_password);
  EXPECT_TRUE(hsm.handshake());
  EXPECT_NE(show_json()["client"]["peer"].get<std::string>().find("[::1]:"), std::string::npos);
}

TEST_F(PedServerServing, AdminRefusesAnotherUser) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "needs root to run the client as another user (nobody)";
  }
  start_pedsim();
  ASSERT_EQ(start_server().exit_code, 0);
  const auto home = dir_.path() / "nobody";
  std::filesystem::create_directories(home);
  ASSERT_EQ(::chown(home.c_str(), kNobody, kNogroup), 0);
  const SpawnOptions nobody{
      {{"HOME", home.string()}}, {"XDG_CONFIG_HOME", "XDG_STATE_HOME"}, kNobody, kNogroup, {}};
  const Ran stop = admin({"-mode", "stop"}, nobody);
  EXPECT_EQ(stop.exit_code, 1);
  EXPECT_NE(
      stop.err.find(
          "permission denied: only the user who started pedserver (uid 0) or root may stop it"),
      std::string::npos)
      << stop.err;
  EXPECT_EQ(line_count(stop.err), 1u);
  const Ran show = admin({"-mode", "show"}, nobody);
  EXPECT_EQ(show.exit_code, 1);
  EXPECT_NE(show.err.find("permission denied"), std::string::npos) << show.err;

  // A request with a guessed token is refused by the server itself.
  auto wire = tcp_wire(admin_);
  ASSERT_TRUE(wire);
  const std::string request = R"({"command":"stop","token":"00112233"})"
                              "\n";
  ASSERT_TRUE(
      wire->send(ByteView(reinterpret_cast<const std::uint8_t*>(request.data()), request.size())));
  std::string answer;
  ASSERT_TRUE(wait_until([&] {
    if (auto bytes = wire->receive(50ms)) {
      answer.append(bytes->begin(), bytes->end());
    }
    return answer.find('\n') != std::string::npos;
  }));
  const auto document = nlohmann::json::parse(answer, nullptr, false);
  EXPECT_EQ(document["ok"], false) << answer;
  EXPECT_NE(document.value("error", "").find("permission denied"), std::string::npos) << answer;
  EXPECT_TRUE(ped_connected()) << "still running";
}

}  // namespace
}  // namespace rped::pedserver::test

namespace rped::pedserver::test {
namespace {

TEST_F(PedServerTest, StopEndsTheSessionWithCloseNotify) {
  start_pedsim(kPasswordEntry);
  ASSERT_EQ(start_server().exit_code, 0);
  HsmPeer hsm(tcp_wire(port_), world_, channel::Scheme::one_pass_password);
  ASSERT_TRUE(hsm.handshake());
  const Ran stopped = admin({"-mode", "stop"});
  EXPECT_EQ(stopped.exit_code, 0) << stopped.err;
  started_ = false;
  ASSERT_TRUE(hsm.wait_closed());
  ASSERT_TRUE(hsm.closed().has_value());
  EXPECT_EQ(hsm.closed()->code, channel::AlertCode::close_notify);
}

}  // namespace
}  // namespace rped::pedserver::test
