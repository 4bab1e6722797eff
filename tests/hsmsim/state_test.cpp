// hsmsim's persistent state: the state file round-trips and refuses damage;
// the state directory manufactures the HSM once, keeps it, locks it, writes
// private files only, and lets several HSMs share one demo manufacturer.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <array>
#include <fstream>

#include "hsmsim/hsmsim_fixture.h"
#include "rped/hsmsim/certificate_issuer.h"

namespace rped::hsmsim::test {
namespace {

using rped::test::fails_with;
using rped::test::is_ok;

mode_t mode_of(const std::filesystem::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) {
    throw std::runtime_error("stat " + p.string());
  }
  return st.st_mode & 07777;
}

Bytes read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

TEST(HsmStateFile, RoundTripsEveryField) {
  TempDir dir;
  ManufacturingOptions options;
  options.serial = 424242;
  StateDirectory directory = must(StateDirectory::open(dir.path(), options));
  HsmState state = directory.take_loaded_state();
  state.initialized = true;
  state.label = "lab HSM";
  state.so =
      must(PedSecretRecord::create("so", rped::test::bytes_of("blue secret"), 3, 5, Bytes(16, 7)));
  state.so.failed_logins = 2;
  state.auditor.locked_until = 12345;
  state.partition.created = true;
  state.partition.initialized = true;
  state.partition.label = "p1";
  state.partition.crypto_officer =
      must(PedSecretRecord::create("co", rped::test::bytes_of("black"), 1, 1, Bytes(16, 9)));
  state.partition.crypto_officer.locked_until = PedSecretRecord::kLockedUntilReset;
  state.rpv.initialized = true;
  state.rpv.rpv = SecretBytes::copy_of(Bytes(32, 0xA5));
  state.rpv.rpk_serial = 1234567890;
  state.rpv.m = 2;
  state.rpv.n = 3;
  state.policies[25] = 0;
  state.ped.host = "10.1.2.3";
  state.ped.port = 1600;

  const SecretBytes bytes = must(state.serialize());
  const HsmState back = must(HsmState::parse(bytes.reveal()));
  EXPECT_EQ(back.manufacturing.serial, 424242u);
  EXPECT_TRUE(back.manufacturing.static_private == state.manufacturing.static_private);
  EXPECT_EQ(back.label, "lab HSM");
  EXPECT_TRUE(back.so.verifies("so", rped::test::bytes_of("blue secret")));
  EXPECT_FALSE(back.so.verifies("so", rped::test::bytes_of("blue secreT")));
  EXPECT_FALSE(back.so.verifies("po", rped::test::bytes_of("blue secret")))
      << "verifiers are separated by purpose";
  EXPECT_EQ(back.so.m, 3);
  EXPECT_EQ(back.so.failed_logins, 2u);
  EXPECT_EQ(back.auditor.locked_until, 12345);
  EXPECT_EQ(back.partition.crypto_officer.locked_until, PedSecretRecord::kLockedUntilReset);
  EXPECT_TRUE(back.rpv.rpv == state.rpv.rpv);
  EXPECT_EQ(back.rpv.rpk_serial, 1234567890u);
  EXPECT_EQ(back.policy(PolicyId::allow_remote_ped), 0u);
  EXPECT_EQ(back.policy(PolicyId::force_user_pin_change), 1u)
      << "missing policies take their default";
  EXPECT_EQ(back.ped.host, "10.1.2.3");
  EXPECT_EQ(back.ped.port, 1600);
}

TEST(HsmStateFile, RefusesDamage) {
  TempDir dir;
  StateDirectory directory = must(StateDirectory::open(dir.path(), {}));
  const SecretBytes good = must(directory.take_loaded_state().serialize());
  const ByteView bytes = good.reveal();
  EXPECT_TRUE(is_ok(HsmState::parse(bytes)));
  // A cut inside any section is refused; so is a file without the manufacturing
  // section. A cut between later sections leaves them at their defaults.
  std::vector<std::size_t> boundaries;
  for (std::size_t at = 10; at < bytes.size();) {
    const std::size_t length = (std::size_t{bytes[at + 2]} << 24) |
                               (std::size_t{bytes[at + 3]} << 16) |
                               (std::size_t{bytes[at + 4]} << 8) | bytes[at + 5];
    at += 6 + length;
    boundaries.push_back(at);
  }
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    const bool boundary = std::find(boundaries.begin(), boundaries.end(), n) != boundaries.end();
    EXPECT_EQ(HsmState::parse(bytes.first(n)).ok(), boundary) << n;
  }
  Bytes bad_magic(bytes.begin(), bytes.end());
  bad_magic[0] = 'X';
  EXPECT_TRUE(fails_with(HsmState::parse(bad_magic), Errc::invalid_encoding));
  Bytes newer(bytes.begin(), bytes.end());
  newer[9] = 2;  // format version 2
  EXPECT_TRUE(fails_with(HsmState::parse(newer), Errc::invalid_encoding));
  Bytes unknown(bytes.begin(), bytes.end());
  const std::uint8_t section[] = {0x7F, 0x00, 0, 0, 0, 0};
  unknown.insert(unknown.end(), std::begin(section), std::end(section));
  EXPECT_TRUE(fails_with(HsmState::parse(unknown), Errc::invalid_encoding));
  Bytes twice(bytes.begin(), bytes.end());
  twice.insert(twice.end(), bytes.begin() + 10, bytes.end());  // every section again
  EXPECT_TRUE(fails_with(HsmState::parse(twice), Errc::invalid_encoding));
}

TEST(StateDirectory, ManufacturesOnceAndKeepsTheHsm) {
  TempDir dir;
  std::uint64_t serial = 0;
  Bytes static_cert;
  {
    StateDirectory directory = must(StateDirectory::open(dir.path() / "hsm", {}));
    const HsmState state = directory.take_loaded_state();
    serial = state.manufacturing.serial;
    static_cert = state.manufacturing.static_certificate;
    EXPECT_GE(serial, 1'000'000u);
    EXPECT_LE(serial, 9'999'999u);
    // One emulator per directory.
    EXPECT_TRUE(fails_with(StateDirectory::open(dir.path() / "hsm", {}), Errc::invalid_argument));
  }
  StateDirectory again = must(StateDirectory::open(dir.path() / "hsm", {}));
  const HsmState state = again.take_loaded_state();
  EXPECT_EQ(state.manufacturing.serial, serial);
  EXPECT_EQ(state.manufacturing.static_certificate, static_cert);
  ManufacturingOptions other;
  other.serial = serial + 1;
  EXPECT_TRUE(fails_with(StateDirectory::open(dir.path() / "hsm", other), Errc::invalid_argument));
}

TEST(StateDirectory, WritesPrivateFilesAndUsableCertificates) {
  TempDir dir;
  const std::filesystem::path hsm = dir.path() / "hsm";
  ManufacturingOptions options;
  options.serial = 1234567;
  const StateDirectory directory = must(StateDirectory::open(hsm, options));
  EXPECT_EQ(mode_of(hsm), 0700u);
  EXPECT_EQ(mode_of(hsm / "hsm.state"), 0600u);
  EXPECT_EQ(mode_of(hsm / "manufacturer" / "manufacturer-root.key"), 0600u);
  for (const char* pem : {"manufacturer-root.pem", "hoc.pem", "hsm-static.pem", "hsm-chain.pem"}) {
    EXPECT_EQ(mode_of(hsm / "certificates" / pem), 0600u) << pem;
  }
  // The exported PEMs are what pedserver's configuration needs: a root, and a chain that verifies.
  const Bytes root_pem = read_file(hsm / "certificates" / "manufacturer-root.pem");
  const Bytes chain_pem = read_file(hsm / "certificates" / "hsm-chain.pem");
  const auto roots =
      must(crypto::Certificate::from_pem(std::string(root_pem.begin(), root_pem.end())));
  const auto chain =
      must(crypto::Certificate::from_pem(std::string(chain_pem.begin(), chain_pem.end())));
  ASSERT_EQ(chain.size(), 2u);
  const auto trust = must(crypto::TrustStore::from_anchors(roots));
  const std::array intermediates{chain[1]};
  EXPECT_TRUE(is_ok(trust.verify(chain[0], intermediates)));
  EXPECT_EQ(chain[0].subject_serial_number(), "1234567");
  EXPECT_TRUE(chain[0].allows_key_agreement());
  // The secret scalars are nowhere in the exported certificates, and the state file is binary.
  const Bytes state_file = read_file(hsm / "hsm.state");
  EXPECT_EQ(std::string(state_file.begin(), state_file.begin() + 7), "RPEDHSM");
}

TEST(StateDirectory, HsmsShareOneManufacturer) {
  TempDir dir;
  ManufacturingOptions a;
  a.serial = 1111111;
  a.manufacturer_dir = dir.path() / "manufacturer";
  ManufacturingOptions b = a;
  b.serial = 2222222;
  StateDirectory first = must(StateDirectory::open(dir.path() / "a", a));
  StateDirectory second = must(StateDirectory::open(dir.path() / "b", b));
  const HsmState sa = first.take_loaded_state();
  const HsmState sb = second.take_loaded_state();
  EXPECT_EQ(sa.manufacturing.root_certificate, sb.manufacturing.root_certificate);
  EXPECT_NE(sa.manufacturing.hoc_certificate, sb.manufacturing.hoc_certificate);
  // Each HSM's chain verifies under the shared root; HSM b's HOC does not issue for a.
  const HsmKeys ka = must(StateDirectory::load_keys(sa.manufacturing));
  const HsmKeys kb = must(StateDirectory::load_keys(sb.manufacturing));
  EXPECT_FALSE(
      must(crypto::TrustStore::from_issuer(kb.hoc)).verify(ka.static_certificate, {}).ok());
}

TEST(StateDirectory, RefusesAStateWhoseKeysDoNotMatch) {
  TempDir dir;
  HsmState state;
  {
    StateDirectory directory = must(StateDirectory::open(dir.path(), {}));
    state = directory.take_loaded_state();
  }
  // Another key in place of the static key: the certificate no longer certifies it.
  state.manufacturing.static_private =
      must(must(crypto::EcKeyPair::generate()).export_private_scalar());
  EXPECT_TRUE(fails_with(StateDirectory::load_keys(state.manufacturing), Errc::invalid_argument));
}

TEST(CertificateIssuer, RefusesAWrongIssuerKeyAndMissingFields) {
  const auto root_key = must(crypto::EcKeyPair::generate());
  const auto other_key = must(crypto::EcKeyPair::generate());
  const crypto::Certificate root =
      must(issue_self_signed(root_key, demo_profile(CertificateRole::manufacturer_root, "Root")));
  EXPECT_TRUE(fails_with(issue_certificate(other_key.public_key(), root, other_key,
                                           demo_profile(CertificateRole::hsm_origin, "HOC")),
                         Errc::invalid_argument));
  EXPECT_TRUE(
      fails_with(issue_self_signed(root_key, demo_profile(CertificateRole::hsm_origin, "HOC")),
                 Errc::invalid_argument));
  EXPECT_TRUE(
      fails_with(issue_self_signed(root_key, demo_profile(CertificateRole::manufacturer_root, "")),
                 Errc::invalid_argument));
  const crypto::Certificate hoc =
      must(issue_certificate(other_key.public_key(), root, root_key,
                             demo_profile(CertificateRole::hsm_origin, "HOC", "7")));
  const auto leaf_key = must(crypto::EcKeyPair::generate());
  const crypto::Certificate leaf =
      must(issue_certificate(leaf_key.public_key(), hoc, other_key,
                             demo_profile(CertificateRole::key_agreement, "Leaf", "99")));
  const auto trust = must(crypto::TrustStore::from_anchors(std::span(&root, 1)));
  const std::array intermediates{hoc};
  EXPECT_TRUE(is_ok(trust.verify(leaf, intermediates)));
  EXPECT_TRUE(leaf.allows_key_agreement());
  EXPECT_FALSE(hoc.allows_key_agreement());
  EXPECT_EQ(leaf.subject_serial_number(), "99");
}

}  // namespace
}  // namespace rped::hsmsim::test
