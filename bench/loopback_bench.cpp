// Issue 9 item 2: the figures that need real sockets, each beside the
// reference it is compared with, measured in the same run. scripts/bench runs
// it and reads the `result:` lines.
//
//   loopback_bench handshakes [ROUNDS] [PER_ROUND]
//       Full Unified C(2e,2s) handshakes (both endpoints, both devices'
//       derive_dkm, every certificate and key check) against OpenSSL TLS 1.3
//       handshakes with P-521 ECDSA certificates on both sides (mutual
//       authentication, both chains verified), group P-521 only, signature
//       ecdsa_secp521r1_sha512 only, no resumption and no tickets. Both over a
//       fresh loopback TCP connection per handshake, server in its own thread,
//       TCP_NODELAY; a handshake counts when the client has seen the server
//       finish (the server closes once established; the client reads EOF).
//       Rounds alternate ours / TLS so drift on shared cores hits both; the
//       figure is the median of the per-round rates.
//
//   loopback_bench echo-path [COUNT] [BYTES]
//       The plain reference for the PED round trip: BYTES-byte messages
//       echoed over the same kind of path as a PED command, in four processes:
//         client --unix--> relay --TCP--> relay --unix--> echo
//       (hsmsim --backend socket--> pedclient --TCP--> pedserver --unix--> pedsim).
//       Prints per-round-trip percentiles in microseconds.
//
// Exit code 0 on success, 1 when anything failed (a handshake that did not
// establish, a socket error), 2 on a bad command line.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "rped/channel/endpoint.h"
#include "rped/channel/key_schedule.h"
#include "support/channel_harness.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace channel = rped::channel;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "loopback_bench: %s\n", what.c_str());
  ERR_print_errors_fp(stderr);
  std::exit(1);
}

// --- sockets ------------------------------------------------------------------

struct Fd {
  int fd = -1;
  explicit Fd(int f = -1) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd = std::exchange(o.fd, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) {
      ::close(fd);
      fd = -1;
    }
  }
};

void no_delay(int fd) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// A listening loopback TCP socket on an ephemeral port.
Fd tcp_listener(std::uint16_t& port) {
  Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (s.fd < 0 || ::bind(s.fd, reinterpret_cast<sockaddr*>(&a), len) != 0 ||
      ::listen(s.fd, 128) != 0 || ::getsockname(s.fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    die("tcp listener");
  }
  port = ntohs(a.sin_port);
  return s;
}

Fd tcp_connect(std::uint16_t port) {
  Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (s.fd < 0 || ::connect(s.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    die("tcp connect");
  }
  no_delay(s.fd);
  return s;
}

Fd accept_one(int listener, bool tcp) {
  Fd c(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
  if (c.fd < 0) {
    die("accept");
  }
  if (tcp) {
    no_delay(c.fd);
  }
  return c;
}

sockaddr_un unix_address(const std::filesystem::path& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  const std::string p = path.string();
  if (p.size() >= sizeof a.sun_path) {
    die("socket path too long: " + p);
  }
  std::copy(p.begin(), p.end(), a.sun_path);
  return a;
}

Fd unix_listener(const std::filesystem::path& path) {
  Fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const sockaddr_un a = unix_address(path);
  if (s.fd < 0 || ::bind(s.fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(s.fd, 4) != 0) {
    die("unix listener " + path.string());
  }
  return s;
}

Fd unix_connect(const std::filesystem::path& path) {
  Fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const sockaddr_un a = unix_address(path);
  if (s.fd < 0 || ::connect(s.fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
    die("unix connect " + path.string());
  }
  return s;
}

void send_all(int fd, const std::uint8_t* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0) {
      die("send");
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

// Reads exactly `size` bytes; false on EOF before any byte.
bool read_exact(int fd, std::uint8_t* data, std::size_t size) {
  std::size_t got = 0;
  while (got < size) {
    const ssize_t n = ::recv(fd, data + got, size - got, 0);
    if (n == 0 && got == 0) {
      return false;
    }
    if (n <= 0) {
      die("recv");
    }
    got += static_cast<std::size_t>(n);
  }
  return true;
}

// Reads until the peer closes.
void drain_to_eof(int fd) {
  std::array<char, 512> buf{};
  while (::recv(fd, buf.data(), buf.size(), 0) > 0) {
  }
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t mid = v.size() / 2;
  return v.size() % 2 == 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2.0;
}

// --- our handshake over TCP -----------------------------------------------------

const rped::test::ChannelWorld& world() {
  static const rped::test::ChannelWorld w;
  return w;
}

// Sends what `out` holds; answers a key request with the device's derive_dkm
// (the HSM's static key, or the RPK on the orange key) and sends that too.
void drive(channel::Endpoint& endpoint, channel::Output out, int fd,
           const rped::crypto::EcKeyPair* device_key, rped::ByteView supp_priv_info) {
  if (!out.send.empty()) {
    send_all(fd, out.send.data(), out.send.size());
  }
  for (channel::Event& event : out.events) {
    if (auto* request = std::get_if<channel::KeyRequestEvent>(&event)) {
      drive(endpoint,
            endpoint.complete_key_request(
                channel::derive_dkm(request->request, device_key, supp_priv_info)),
            fd, device_key, supp_priv_info);
    } else if (std::holds_alternative<channel::IdentityEvent>(event)) {
      // The custodian's YES (docs/attestation.md §6), answered at once.
      drive(endpoint, endpoint.complete_identity({}), fd, device_key, supp_priv_info);
    } else if (auto* closed = std::get_if<channel::ClosedEvent>(&event)) {
      die("handshake closed: " + closed->detail);
    }
  }
}

void run_until_established(channel::Endpoint& endpoint, int fd,
                           const rped::crypto::EcKeyPair* device_key,
                           rped::ByteView supp_priv_info) {
  std::array<std::uint8_t, 8192> buf{};
  while (endpoint.state() != channel::State::established) {
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n <= 0) {
      die("our handshake: connection ended early");
    }
    drive(endpoint, endpoint.receive(rped::ByteView(buf.data(), static_cast<std::size_t>(n))), fd,
          device_key, supp_priv_info);
  }
}

double ours_round(int per_round) {
  const auto& w = world();
  const auto scheme = channel::Scheme::full_unified;
  const channel::HsmEndpointConfig hsm_config = w.hsm_config(scheme);
  const channel::PedEndpointConfig ped_config = w.ped_config(scheme);
  const rped::ByteView supp = w.supp_priv_info(scheme);
  std::uint16_t port = 0;
  Fd listener = tcp_listener(port);
  std::thread server([&] {
    for (int i = 0; i < per_round; ++i) {
      Fd c = accept_one(listener.fd, true);
      auto ped = channel::Endpoint::ped(ped_config);
      if (!ped.ok()) {
        die("PED endpoint config");
      }
      drive(ped.value(), ped->start(), c.fd, &w.rpk_key, supp);
      run_until_established(ped.value(), c.fd, &w.rpk_key, supp);
    }
  });
  const auto start = Clock::now();
  for (int i = 0; i < per_round; ++i) {
    Fd c = tcp_connect(port);
    auto hsm = channel::Endpoint::hsm(hsm_config);
    if (!hsm.ok()) {
      die("HSM endpoint config");
    }
    drive(hsm.value(), hsm->start(), c.fd, &w.pki.ecdh_key, supp);
    run_until_established(hsm.value(), c.fd, &w.pki.ecdh_key, supp);
    drain_to_eof(c.fd);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  server.join();
  return per_round / seconds;
}

// --- OpenSSL TLS 1.3, P-521 everywhere -------------------------------------------

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const noexcept {
    Free(p);
  }
};
using Pkey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using SslCtx = std::unique_ptr<SSL_CTX, Deleter<SSL_CTX_free>>;
using Ssl = std::unique_ptr<SSL, Deleter<SSL_free>>;

struct Identity {
  Pkey key;
  X509Ptr cert;
};

// An ECDSA P-521 certificate signed with SHA-512 by `issuer` (self-signed when null).
Identity make_identity(const char* cn, const Identity* issuer, bool ca, long serial) {
  Identity id;
  id.key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-521"));
  id.cert.reset(X509_new());
  X509* c = id.cert.get();
  if (!id.key || !c || X509_set_version(c, 2) != 1 ||
      ASN1_INTEGER_set(X509_get_serialNumber(c), serial) != 1 ||
      X509_gmtime_adj(X509_getm_notBefore(c), -3600) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(c), 86400) == nullptr ||
      X509_set_pubkey(c, id.key.get()) != 1) {
    die("certificate setup");
  }
  X509_NAME* name = X509_get_subject_name(c);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                             -1, -1, 0);
  X509_set_issuer_name(c, issuer != nullptr ? X509_get_subject_name(issuer->cert.get()) : name);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, issuer != nullptr ? issuer->cert.get() : c, c, nullptr, nullptr, 0);
  const char* constraints = ca ? "critical,CA:TRUE" : "critical,CA:FALSE";
  const char* usage = ca ? "critical,keyCertSign" : "critical,digitalSignature";
  for (const auto& [nid, value] : {std::pair{NID_basic_constraints, constraints},
                                   std::pair{NID_key_usage, usage}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
    if (ext == nullptr || X509_add_ext(c, ext, -1) != 1) {
      die("certificate extension");
    }
    X509_EXTENSION_free(ext);
  }
  EVP_PKEY* signer = issuer != nullptr ? issuer->key.get() : id.key.get();
  if (X509_sign(c, signer, EVP_sha512()) == 0) {
    die("certificate signature");
  }
  return id;
}

SslCtx make_ctx(bool server, const Identity& own, const Identity& root) {
  SslCtx ctx(SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()));
  if (!ctx || SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx.get(), TLS1_3_VERSION) != 1 ||
      SSL_CTX_set1_groups_list(ctx.get(), "P-521") != 1 ||
      SSL_CTX_set1_sigalgs_list(ctx.get(), "ecdsa_secp521r1_sha512") != 1 ||
      SSL_CTX_use_certificate(ctx.get(), own.cert.get()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx.get(), own.key.get()) != 1 ||
      X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx.get()), root.cert.get()) != 1) {
    die("SSL_CTX setup");
  }
  // Every handshake a full one, as ours: no session cache, no tickets.
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET);
  if (server && SSL_CTX_set_num_tickets(ctx.get(), 0) != 1) {
    die("SSL_CTX_set_num_tickets");
  }
  // Mutual authentication, as the HSM and the PED authenticate each other.
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  return ctx;
}

struct TlsWorld {
  Identity root = make_identity("bench root", nullptr, true, 1);
  Identity server = make_identity("bench server", &root, false, 2);
  Identity client = make_identity("bench client", &root, false, 3);
  SslCtx server_ctx = make_ctx(true, server, root);
  SslCtx client_ctx = make_ctx(false, client, root);
};

const TlsWorld& tls_world() {
  static const TlsWorld w;
  return w;
}

std::atomic<bool> tls_checked{false};

double tls_round(int per_round) {
  const TlsWorld& w = tls_world();
  std::uint16_t port = 0;
  Fd listener = tcp_listener(port);
  std::thread server([&] {
    for (int i = 0; i < per_round; ++i) {
      Fd c = accept_one(listener.fd, true);
      Ssl ssl(SSL_new(w.server_ctx.get()));
      if (!ssl || SSL_set_fd(ssl.get(), c.fd) != 1 || SSL_accept(ssl.get()) != 1) {
        die("TLS accept");
      }
    }
  });
  const auto start = Clock::now();
  for (int i = 0; i < per_round; ++i) {
    Fd c = tcp_connect(port);
    Ssl ssl(SSL_new(w.client_ctx.get()));
    if (!ssl || SSL_set_fd(ssl.get(), c.fd) != 1 || SSL_connect(ssl.get()) != 1 ||
        SSL_get_verify_result(ssl.get()) != X509_V_OK) {
      die("TLS connect");
    }
    if (!tls_checked.exchange(true)) {
      // What was negotiated, checked once: TLS 1.3 over P-521 with P-521 certificates.
      const int group = static_cast<int>(SSL_get_negotiated_group(ssl.get()));
      X509* peer = SSL_get0_peer_certificate(ssl.get());
      const EVP_PKEY* peer_key = peer != nullptr ? X509_get0_pubkey(peer) : nullptr;
      if (SSL_version(ssl.get()) != TLS1_3_VERSION || group != NID_secp521r1 ||
          peer_key == nullptr || EVP_PKEY_get_bits(peer_key) != 521) {
        die("TLS did not negotiate TLS 1.3 / P-521 / a P-521 certificate");
      }
      std::printf("tls: %s %s group %s, peer key %d bits\n", SSL_get_version(ssl.get()),
                  SSL_get_cipher_name(ssl.get()), OBJ_nid2sn(group), EVP_PKEY_get_bits(peer_key));
    }
    drain_to_eof(c.fd);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  server.join();
  return per_round / seconds;
}

int handshakes(int rounds, int per_round) {
  (void)world();
  (void)tls_world();
  // Warm-up: one of each (first-use allocations, algorithm fetches).
  (void)ours_round(1);
  (void)tls_round(1);
  std::vector<double> ours;
  std::vector<double> tls;
  for (int r = 0; r < rounds; ++r) {
    if (r % 2 == 0) {
      ours.push_back(ours_round(per_round));
      tls.push_back(tls_round(per_round));
    } else {
      tls.push_back(tls_round(per_round));
      ours.push_back(ours_round(per_round));
    }
  }
  const double o = median(ours);
  const double t = median(tls);
  std::printf("result: ours_full_unified_tcp_per_s %.1f\n", o);
  std::printf("result: tls13_p521_mutual_tcp_per_s %.1f\n", t);
  std::printf("result: handshakes_rounds %d per_round %d\n", rounds, per_round);
  std::printf("ours / TLS 1.3 = %.2f (target >= 1.00)\n", o / t);
  return 0;
}

// --- the echo path -----------------------------------------------------------------

// Moves `bytes`-byte requests from `in` to `out` and the answers back, until `in` ends.
void relay(int in, int out, std::size_t bytes) {
  std::vector<std::uint8_t> buf(bytes);
  while (read_exact(in, buf.data(), bytes)) {
    send_all(out, buf.data(), bytes);
    if (!read_exact(out, buf.data(), bytes)) {
      break;
    }
    send_all(in, buf.data(), bytes);
  }
}

pid_t spawn(const std::function<void()>& body) {
  const pid_t pid = ::fork();
  if (pid < 0) {
    die("fork");
  }
  if (pid == 0) {
    body();
    std::_Exit(0);
  }
  return pid;
}

int echo_path(int count, std::size_t bytes) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("rped-echo-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto backend = dir / "backend.sock";  // hsmsim <-> pedclient
  const auto device = dir / "ped.sock";       // pedserver <-> pedsim
  Fd backend_listener = unix_listener(backend);
  Fd device_listener = unix_listener(device);
  std::uint16_t port = 0;
  Fd tcp = tcp_listener(port);

  std::vector<pid_t> children;
  children.push_back(spawn([&] {  // the PED: echoes
    Fd c = accept_one(device_listener.fd, false);
    std::vector<std::uint8_t> buf(bytes);
    while (read_exact(c.fd, buf.data(), bytes)) {
      send_all(c.fd, buf.data(), bytes);
    }
  }));
  children.push_back(spawn([&] {  // pedserver's place: TCP in, unix out
    Fd in = accept_one(tcp.fd, true);
    Fd out = unix_connect(device);
    relay(in.fd, out.fd, bytes);
  }));
  children.push_back(spawn([&] {  // pedclient's place: unix in, TCP out
    Fd in = accept_one(backend_listener.fd, false);
    Fd out = tcp_connect(port);
    relay(in.fd, out.fd, bytes);
  }));

  std::vector<double> micros;
  {
    Fd c = unix_connect(backend);
    std::vector<std::uint8_t> buf(bytes, 0x5A);
    for (int i = 0; i < count + count / 10; ++i) {
      const auto start = Clock::now();
      send_all(c.fd, buf.data(), bytes);
      if (!read_exact(c.fd, buf.data(), bytes)) {
        die("echo path closed");
      }
      const double us = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
      if (i >= count / 10) {  // the first tenth warms the path up
        micros.push_back(us);
      }
    }
  }
  for (const pid_t pid : children) {
    ::waitpid(pid, nullptr, 0);
  }
  std::filesystem::remove_all(dir);
  std::sort(micros.begin(), micros.end());
  const auto q = [&](double p) {
    return micros[std::min(micros.size() - 1,
                           static_cast<std::size_t>(p * static_cast<double>(micros.size() - 1) + 0.5))];
  };
  std::printf("result: echo_path count %d bytes %zu min_us %.1f p50_us %.1f p90_us %.1f p99_us %.1f max_us %.1f\n",
              count, bytes, micros.front(), q(0.5), q(0.9), q(0.99), micros.back());
  return 0;
}

int positive(const char* text, int fallback) {
  if (text == nullptr) {
    return fallback;
  }
  const int v = std::atoi(text);
  if (v <= 0) {
    std::fprintf(stderr, "loopback_bench: '%s' is not a positive number\n", text);
    std::exit(2);
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "handshakes") {
    return handshakes(positive(argc > 2 ? argv[2] : nullptr, 5),
                      positive(argc > 3 ? argv[3] : nullptr, 100));
  }
  if (mode == "echo-path") {
    return echo_path(positive(argc > 2 ? argv[2] : nullptr, 2000),
                     static_cast<std::size_t>(positive(argc > 3 ? argv[3] : nullptr, 128)));
  }
  std::fprintf(stderr,
               "usage: loopback_bench handshakes [ROUNDS] [PER_ROUND]\n"
               "       loopback_bench echo-path [COUNT] [BYTES]\n");
  return 2;
}
