// Hostile clients (issue 9 item 3) against a live pedserver and pedclient:
// connections that connect and idle, a slow-loris sender, a flood of
// connection attempts, the fuzz corpora's frames (as they are and mutated) on
// pedserver's channel port, and garbage on pedclient's admin port. The PED
// must stay available to the legitimate HSM (pedserver's pre-authentication
// deadline drops whoever holds it without finishing the handshake), memory
// must stay bounded, and neither daemon may crash.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "fault/fault_fixture.h"

namespace rped::fault::test {
namespace {

const std::filesystem::path kCorpus = RPED_FUZZ_CORPUS_DIR;

// A loopback TCP connection (close-on-exec: the daemons the test starts
// later must not inherit it), or -1.
int connect_loopback(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return -1;
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void send_all(int fd, const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      return;
    }
    sent += static_cast<std::size_t>(n);
  }
}

// Reads until the peer closes or `limit` passes; true when it closed.
bool drained_until_closed(int fd, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  char buffer[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return false;
    }
    pollfd waiting{fd, POLLIN, 0};
    if (::poll(&waiting, 1, static_cast<int>(left.count())) <= 0) {
      return false;
    }
    if (::recv(fd, buffer, sizeof buffer, 0) <= 0) {
      return true;
    }
  }
}

std::uint64_t rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmRSS:")) {
      return std::stoull(line.substr(6));
    }
  }
  return 0;
}

bool alive(pid_t pid) {
  return ::kill(pid, 0) == 0;
}

class HostileClientTest : public FaultTest {};

TEST_F(HostileClientTest, ThePedStaysWithTheLegitimateHsmAndNothingCrashes) {
  // The RPV exists and the orange key works; then the HSM disconnects and
  // the PED is free for whoever connects first.
  HsmHost& h = start_hsm(1234567);
  start_ped(rpv_init_script() + script::orange_login("blank1", "4321"));
  // A 2 s pre-authentication deadline (it follows -socketreadtimeout).
  start_pedserver({"-socketreadtimeout", "2"});
  ASSERT_FALSE(HasFailure());
  initialize_rpv_and_connect_quietly(h);
  ASSERT_FALSE(HasFailure());
  ASSERT_EQ(cmd(h, "ped disconnect").exit_code, 0);
  const pid_t server = pedserver_->pid();
  const pid_t client = h.pedclient->pid();
  const std::uint64_t server_rss_before = rss_kib(server);

  // 1. Connect and idle: 20 connections that never send a byte.
  injected("hostile: 20 connections that connect and idle");
  std::vector<int> idle;
  for (int i = 0; i < 20; ++i) {
    if (const int fd = connect_loopback(server_port_); fd >= 0) {
      idle.push_back(fd);
    }
  }
  // 2. Slow loris: a frame header, one byte every 300 ms.
  injected("hostile: a slow-loris sender (one byte per 300 ms)");
  std::thread loris([port = server_port_] {
    const int fd = connect_loopback(port);
    if (fd < 0) {
      return;
    }
    const std::string header("\x01\x01\x00\x40", 4);
    for (int i = 0; i < 10; ++i) {
      send_all(fd, header.substr(static_cast<std::size_t>(i) % header.size(), 1));
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    ::close(fd);
  });
  // 3. A flood: 300 connection attempts, closed at once.
  injected("hostile: a flood of 300 connection attempts");
  for (int i = 0; i < 300; ++i) {
    if (const int fd = connect_loopback(server_port_); fd >= 0) {
      ::close(fd);
    }
  }
  // 4. The fuzz corpora's frames, as they are and with one byte flipped.
  injected("hostile: fuzz-corpus frames, as they are and mutated");
  int frames = 0;
  std::uniform_int_distribution<int> byte(0, 255);
  for (const char* corpus : {"fuzz_endpoint_ped", "fuzz_messages", "fuzz_record_open"}) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(kCorpus / corpus, ec)) {
      std::string bytes = slurp(entry.path());
      for (int variant = 0; variant < 2 && !bytes.empty(); ++variant) {
        if (variant == 1) {
          bytes[rng_() % bytes.size()] = static_cast<char>(byte(rng_));
        }
        const int fd = connect_loopback(server_port_);
        if (fd < 0) {
          continue;
        }
        send_all(fd, bytes);
        // Refused (busy, malformed) or dropped at the deadline: never hangs.
        EXPECT_TRUE(drained_until_closed(fd, std::chrono::seconds(10)))
            << entry.path() << " variant " << variant << ": pedserver kept the connection open";
        ::close(fd);
        ++frames;
      }
    }
  }
  EXPECT_GT(frames, 0) << "no corpus files under " << kCorpus;
  // 5. pedclient's admin port: malformed lines, an unauthenticated command,
  //    and a 100 KiB line without a newline.
  injected("hostile: garbage on pedclient's admin port");
  for (const std::string& line :
       {std::string("not json\n"), std::string("{\"command\":\"stop\"}\n"),
        std::string("{\"command\":\"show\",\"token\":\"00\"}\n"), std::string(100 * 1024, 'A')}) {
    const int fd = connect_loopback(h.client_admin);
    ASSERT_GE(fd, 0);
    send_all(fd, line);
    ::shutdown(fd, SHUT_WR);
    drained_until_closed(fd, std::chrono::seconds(10));
    ::close(fd);
  }
  loris.join();

  // The idle holders are dropped at the pre-authentication deadline; the
  // legitimate HSM gets the PED.
  Ran connected;
  const bool legitimate = wait_until(
      [&] {
        connected = cmd(h, "ped connect " + connect_args());
        return connected.exit_code == 0;
      },
      60s);
  EXPECT_TRUE(legitimate) << connected.out;
  for (const int fd : idle) {
    ::close(fd);
  }
  EXPECT_TRUE(alive(server)) << "pedserver died";
  EXPECT_TRUE(alive(client)) << "pedclient died";
  const std::uint64_t server_rss_after = rss_kib(server);
  // Bounded: the barrage may not grow pedserver by more than 16 MiB.
  EXPECT_LT(server_rss_after, server_rss_before + 16 * 1024)
      << "pedserver RSS " << server_rss_before << " KiB -> " << server_rss_after << " KiB";
  std::cout << "[fault]   pedserver RSS " << server_rss_before << " KiB -> " << server_rss_after
            << " KiB after " << frames << " corpus frames, 20 idle, 300 flood, 1 slow loris\n";
  // The admin interface still answers its owner.
  EXPECT_EQ(pedclient(h, {"-mode", "show"}).exit_code, 0);
  if (legitimate && alive(server) && alive(client)) {
    for (int i = 0; i < 5; ++i) {
      recovered();
    }
  } else {
    not_recovered("the legitimate HSM did not get the PED back");
  }
}

}  // namespace
}  // namespace rped::fault::test
