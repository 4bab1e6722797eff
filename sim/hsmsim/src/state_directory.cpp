#include "rped/hsmsim/state_directory.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>

#include "rped/config/atomic_file.h"
#include "rped/config/paths.h"
#include "rped/crypto/symmetric.h"
#include "rped/hsmsim/certificate_issuer.h"
#include "rped/hsmsim/pkc.h"

namespace rped::hsmsim {

namespace {

constexpr std::string_view kStateFile = "hsm.state";
constexpr std::string_view kLockFile = "hsmsim.lock";
constexpr std::string_view kRootCertificateFile = "manufacturer-root.pem";
constexpr std::string_view kRootKeyFile = "manufacturer-root.key";

Error system_error(const std::string& what, int error) {
  return make_error(Errc::internal, what + ": " + std::strerror(error));
}

std::string_view as_chars(ByteView bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// A whole small file, in a wiping buffer (it may hold keys).
Result<SecretBytes> read_private_file(const std::filesystem::path& file, std::size_t max_bytes) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    return system_error("cannot open " + file.string(), errno);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const int error = errno;
    ::close(fd);
    return make_error(Errc::invalid_argument,
                      file.string() + " is not a regular file" +
                          (error != 0 ? std::string(": ") + std::strerror(error) : ""));
  }
  if (static_cast<std::size_t>(st.st_size) > max_bytes) {
    ::close(fd);
    return make_error(Errc::invalid_argument,
                      file.string() + " is larger than " + std::to_string(max_bytes) + " bytes");
  }
  SecretBytes contents(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (got < contents.size()) {
    const ssize_t n = ::read(fd, contents.reveal_mutable().data() + got, contents.size() - got);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      const int error = n < 0 ? errno : EIO;
      ::close(fd);
      return system_error("cannot read " + file.string(), error);
    }
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return contents;
}

Result<void> write_private_file(const std::filesystem::path& file, ByteView contents) {
  RPED_TRY(config::write_file_atomically(file, as_chars(contents)));
  // A file someone loosened keeps its mode across atomic replacement: tighten it.
  if (::chmod(file.c_str(), 0600) != 0) {
    return system_error("cannot set mode 0600 on " + file.string(), errno);
  }
  return {};
}

Result<void> write_pem(const std::filesystem::path& file, const std::string& pem) {
  return write_private_file(
      file, ByteView(reinterpret_cast<const std::uint8_t*>(pem.data()), pem.size()));
}

bool file_exists(const std::filesystem::path& file) {
  struct stat st {};
  return ::lstat(file.c_str(), &st) == 0;
}

// An exclusive flock held as long as the descriptor is open.
Result<int> take_lock(const std::filesystem::path& file, bool wait) {
  const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return system_error("cannot open " + file.string(), errno);
  }
  if (::flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0) {
    const int error = errno;
    ::close(fd);
    if (error == EWOULDBLOCK) {
      return make_error(Errc::invalid_argument, "another hsmsim is running on " +
                                                    file.parent_path().string() + " (" +
                                                    file.filename().string() + " is locked)");
    }
    return system_error("cannot lock " + file.string(), error);
  }
  return fd;
}

struct Manufacturer {
  crypto::EcKeyPair root_key;
  crypto::Certificate root;
};

// The demo manufacturer's root, created on first use. Several emulated HSMs
// may share one manufacturer directory; its lock serializes their first starts.
Result<Manufacturer> load_or_create_manufacturer(const std::filesystem::path& dir) {
  RPED_TRY(config::ensure_private_directory(dir));
  RPED_TRY_ASSIGN(const int lock, take_lock(dir / "manufacturer.lock", true));
  struct Unlock {
    int fd;
    ~Unlock() { ::close(fd); }
  } unlock{lock};

  const std::filesystem::path key_file = dir / kRootKeyFile;
  const std::filesystem::path cert_file = dir / kRootCertificateFile;
  if (file_exists(key_file) && file_exists(cert_file)) {
    RPED_TRY_ASSIGN(const SecretBytes scalar, read_private_file(key_file, crypto::kP521FieldBytes));
    RPED_TRY_ASSIGN(crypto::EcKeyPair key,
                    crypto::EcKeyPair::from_private(crypto::Curve::p521, scalar.reveal()));
    RPED_TRY_ASSIGN(const SecretBytes pem, read_private_file(cert_file, 64 * 1024));
    RPED_TRY_ASSIGN(std::vector<crypto::Certificate> certs,
                    crypto::Certificate::from_pem(as_chars(pem.reveal())));
    RPED_TRY_ASSIGN(const crypto::EcPublicKey cert_key, certs.front().ec_public_key());
    if (!(cert_key == key.public_key())) {
      return make_error(Errc::invalid_argument,
                        cert_file.string() + " does not certify the key in " + key_file.string());
    }
    return Manufacturer{std::move(key), certs.front()};
  }
  RPED_TRY_ASSIGN(crypto::EcKeyPair key, crypto::EcKeyPair::generate());
  RPED_TRY_ASSIGN(crypto::Certificate root,
                  issue_self_signed(key, demo_profile(CertificateRole::manufacturer_root,
                                                      "RPED hsmsim Demo Manufacturer Root")));
  RPED_TRY_ASSIGN(const SecretBytes scalar, key.export_private_scalar());
  RPED_TRY(write_private_file(key_file, scalar.reveal()));
  RPED_TRY(write_pem(cert_file, root.pem()));
  return Manufacturer{std::move(key), std::move(root)};
}

Result<std::uint64_t> random_serial() {
  // Seven decimal digits, as on the Luna PCIe HSM's label: 1000000 .. 9999999.
  std::array<std::uint8_t, 4> raw{};
  RPED_TRY(crypto::random_bytes(raw));
  const std::uint32_t v = (std::uint32_t{raw[0]} << 24) | (std::uint32_t{raw[1]} << 16) |
                          (std::uint32_t{raw[2]} << 8) | raw[3];
  return 1'000'000 + v % 9'000'000;
}

Result<HsmState> manufacture(const std::filesystem::path& dir,
                             const ManufacturingOptions& options) {
  RPED_TRY_ASSIGN(
      const Manufacturer manufacturer,
      load_or_create_manufacturer(options.manufacturer_dir.value_or(dir / "manufacturer")));
  HsmState state;
  Manufacturing& m = state.manufacturing;
  if (options.serial) {
    m.serial = *options.serial;
  } else {
    RPED_TRY_ASSIGN(m.serial, random_serial());
  }
  if (m.serial == 0) {
    return make_error(Errc::invalid_argument, "the HSM serial must not be 0");
  }
  m.firmware_version = options.firmware_version;
  m.model = options.model;
  const std::string serial = std::to_string(m.serial);
  RPED_TRY_ASSIGN(const crypto::EcKeyPair hoc_key, crypto::EcKeyPair::generate());
  RPED_TRY_ASSIGN(const crypto::EcKeyPair static_key, crypto::EcKeyPair::generate());
  RPED_TRY_ASSIGN(const crypto::Certificate hoc,
                  issue_certificate(hoc_key.public_key(), manufacturer.root, manufacturer.root_key,
                                    demo_profile(CertificateRole::hsm_origin,
                                                 "RPED hsmsim HOC " + serial, serial)));
  RPED_TRY_ASSIGN(
      const crypto::Certificate static_certificate,
      issue_certificate(static_key.public_key(), hoc, hoc_key,
                        demo_profile(CertificateRole::key_agreement,
                                     "RPED hsmsim HSM " + serial + " static key", serial)));
  RPED_TRY_ASSIGN(m.hoc_private, hoc_key.export_private_scalar());
  RPED_TRY_ASSIGN(m.static_private, static_key.export_private_scalar());
  m.root_certificate = manufacturer.root.der();
  m.hoc_certificate = hoc.der();
  m.static_certificate = static_certificate.der();
  return state;
}

Result<void> export_certificates(const std::filesystem::path& dir, const HsmKeys& keys) {
  const std::filesystem::path certs = dir / "certificates";
  RPED_TRY(config::ensure_private_directory(certs));
  RPED_TRY(write_pem(certs / "manufacturer-root.pem", keys.root.pem()));
  RPED_TRY(write_pem(certs / "hoc.pem", keys.hoc.pem()));
  RPED_TRY(write_pem(certs / "hsm-static.pem", keys.static_certificate.pem()));
  RPED_TRY(write_pem(certs / "hsm-chain.pem", keys.static_certificate.pem() + keys.hoc.pem()));
  return {};
}

}  // namespace

Result<HsmKeys> StateDirectory::load_keys(const Manufacturing& m) {
  RPED_TRY_ASSIGN(crypto::EcKeyPair hoc_key,
                  crypto::EcKeyPair::from_private(crypto::Curve::p521, m.hoc_private.reveal()));
  RPED_TRY_ASSIGN(crypto::EcKeyPair static_key,
                  crypto::EcKeyPair::from_private(crypto::Curve::p521, m.static_private.reveal()));
  RPED_TRY_ASSIGN(crypto::Certificate root, crypto::Certificate::from_der(m.root_certificate));
  RPED_TRY_ASSIGN(crypto::Certificate hoc, crypto::Certificate::from_der(m.hoc_certificate));
  RPED_TRY_ASSIGN(crypto::Certificate static_certificate,
                  crypto::Certificate::from_der(m.static_certificate));
  RPED_TRY_ASSIGN(const crypto::EcPublicKey hoc_public, hoc.ec_public_key());
  RPED_TRY_ASSIGN(const crypto::EcPublicKey static_public, static_certificate.ec_public_key());
  if (!(hoc_public == hoc_key.public_key()) || !(static_public == static_key.public_key())) {
    return make_error(Errc::invalid_argument,
                      "the HSM state's keys do not match their certificates");
  }
  // docs/protocol.md §8: keyAgreement, serialNumber = HSM serial, chain to the root.
  if (!static_certificate.allows_key_agreement() ||
      static_certificate.subject_serial_number() != std::to_string(m.serial)) {
    return make_error(Errc::invalid_argument,
                      "the HSM static-key certificate does not name serial " +
                          std::to_string(m.serial) + " with keyAgreement");
  }
  RPED_TRY_ASSIGN(const crypto::TrustStore trust,
                  crypto::TrustStore::from_anchors(std::span(&root, 1)));
  const std::array intermediates{hoc};
  RPED_TRY(trust.verify(static_certificate, intermediates));
  return HsmKeys{std::move(hoc_key), std::move(static_key), std::move(root), std::move(hoc),
                 std::move(static_certificate)};
}

Result<HsmState> read_state_file(const std::filesystem::path& dir) {
  RPED_TRY_ASSIGN(const SecretBytes contents,
                  read_private_file(dir / kStateFile, kMaxStateFileBytes));
  auto state = HsmState::parse(contents.reveal());
  if (!state.ok()) {
    return make_error(Errc::invalid_encoding,
                      (dir / kStateFile).string() + ": " + state.error().message);
  }
  return state;
}

Result<StateDirectory> StateDirectory::open(const std::filesystem::path& dir,
                                            const ManufacturingOptions& options) {
  RPED_TRY(config::ensure_private_directory(dir));
  RPED_TRY_ASSIGN(const int lock, take_lock(dir / kLockFile, false));
  struct CloseOnError {
    int fd;
    bool keep = false;
    ~CloseOnError() {
      if (!keep) {
        ::close(fd);
      }
    }
  } guard{lock};

  HsmState state;
  if (file_exists(dir / kStateFile)) {
    RPED_TRY_ASSIGN(state, read_state_file(dir));
    if (options.serial && *options.serial != state.manufacturing.serial) {
      return make_error(Errc::invalid_argument, dir.string() + " holds HSM " +
                                                    std::to_string(state.manufacturing.serial) +
                                                    ", not " + std::to_string(*options.serial));
    }
  } else {
    RPED_TRY_ASSIGN(state, manufacture(dir, options));
  }
  // docs/attestation.md §5: made at manufacturing, or added to an older state.
  RPED_TRY(ensure_attestation_key(state.manufacturing));
  RPED_TRY_ASSIGN(const HsmKeys keys, load_keys(state.manufacturing));
  StateDirectory directory(dir, lock, std::move(state));
  guard.keep = true;
  RPED_TRY(directory.save(directory.loaded_));
  RPED_TRY(export_certificates(dir, keys));
  return directory;
}

StateDirectory::StateDirectory(StateDirectory&& other) noexcept
    : dir_(std::move(other.dir_)),
      lock_fd_(std::exchange(other.lock_fd_, -1)),
      loaded_(std::move(other.loaded_)) {}

StateDirectory& StateDirectory::operator=(StateDirectory&& other) noexcept {
  if (this != &other) {
    if (lock_fd_ >= 0) {
      ::close(lock_fd_);
    }
    dir_ = std::move(other.dir_);
    lock_fd_ = std::exchange(other.lock_fd_, -1);
    loaded_ = std::move(other.loaded_);
  }
  return *this;
}

StateDirectory::~StateDirectory() {
  if (lock_fd_ >= 0) {
    ::close(lock_fd_);
  }
}

Result<void> StateDirectory::save(const HsmState& state) const {
  RPED_TRY_ASSIGN(const SecretBytes bytes, state.serialize());
  return write_private_file(dir_ / kStateFile, bytes.reveal());
}

}  // namespace rped::hsmsim
