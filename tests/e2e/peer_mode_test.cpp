// PED-initiated mode across the four real processes (issue 6 item 3): the
// PED server dials pedclient's listener (TLS 1.3, both certificates pinned),
// pedclient runs the HSM side of the secure channel over that connection,
// the HSM is told (ped_connection_state) and its PED requests -- an SO login
// -- travel over it; a second connection while it is up is refused; an
// unpinned PED server never gets past TLS; pedserver -mode disconnect ends it
// and the HSM is told.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "e2e/e2e_fixture.h"

namespace rped::e2e::test {
namespace {

class PeerModeTest : public E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    peer_port_ = free_port();
  }

  // The first HSM host's pedclient state directory (E2eTest::start_hsm's naming).
  std::filesystem::path client_state() const { return dir_.path() / "pedclient1"; }
  SpawnOptions first_client_env() const {
    return SpawnOptions{{{"STATE_DIRECTORY", client_state().string()}}, {}, {}, {}, {}};
  }
  Ran pedclient_offline(std::vector<std::string> args) {
    args.insert(args.end(), {"-configfile", config_file().string()});
    return run(kPedclient, args, dir_.path(), first_client_env());
  }
  Ran pedserver_cmd(std::vector<std::string> args) {
    return run(kPedserver, args, dir_.path(), server_env(), kCommandWait);
  }
  std::vector<std::string> listener_options() const {
    return {"-peerport", std::to_string(peer_port_), "-epeer", "0"};
  }

  // Both TLS identities, and the PED server's appliance registration of this
  // pedclient. `pin_server`: pedclient pins the PED server's certificate
  // (otherwise a stranger's).
  void make_identities(bool pin_server) {
    const Ran client = pedclient_offline({"-mode", "regen", "-commonname", "hsm-host"});
    ASSERT_EQ(client.exit_code, 0) << client.err;
    const Ran server = pedserver_cmd({"-regen", "-commonname", "custodian-laptop", "-force"});
    ASSERT_EQ(server.exit_code, 0) << server.err;
    const Ran appliance = pedserver_cmd(
        {"-appliance", "register", "-name", "hsm1", "-certificate",
         (client_state() / "tls" / "pedclient.crt").string(), "-ip", "127.0.0.1", "-port",
         std::to_string(peer_port_)});
    ASSERT_EQ(appliance.exit_code, 0) << appliance.err;
    std::filesystem::path pinned = server_state_ / "tls" / "pedserver.crt";
    if (!pin_server) {
      const auto stranger_state = dir_.path() / "stranger";
      const Ran stranger = run(kPedserver, {"-regen", "-commonname", "stranger", "-force"},
                               dir_.path(),
                               SpawnOptions{{{"STATE_DIRECTORY", stranger_state.string()}}, {}, {}, {}, {}});
      ASSERT_EQ(stranger.exit_code, 0) << stranger.err;
      pinned = stranger_state / "tls" / "pedserver.crt";
    }
    const Ran pin = pedclient_offline(
        {"-pedserver", "register", "-name", "custodian", "-certificate", pinned.string()});
    ASSERT_EQ(pin.exit_code, 0) << pin.err;
    EXPECT_TRUE(contains(pedclient_offline({"-pedserver", "list"}).out, "custodian"));
  }

  nlohmann::json client_status(const HsmHost& h) {
    return nlohmann::json::parse(pedclient(h, {"-mode", "show", "-format", "json"}).out, nullptr,
                                 false);
  }

  // A TCP connection to the listener: true when it is closed on us (EOF or
  // reset) within `wait` without our sending anything.
  bool closed_at_once(std::chrono::milliseconds wait) const {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(peer_port_);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      ::close(fd);
      return false;
    }
    pollfd waiting{fd, POLLIN, 0};
    bool closed = false;
    if (::poll(&waiting, 1, static_cast<int>(wait.count())) > 0) {
      char byte = 0;
      closed = ::recv(fd, &byte, 1, 0) <= 0;
    }
    ::close(fd);
    return closed;
  }

  std::uint16_t peer_port_ = 0;
};

TEST_F(PeerModeTest, PedServerDialsInAndTheSoLogsInOverIt) {
  make_identities(true);
  HsmHost& h = start_all(rpv_init_script() + script::hsm_init() +
                             script::orange_login("blank1", "4321") + script::blue_quorum(),
                         listener_options());
  EXPECT_TRUE(contains(slurp(h.client_log), "for PED-initiated connections")) << slurp(h.client_log);
  // The RPV comes from the ordinary path; then the HSM is initialized and the link closed.
  initialize_rpv_and_connect(h);
  ASSERT_EQ(cmd(h, "hsm init -label peerHSM").exit_code, 0);
  ASSERT_EQ(cmd(h, "ped disconnect").exit_code, 0);
  ASSERT_TRUE(wait_until([&] { return link_state(h) == "Disconnected"; }));

  // The custodian's side dials out.
  const Ran connect = pedserver_cmd(
      {"-mode", "connect", "-name", "hsm1", "-admin", std::to_string(server_admin_)});
  ASSERT_EQ(connect.exit_code, 0) << connect.out << connect.err;
  EXPECT_TRUE(contains(connect.out, "connected to appliance 'hsm1'")) << connect.out;

  // The orange key at the PED; then pedclient reports the link to the HSM.
  ASSERT_TRUE(wait_until([&] { return contains(cmd(h, "ped show").out, "connected to"); }, 60s))
      << cmd(h, "ped show").out;
  const nlohmann::json status = client_status(h);
  ASSERT_TRUE(status.is_object());
  EXPECT_EQ(status["link"]["state"], "established") << status.dump();
  EXPECT_TRUE(contains(status["link"]["origin"].get<std::string>(), "PED-initiated"))
      << status.dump();
  EXPECT_TRUE(contains(cmd(h, "ped show").out, "Full Unified") ||
              contains(cmd(h, "ped show").out, "C(2e,2s)"));

  // The HSM's PED requests go over the PED-initiated link.
  const Ran login = cmd(h, "role login -name so");
  ASSERT_EQ(login.exit_code, 0) << login.out << login.err;
  EXPECT_TRUE(contains(cmd(h, "hsm show").out, "HSM SO"));

  // One link per HSM: a second PED-initiated connection is closed at once.
  EXPECT_TRUE(closed_at_once(5s));
  EXPECT_GE(client_status(h)["peer_listener"]["refused"].get<int>(), 1);

  // The custodian ends it; the HSM is told.
  const Ran off = pedserver_cmd(
      {"-mode", "disconnect", "-name", "hsm1", "-admin", std::to_string(server_admin_)});
  ASSERT_EQ(off.exit_code, 0) << off.err;
  EXPECT_TRUE(wait_until([&] { return link_state(h) == "Disconnected"; }));
  EXPECT_TRUE(wait_until([&] { return contains(cmd(h, "ped show").out, "connection:   none"); }))
      << cmd(h, "ped show").out;
  EXPECT_EQ(cmd(h, "role login -name so").exit_code, 1) << "no PED any more";
}

TEST_F(PeerModeTest, AnUnpinnedPedServerIsRefused) {
  make_identities(false);
  HsmHost& h = start_all("", listener_options());
  Child connect(kPedserver,
                {"-mode", "connect", "-name", "hsm1", "-admin", std::to_string(server_admin_)},
                dir_.path(), server_env());
  ASSERT_TRUE(wait_until([&] { return contains(slurp(h.client_log), "is not pinned"); }))
      << slurp(h.client_log);
  EXPECT_EQ(link_state(h), "Disconnected");
  EXPECT_TRUE(contains(cmd(h, "ped show").out, "connection:   none"));
  EXPECT_GE(client_status(h)["peer_listener"]["refused"].get<int>(), 1);
  pedserver_cmd({"-mode", "disconnect", "-name", "hsm1", "-admin", std::to_string(server_admin_)});
  if (!connect.wait(20s)) {
    connect.terminate();
    connect.wait(5s);
  }
}

TEST_F(PeerModeTest, NoListenerWithoutACertificateAndPinsAreManaged) {
  const auto pem = dir_.path() / "server.pem";
  ASSERT_EQ(run(kPedserver, {"-regen", "-commonname", "x", "-force"}, dir_.path(), server_env())
                .exit_code,
            0);
  const Ran bad_name = pedclient_offline({"-pedserver", "register", "-name", "../x",
                                          "-certificate",
                                          (server_state_ / "tls" / "pedserver.crt").string()});
  EXPECT_EQ(bad_name.exit_code, 1);
  EXPECT_TRUE(contains(bad_name.err, "-name '../x'")) << bad_name.err;
  const Ran not_p521 = pedclient_offline(
      {"-pedserver", "register", "-name", "s", "-certificate",
       (server_state_ / "tls" / "pedserver.key").string()});
  EXPECT_EQ(not_p521.exit_code, 1);
  ASSERT_EQ(pedclient_offline({"-pedserver", "register", "-name", "s", "-certificate",
                               (server_state_ / "tls" / "pedserver.crt").string()})
                .exit_code,
            0);
  const Ran again = pedclient_offline({"-pedserver", "register", "-name", "s", "-certificate",
                                       (server_state_ / "tls" / "pedserver.crt").string()});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_TRUE(contains(again.err, "-force")) << again.err;
  const Ran listed = pedclient_offline({"-pedserver", "list", "-format", "json"});
  EXPECT_EQ(nlohmann::json::parse(listed.out, nullptr, false)["pedservers"][0]["name"], "s")
      << listed.out;
  EXPECT_EQ(pedclient_offline({"-pedserver", "delete", "-name", "s"}).exit_code, 1)
      << "no terminal to confirm";
  EXPECT_EQ(pedclient_offline({"-pedserver", "delete", "-name", "s", "-force"}).exit_code, 0);
  EXPECT_TRUE(contains(pedclient_offline({"-pedserver", "list"}).out, "No PED servers"));

  // Without -mode regen nothing listens, and the client says how to make one.
  HsmHost& h = start_hsm(1234567, listener_options());
  EXPECT_TRUE(contains(slurp(h.client_log), "mode regen")) << slurp(h.client_log);
  EXPECT_TRUE(client_status(h)["peer_listener"].is_null());
  EXPECT_FALSE(closed_at_once(1s)) << "nothing should accept on the peer port";
}

}  // namespace
}  // namespace rped::e2e::test
