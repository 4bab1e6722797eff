// PED-initiated (peer-to-peer) mode through the real binary: -regen, the
// appliance registry, and -mode connect / disconnect against a TLS 1.3
// listener standing in for the pedclient (both certificates pinned), with the
// retries of a connect that starts before the listener exists, and a pinning
// mismatch that is refused at once.
#include "harness.h"

namespace rped::pedserver::test {
namespace {

using channel::AlertCode;
using channel::Scheme;

struct SslCtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslDeleter {
  void operator()(SSL* s) const { SSL_free(s); }
};

Bytes der_of(X509* certificate) {
  const int length = i2d_X509(certificate, nullptr);
  Bytes der(static_cast<std::size_t>(std::max(length, 0)));
  unsigned char* out = der.data();
  i2d_X509(certificate, &out);
  return der;
}

// The appliance's TLS identity: a self-signed P-521 certificate.
struct ApplianceIdentity {
  crypto::EcKeyPair key = must(crypto::EcKeyPair::generate());
  crypto::Certificate certificate =
      rped::test::self_signed(key, rped::test::CertSpec{.common_name = "appliance.example",
                                                        .ca = false,
                                                        .key_usage = {.digital_signature = true}});
};

Bytes pinned_client;  // the pedserver certificate the listener accepts (set per test)

int verify_pinned_client(int, X509_STORE_CTX* store) {
  if (X509_STORE_CTX_get_error_depth(store) != 0) {
    return 1;
  }
  return der_of(X509_STORE_CTX_get_current_cert(store)) == pinned_client ? 1 : 0;
}

class TlsWire final : public Wire {
 public:
  TlsWire(int fd, std::unique_ptr<SSL, SslDeleter> ssl) : fd_(fd), ssl_(std::move(ssl)) {}
  ~TlsWire() override {
    ssl_.reset();
    ::close(fd_);
  }
  bool send(ByteView bytes) override {
    return SSL_write(ssl_.get(), bytes.data(), static_cast<int>(bytes.size())) ==
           static_cast<int>(bytes.size());
  }
  std::optional<Bytes> receive(std::chrono::milliseconds timeout) override {
    if (SSL_pending(ssl_.get()) == 0) {
      pollfd waiting{fd_, POLLIN, 0};
      if (::poll(&waiting, 1, static_cast<int>(timeout.count())) <= 0) {
        return std::nullopt;
      }
    }
    Bytes buffer(16 * 1024);
    const int n = SSL_read(ssl_.get(), buffer.data(), static_cast<int>(buffer.size()));
    if (n <= 0) {
      const int reason = SSL_get_error(ssl_.get(), n);
      if (reason == SSL_ERROR_WANT_READ) {
        return std::nullopt;  // a TLS 1.3 post-handshake message: no application bytes yet
      }
      closed = true;
      return Bytes{};
    }
    buffer.resize(static_cast<std::size_t>(n));
    return buffer;
  }

 private:
  int fd_;
  std::unique_ptr<SSL, SslDeleter> ssl_;
};

// The pedclient's listener for PED-initiated connections.
class ApplianceListener final {
 public:
  ApplianceListener(std::uint16_t port, const ApplianceIdentity& identity) {
    ctx_.reset(SSL_CTX_new(TLS_server_method()));
    SSL_CTX_set_min_proto_version(ctx_.get(), TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx_.get(), TLS1_3_VERSION);
    SSL_CTX_set1_groups_list(ctx_.get(), "P-521");
    SSL_CTX_set1_sigalgs_list(ctx_.get(), "ECDSA+SHA512");
    SSL_CTX_use_certificate(ctx_.get(), identity.certificate.native());
    SSL_CTX_use_PrivateKey(ctx_.get(), identity.key.native());
    SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                       verify_pinned_client);
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(fd_, 4) != 0) {
      throw std::runtime_error("appliance listener: cannot listen");
    }
  }
  ~ApplianceListener() { ::close(fd_); }

  // One PED-initiated connection, TLS handshake done; null if none came or the handshake failed.
  std::unique_ptr<TlsWire> accept(std::chrono::milliseconds timeout = kWait) {
    pollfd waiting{fd_, POLLIN, 0};
    if (::poll(&waiting, 1, static_cast<int>(timeout.count())) <= 0) {
      return nullptr;
    }
    const int fd = ::accept(fd_, nullptr, nullptr);
    timeval limit{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    std::unique_ptr<SSL, SslDeleter> ssl(SSL_new(ctx_.get()));
    SSL_set_fd(ssl.get(), fd);
    if (SSL_accept(ssl.get()) != 1) {
      ERR_clear_error();
      ::close(fd);
      return nullptr;
    }
    version_ = SSL_get_version(ssl.get());
    timeval none{0, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
    return std::make_unique<TlsWire>(fd, std::move(ssl));
  }
  const std::string& version() const { return version_; }

 private:
  std::unique_ptr<SSL_CTX, SslCtxDeleter> ctx_;
  int fd_ = -1;
  std::string version_;
};

class PedServerPeerMode : public PedServerTest {
 protected:
  void SetUp() override {
    PedServerTest::SetUp();
    appliance_port_ = free_port();
    appliance_pem_ = dir_.path() / "appliance.pem";
    write_text(appliance_pem_, appliance_.certificate.pem());
  }

  Ran regen() {
    const Ran ran = pedserver({"-regen", "-commonname", "custodian-laptop", "-force"});
    if (ran.exit_code == 0) {
      pinned_client = must(crypto::Certificate::from_pem(slurp(state_ / "tls" / "pedserver.crt")))
                          .front()
                          .der();
    }
    return ran;
  }

  Ran register_appliance(const std::string& name, const std::filesystem::path& pem) {
    return pedserver({"-appliance", "register", "-name", name, "-certificate", pem.string(), "-ip",
                      "127.0.0.1", "-port", std::to_string(appliance_port_)});
  }

  ApplianceIdentity appliance_;
  std::uint16_t appliance_port_ = 0;
  std::filesystem::path appliance_pem_;
};

TEST_F(PedServerPeerMode, RegenMakesAP521KeyAndSaysWhere) {
  const Ran made = regen();
  ASSERT_EQ(made.exit_code, 0) << made.err;
  EXPECT_NE(made.out.find((state_ / "tls" / "pedserver.crt").string()), std::string::npos)
      << made.out;
  EXPECT_NE(made.out.find((state_ / "tls" / "pedserver.key").string()), std::string::npos)
      << made.out;
  EXPECT_EQ(std::filesystem::status(state_ / "tls" / "pedserver.key").permissions() &
                std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  const auto certificate =
      must(crypto::Certificate::from_pem(slurp(state_ / "tls" / "pedserver.crt"))).front();
  EXPECT_EQ(certificate.common_name(), "custodian-laptop");
  EXPECT_EQ(must(certificate.ec_public_key()).curve(), crypto::Curve::p521);

  const Ran again = pedserver({"-regen", "-commonname", "other"});
  EXPECT_EQ(again.exit_code, 1) << "no -force and no terminal to confirm";
  EXPECT_NE(again.err.find("-force"), std::string::npos) << again.err;
}

TEST_F(PedServerPeerMode, RegisterListDelete) {
  ASSERT_EQ(register_appliance("hsm1", appliance_pem_).exit_code, 0);
  const Ran duplicate = register_appliance("hsm1", appliance_pem_);
  EXPECT_EQ(duplicate.exit_code, 1);
  EXPECT_NE(duplicate.err.find("already registered"), std::string::npos) << duplicate.err;

  const Ran listed = pedserver({"-appliance", "list"});
  EXPECT_EQ(listed.exit_code, 0);
  EXPECT_NE(listed.out.find("hsm1"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find(to_hex(appliance_.certificate.sha256_fingerprint())), std::string::npos)
      << listed.out;
  const Ran as_json = pedserver({"-appliance", "list", "-format", "json"});
  const auto document = nlohmann::json::parse(as_json.out, nullptr, false);
  ASSERT_TRUE(document.is_object()) << as_json.out;
  EXPECT_EQ(document["appliances"][0]["name"], "hsm1");
  EXPECT_EQ(document["appliances"][0]["port"], appliance_port_);

  // Only P-521 certificates can be pinned.
  const auto p224 = must(crypto::EcKeyPair::generate(crypto::Curve::p224));
  write_text(dir_.path() / "p224.pem", rped::test::self_signed(p224, rped::test::CertSpec{}).pem());
  const Ran weak = register_appliance("hsm2", dir_.path() / "p224.pem");
  EXPECT_EQ(weak.exit_code, 1);
  EXPECT_NE(weak.err.find("P-521"), std::string::npos) << weak.err;

  EXPECT_EQ(pedserver({"-appliance", "delete", "-name", "hsm1"}).exit_code, 1)
      << "needs -force without a terminal";
  EXPECT_EQ(pedserver({"-appliance", "delete", "-name", "hsm1", "-force"}).exit_code, 0);
  EXPECT_NE(pedserver({"-appliance", "list"}).out.find("No appliances"), std::string::npos);
  const Ran unknown = pedserver({"-appliance", "delete", "-name", "hsm1", "-force"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("no appliance named"), std::string::npos) << unknown.err;
}

TEST_F(PedServerPeerMode, ConnectRetriesUntilTheListenerIsUpThenDisconnect) {
  ASSERT_EQ(regen().exit_code, 0);
  ASSERT_EQ(register_appliance("hsm1", appliance_pem_).exit_code, 0);
  start_pedsim(kPasswordEntry);
  ASSERT_EQ(start_server().exit_code, 0);

  // Nothing listens yet: pedserver keeps trying with back-off.
  Child connect(kPedserver, {"-mode", "connect", "-name", "hsm1", "-admin", std::to_string(admin_)},
                dir_.path(), root_env());
  ASSERT_TRUE(wait_until([&] {
    const nlohmann::json s = show_json();
    return s.is_object() && s["appliance"].is_object() && s["appliance"]["attempt"].get<int>() >= 2;
  })) << slurp(log_);
  ApplianceListener listener(appliance_port_, appliance_);
  auto wire = listener.accept();
  ASSERT_TRUE(wire) << slurp(log_);
  EXPECT_EQ(listener.version(), "TLSv1.3");
  ASSERT_EQ(connect.wait(), 0) << connect.err();
  EXPECT_NE(connect.out().find("connected to appliance 'hsm1'"), std::string::npos)
      << connect.out();

  // The inner channel runs unchanged inside, the HSM side speaking first.
  HsmPeer hsm(std::move(wire), world_, Scheme::one_pass_password);
  ASSERT_TRUE(hsm.handshake());
  const nlohmann::json status = show_json();
  EXPECT_NE(status["client"]["via"].get<std::string>().find("appliance hsm1"), std::string::npos)
      << status.dump();
  EXPECT_EQ(status["appliance"]["state"], "connected");
  const auto answer = hsm.call(ped::Op::identify, {});
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(must(ped::parse_response(answer->body)).first.status, ped::Status::ok);

  const Ran disconnected = admin({"-mode", "disconnect", "-name", "hsm1"});
  EXPECT_EQ(disconnected.exit_code, 0) << disconnected.err;
  ASSERT_TRUE(hsm.wait_closed());
  ASSERT_TRUE(hsm.closed().has_value());
  EXPECT_EQ(hsm.closed()->code, AlertCode::close_notify);
  const Ran not_connected = admin({"-mode", "disconnect", "-name", "hsm1"});
  EXPECT_EQ(not_connected.exit_code, 1);
  EXPECT_NE(not_connected.err.find("not connected"), std::string::npos) << not_connected.err;
}

TEST_F(PedServerPeerMode, AnApplianceWithAnotherCertificateIsRefusedAtOnce) {
  ASSERT_EQ(regen().exit_code, 0);
  ASSERT_EQ(register_appliance("hsm1", appliance_pem_).exit_code, 0);
  start_pedsim();
  ASSERT_EQ(start_server().exit_code, 0);
  const ApplianceIdentity impostor;
  ApplianceListener listener(appliance_port_, impostor);
  Child connect(kPedserver, {"-mode", "connect", "-name", "hsm1", "-admin", std::to_string(admin_)},
                dir_.path(), root_env());
  EXPECT_FALSE(listener.accept()) << "pedserver aborts the handshake";
  ASSERT_EQ(connect.wait(), 1) << connect.out();
  EXPECT_NE(connect.err().find("pinning mismatch"), std::string::npos) << connect.err();
  EXPECT_EQ(show_json()["appliance"]["attempt"], 1) << "not retried";
}

TEST_F(PedServerPeerMode, ConnectWithoutAHostCertificateSaysRegen) {
  ASSERT_EQ(register_appliance("hsm1", appliance_pem_).exit_code, 0);
  start_pedsim();
  ASSERT_EQ(start_server().exit_code, 0);
  const Ran connect = admin({"-mode", "connect", "-name", "hsm1"});
  EXPECT_EQ(connect.exit_code, 1);
  EXPECT_NE(connect.err.find("-regen"), std::string::npos) << connect.err;
  const Ran unknown = admin({"-mode", "connect", "-name", "nope"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("no appliance named 'nope'"), std::string::npos) << unknown.err;
}

}  // namespace
}  // namespace rped::pedserver::test
