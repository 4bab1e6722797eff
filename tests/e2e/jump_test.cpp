// Remote PED through a firewall, for real (issue 8 item 7):
//
// 1. Jump server: a real OpenSSH sshd on a loopback port (host and client keys
//    made on the spot), pedserver listening on loopback only (-eserverport 0)
//    and reachable solely through `ssh -N -R <jump>:127.0.0.1:<pedserver>`;
//    the HSM connects to the jump port: remote RPV initialization, ped connect
//    with the orange key and an SO login all go through the tunnel.
// 2. One-way firewall: pedserver in its own network namespace whose nftables
//    input policy drops every new inbound connection; the HSM's `ped connect`
//    cannot reach it, PED-initiated mode can (pedserver dials pedclient's
//    listener), and the SO logs in over that connection.
//
// Each is skipped, with the reason printed, where the tools or privileges
// are missing (sshd/ssh/ssh-keygen; root, ip netns, nft).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "e2e/e2e_fixture.h"

namespace rped::e2e::test {
namespace {

std::string find_tool(const std::string& name) {
  for (const char* directory : {"/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin",
                                "/usr/local/bin"}) {
    const std::filesystem::path candidate = std::filesystem::path(directory) / name;
    if (::access(candidate.c_str(), X_OK) == 0) {
      return candidate.string();
    }
  }
  return {};
}

bool accepts(const std::string& ip, std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  ::inet_pton(AF_INET, ip.c_str(), &address.sin_addr);
  const bool connected = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return connected;
}

// The remote RPV initialization, ped connect, hsm init and SO login, through
// the PED server at `ip`:`port`.
inline std::string full_script() {
  return rpv_init_script() + script::hsm_init() + script::blue_quorum();
}

class JumpServerTest : public E2eTest {
 protected:
  void TearDown() override {
    stop(ssh_);
    stop(sshd_);
    E2eTest::TearDown();
    if (HasFailure()) {
      std::cerr << "---- sshd ----\n" << slurp(dir_.path() / "sshd.log") << "\n";
    }
  }

  // sshd with a fresh host key, accepting a fresh client key for this user.
  // Returns the reason to skip, or empty.
  std::string start_sshd() {
    const std::string sshd = find_tool("sshd");
    ssh_binary_ = find_tool("ssh");
    const std::string keygen = find_tool("ssh-keygen");
    if (sshd.empty() || ssh_binary_.empty() || keygen.empty()) {
      return "OpenSSH is not installed (sshd, ssh, ssh-keygen: scripts/bootstrap installs "
             "openssh-server and openssh-client)";
    }
    const passwd* const me = ::getpwuid(::geteuid());
    if (me == nullptr) {
      return "this user has no passwd entry (sshd cannot log it in)";
    }
    user_ = me->pw_name;
    // sshd insists on its privilege-separation directory when started as root.
    if (::geteuid() == 0) {
      std::error_code ignored;
      std::filesystem::create_directories("/run/sshd", ignored);
    }
    ssh_dir_ = dir_.path() / "ssh";
    std::filesystem::create_directories(ssh_dir_);
    for (const std::string key : {"host_key", "client_key"}) {
      const Ran made =
          run(keygen, {"-q", "-t", "ed25519", "-N", "", "-f", (ssh_dir_ / key).string()},
              dir_.path());
      if (made.exit_code != 0) {
        return "ssh-keygen failed: " + made.err;
      }
    }
    std::filesystem::copy_file(ssh_dir_ / "client_key.pub", ssh_dir_ / "authorized_keys");
    sshd_port_ = free_port();
    write_text(ssh_dir_ / "sshd_config",
               "Port " + std::to_string(sshd_port_) +
                   "\nListenAddress 127.0.0.1\nHostKey " + (ssh_dir_ / "host_key").string() +
                   "\nPidFile " + (ssh_dir_ / "sshd.pid").string() +
                   "\nAuthorizedKeysFile " + (ssh_dir_ / "authorized_keys").string() +
                   "\nUsePAM no\nStrictModes no\nPubkeyAuthentication yes\n"
                   "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                   "PermitRootLogin prohibit-password\nAllowTcpForwarding yes\n"
                   "GatewayPorts no\nLogLevel VERBOSE\n");
    sshd_.emplace(sshd,
                  std::vector<std::string>{"-D", "-f", (ssh_dir_ / "sshd_config").string(), "-E",
                                           (dir_.path() / "sshd.log").string()},
                  dir_.path());
    if (!wait_until([&] { return accepts("127.0.0.1", sshd_port_); })) {
      return "sshd did not start: " + sshd_->err() + slurp(dir_.path() / "sshd.log");
    }
    return {};
  }

  // The custodian's side: ssh -N -R jump:127.0.0.1:<pedserver> user@jump.
  void open_tunnel() {
    jump_port_ = free_port();
    ssh_.emplace(ssh_binary_,
                 std::vector<std::string>{
                     "-N", "-v", "-F", "/dev/null", "-i", (ssh_dir_ / "client_key").string(), "-p",
                     std::to_string(sshd_port_), "-o", "BatchMode=yes", "-o",
                     "StrictHostKeyChecking=no", "-o",
                     "UserKnownHostsFile=" + (ssh_dir_ / "known_hosts").string(), "-o",
                     "ExitOnForwardFailure=yes", "-o", "ServerAliveInterval=5", "-R",
                     std::to_string(jump_port_) + ":127.0.0.1:" + std::to_string(server_port_),
                     user_ + "@127.0.0.1"},
                 dir_.path());
    // The forward exists once ssh reports it (-v; probing the port would make
    // a connection to pedserver that the test did not intend).
    ASSERT_TRUE(wait_until([&] { return contains(ssh_->err(), "remote forward success"); }))
        << ssh_->err() << slurp(dir_.path() / "sshd.log");
  }

  std::string ssh_binary_;
  std::string user_;
  std::filesystem::path ssh_dir_;
  std::uint16_t sshd_port_ = 0;
  std::uint16_t jump_port_ = 0;
  std::optional<Child> sshd_;
  std::optional<Child> ssh_;
};

TEST_F(JumpServerTest, PedConnectAndSoLoginThroughAnSshReverseTunnel) {
  if (const std::string why = start_sshd(); !why.empty()) {
    GTEST_SKIP() << why;
  }
  HsmHost& h = start_hsm(1234567);
  start_ped(full_script());
  start_pedserver({"-eserverport", "0"});  // reachable only on loopback: through the tunnel
  open_tunnel();

  const std::string jump = "-ip 127.0.0.1 -port " + std::to_string(jump_port_);
  const Ran otp = cmd(h, "ped connect " + jump + " -password 31415926");
  ASSERT_EQ(otp.exit_code, 0) << otp.out << otp.err;
  ASSERT_EQ(cmd(h, "ped vector init").exit_code, 0);
  const Ran fu = cmd(h, "ped connect " + jump);
  ASSERT_EQ(fu.exit_code, 0) << fu.out << fu.err;
  // pedclient talks to the jump port; pedserver sees the tunnel's end.
  const auto client = nlohmann::json::parse(pedclient(h, {"-mode", "show", "-format", "json"}).out,
                                            nullptr, false);
  EXPECT_EQ(client["link"]["pedserver"], "127.0.0.1:" + std::to_string(jump_port_))
      << client.dump();
  ASSERT_EQ(cmd(h, "hsm init -label jumpHSM").exit_code, 0);
  const Ran login = cmd(h, "role login -name so");
  ASSERT_EQ(login.exit_code, 0) << login.out << login.err;
  EXPECT_TRUE(contains(cmd(h, "hsm show").out, "HSM SO"));

  // Cutting the tunnel ends the link; the HSM is told.
  stop(ssh_);
  EXPECT_TRUE(wait_until([&] { return link_state(h) == "Disconnected"; }, 60s))
      << pedclient(h, {"-mode", "show"}).out;
}

// --- PED-initiated mode across a one-way firewall ---------------------------

class FirewallTest : public E2eTest {
 protected:
  void TearDown() override {
    E2eTest::TearDown();  // stops pedserver (inside the namespace) first
    if (!namespace_.empty()) {
      run(ip_, {"netns", "del", namespace_}, dir_.path());
    }
  }

  // A namespace for the custodian's side, joined to this one by a veth pair:
  // 10.77.<n>.1 here (the HSM's host), 10.77.<n>.2 there. Returns why not.
  std::string make_namespace() {
    ip_ = find_tool("ip");
    nft_ = find_tool("nft");
    if (::geteuid() != 0) {
      return "network namespaces need root";
    }
    if (ip_.empty() || nft_.empty()) {
      return "ip (iproute2) or nft (nftables) is not installed";
    }
    const std::string tag = std::to_string(::getpid() % 100000);
    namespace_ = "rped-ped-" + tag;
    const std::string subnet = "10.77." + std::to_string(::getpid() % 250) + ".";
    here_ = subnet + "1";
    there_ = subnet + "2";
    const std::string outer = "rpedh" + tag;
    const std::string inner = "rpedp" + tag;
    const std::vector<std::vector<std::string>> steps{
        {"netns", "add", namespace_},
        {"link", "add", outer, "type", "veth", "peer", "name", inner},
        {"link", "set", inner, "netns", namespace_},
        {"addr", "add", here_ + "/24", "dev", outer},
        {"link", "set", outer, "up"},
        {"-n", namespace_, "addr", "add", there_ + "/24", "dev", inner},
        {"-n", namespace_, "link", "set", inner, "up"},
        {"-n", namespace_, "link", "set", "lo", "up"}};
    for (const auto& step : steps) {
      const Ran ran = run(ip_, step, dir_.path());
      if (ran.exit_code != 0) {
        const std::string why = "ip " + step[0] + " " + step[1] + " failed: " + ran.err;
        if (step[1] == "add" && step[0] == "netns") {
          namespace_.clear();
        }
        return "network namespaces are not usable here (" + why + ")";
      }
    }
    return {};
  }

  // Inside the namespace: every new inbound connection dropped, outbound free.
  void close_inbound() {
    write_text(dir_.path() / "firewall.nft",
               "table inet rped_custodian {\n"
               "  chain input {\n"
               "    type filter hook input priority 0; policy drop;\n"
               "    iif lo accept\n"
               "    ct state established,related accept\n"
               "  }\n"
               "}\n");
    const Ran ran = run(ip_, {"netns", "exec", namespace_, nft_, "-f",
                              (dir_.path() / "firewall.nft").string()},
                        dir_.path());
    ASSERT_EQ(ran.exit_code, 0) << ran.err;
  }

  std::vector<std::string> in_namespace(const std::vector<std::string>& args) const {
    std::vector<std::string> all{"netns", "exec", namespace_, kPedserver};
    all.insert(all.end(), args.begin(), args.end());
    return all;
  }
  Ran pedserver_there(const std::vector<std::string>& args) {
    return run(ip_, in_namespace(args), dir_.path(), server_env(), kCommandWait);
  }

  void start_pedserver_there() {
    std::filesystem::create_directories(server_state_ / "trust");
    write_text(server_state_ / "trust" / "root.pem",
               slurp(hosts_.front()->state / "certificates" / "manufacturer-root.pem"));
    pedserver_.emplace(ip_,
                       in_namespace({"-mode", "start", "-foreground", "-ped",
                                     "sim:" + ped_socket_.string(), "-port",
                                     std::to_string(server_port_), "-admin",
                                     std::to_string(server_admin_), "-logfile",
                                     server_log_.string()}),
                       dir_.path(), server_env());
    ASSERT_TRUE(wait_until([&] {
      const Ran shown = pedserver_there(
          {"-mode", "show", "-format", "json", "-admin", std::to_string(server_admin_)});
      const auto status = nlohmann::json::parse(shown.out, nullptr, false);
      return shown.exit_code == 0 && status.is_object() && status["ped"]["connected"] == true;
    })) << pedserver_->err();
  }

  std::string ip_;
  std::string nft_;
  std::string namespace_;
  std::string here_;
  std::string there_;
};

TEST_F(FirewallTest, PedInitiatedModeCrossesAOneWayFirewall) {
  if (const std::string why = make_namespace(); !why.empty()) {
    GTEST_SKIP() << why;
  }
  const std::uint16_t peer_port = free_port();
  const auto client_state = dir_.path() / "pedclient1";  // start_hsm's naming
  const SpawnOptions client_env{{{"STATE_DIRECTORY", client_state.string()}}, {}, {}, {}, {}};
  ASSERT_EQ(run(kPedclient,
                {"-mode", "regen", "-commonname", "hsm-host", "-configfile",
                 config_file().string()},
                dir_.path(), client_env)
                .exit_code,
            0);
  ASSERT_EQ(pedserver_there({"-regen", "-commonname", "custodian", "-force"}).exit_code, 0);
  ASSERT_EQ(run(kPedclient,
                {"-pedserver", "register", "-name", "custodian", "-certificate",
                 (server_state_ / "tls" / "pedserver.crt").string(), "-configfile",
                 config_file().string()},
                dir_.path(), client_env)
                .exit_code,
            0);
  ASSERT_EQ(pedserver_there({"-appliance", "register", "-name", "hsm1", "-certificate",
                             (client_state / "tls" / "pedclient.crt").string(), "-ip", here_,
                             "-port", std::to_string(peer_port)})
                .exit_code,
            0);
  HsmHost& h = start_hsm(1234567, {"-peerport", std::to_string(peer_port), "-epeer", "1",
                                   "-socketwritetimeout", "2"});
  start_ped(rpv_init_script() + script::hsm_init() + script::orange_login("blank1", "4321") +
            script::blue_quorum());
  start_pedserver_there();

  // Before the firewall: the RPV is initialized the ordinary way.
  const std::string direct = "-ip " + there_ + " -port " + std::to_string(server_port_);
  ASSERT_EQ(cmd(h, "ped connect " + direct + " -password 31415926").exit_code, 0);
  ASSERT_EQ(cmd(h, "ped vector init").exit_code, 0);
  ASSERT_EQ(cmd(h, "ped connect " + direct).exit_code, 0);
  ASSERT_EQ(cmd(h, "hsm init -label fwHSM").exit_code, 0);
  ASSERT_EQ(cmd(h, "ped disconnect").exit_code, 0);
  ASSERT_TRUE(wait_until([&] { return link_state(h) == "Disconnected"; }));

  // The custodian's site closes inbound: the HSM can no longer reach it.
  close_inbound();
  const Ran blocked = cmd(h, "ped connect " + direct);
  EXPECT_EQ(blocked.exit_code, 1) << blocked.out;
  EXPECT_TRUE(contains(blocked.out + blocked.err, there_)) << blocked.out << blocked.err;

  // The custodian dials out instead.
  const Ran connect = pedserver_there(
      {"-mode", "connect", "-name", "hsm1", "-admin", std::to_string(server_admin_)});
  ASSERT_EQ(connect.exit_code, 0) << connect.out << connect.err;
  ASSERT_TRUE(wait_until([&] { return contains(cmd(h, "ped show").out, "connected to"); }, 60s))
      << cmd(h, "ped show").out;
  const Ran login = cmd(h, "role login -name so");
  ASSERT_EQ(login.exit_code, 0) << login.out << login.err;
  EXPECT_TRUE(contains(cmd(h, "hsm show").out, "HSM SO"));
}

}  // namespace
}  // namespace rped::e2e::test
