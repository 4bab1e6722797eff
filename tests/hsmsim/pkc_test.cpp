// hsmsim's key attestation (docs/attestation.md §5): the attestation key made
// at manufacturing (and added to an older state file), `pkc get` for the
// static key and for generated keys, and the bundles checked by three
// verifiers: rped::attestation::verify_pkc, the pedtool binary, and the
// OpenSSL command line as an independent reference.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include "hsmsim/hsmsim_fixture.h"
#include "rped/attestation/pkc.h"
#include "rped/hsmsim/pkc.h"
#include "support/pkc_fixture.h"

namespace rped::hsmsim::test {
namespace {

using attestation::verify_pkc;

Bytes read_bytes(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::filesystem::path& file, ByteView bytes) {
  std::ofstream out(file, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::string describe(const attestation::PkcVerification& v) {
  std::string out;
  for (const auto& c : v.checks) {
    out += c.name + ": " + (c.passed ? "ok " : "FAILED ") + c.detail + "\n";
  }
  return out;
}

struct PkcBench : HsmBench {
  std::filesystem::path root_pem() const { return dir.path() / "state/certificates/manufacturer-root.pem"; }
  Bytes get_pkc(std::uint32_t handle) {
    const std::filesystem::path file = dir.path() / ("pkc-" + std::to_string(handle) + ".p7b");
    const CommandResult r =
        run("pkc get -handle " + std::to_string(handle) + " -outputfile " + file.string());
    EXPECT_TRUE(r.ok()) << r.message;
    return read_bytes(file);
  }
  attestation::PkcVerification verify(ByteView der, const attestation::VerifyOptions& o = {}) {
    return verify_pkc(der, std::span(&root, 1), o);  // HsmBench::root: the manufacturer root
  }
};

TEST(HsmsimPkc, StaticKeyBundleVerifiesAndNamesTheStaticKey) {
  PkcBench bench;
  const Bytes der = bench.get_pkc(kStaticKeyHandle);
  const attestation::PkcVerification v = bench.verify(der);
  ASSERT_TRUE(v.ok()) << describe(v);
  const HsmState state = bench.hsm->snapshot();
  const auto static_cert = must(crypto::Certificate::from_der(state.manufacturing.static_certificate));
  EXPECT_EQ(v.statement->subject_public_key_info, must(static_cert.ec_public_key()).spki_der());
  EXPECT_EQ(v.statement->hsm.serial, "1234567");
  EXPECT_EQ(v.statement->hsm.firmware_version, std::string(kDefaultFirmwareVersion));
  EXPECT_EQ(v.statement->attributes.key_usage, attestation::kKeyAgreement);
  EXPECT_EQ(v.root_common_name, "RPED hsmsim Demo Manufacturer Root");
  // The HOC in the bundle is the HSM's own, so pinned-fingerprint mode works from its certificate file.
  const auto hoc = must(crypto::Certificate::from_der(state.manufacturing.hoc_certificate));
  attestation::VerifyOptions pinned;
  pinned.pinned_hoc_sha256 = hoc.sha256_fingerprint();
  EXPECT_TRUE(verify_pkc(der, {}, pinned).ok());
}

TEST(HsmsimPkc, GeneratedKeysAreAttestedAndMatchTheirCsr) {
  PkcBench bench;
  CommandResult r = bench.run("key generate -label \"ca signing\" -usage sign");
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_NE(bench.console.text().find("handle 16"), std::string::npos);
  r = bench.run("key generate -label ecdh -usage derive");
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_NE(bench.console.text().find("handle 17"), std::string::npos);

  const Bytes der = bench.get_pkc(16);
  const HsmState state = bench.hsm->snapshot();
  ASSERT_EQ(state.objects.size(), 2U);
  const auto key = must(crypto::EcKeyPair::from_private(crypto::Curve::p521,
                                                        state.objects[0].private_scalar.reveal()));
  attestation::VerifyOptions options;
  options.csr_der = rped::test::make_csr(key);
  const attestation::PkcVerification v = bench.verify(der, options);
  ASSERT_TRUE(v.ok()) << describe(v);
  EXPECT_EQ(v.statement->handle, 16U);
  EXPECT_EQ(v.statement->label, "ca signing");
  EXPECT_EQ(v.statement->attributes.key_usage, attestation::kDigitalSignature);

  // The other generated key's CSR is refused against handle 16's bundle.
  const auto other = must(crypto::EcKeyPair::from_private(crypto::Curve::p521,
                                                          state.objects[1].private_scalar.reveal()));
  options.csr_der = rped::test::make_csr(other);
  EXPECT_FALSE(bench.verify(der, options).ok());
  EXPECT_EQ(must(attestation::decode_statement(must(attestation::parse_pkc(bench.get_pkc(17)))
                                                   .statement_der))
                .attributes.key_usage,
            attestation::kKeyAgreement);
}

TEST(HsmsimPkc, AnExtractableKeyIsAttestedTruthfullyAndRefused) {
  PkcBench bench;
  ASSERT_TRUE(bench.run("key generate -label export-me -extractable").ok());
  const attestation::PkcVerification v = bench.verify(bench.get_pkc(16));
  EXPECT_FALSE(v.ok());
  ASSERT_TRUE(v.statement.has_value());
  EXPECT_TRUE(v.statement->attributes.extractable);
  EXPECT_EQ(v.checks.back().name, "key attributes");
  EXPECT_FALSE(v.checks.back().passed);
}

TEST(HsmsimPkc, CommandErrors) {
  PkcBench bench;
  EXPECT_EQ(bench.run("pkc get -handle 16 -outputfile x").code, ResultCode::arguments_bad);
  EXPECT_EQ(bench.run("pkc get -handle 0 -outputfile x").code, ResultCode::arguments_bad);
  EXPECT_EQ(bench.run("pkc get -handle 1").code, ResultCode::arguments_bad);
  EXPECT_EQ(bench.run("pkc get -outputfile x").code, ResultCode::arguments_bad);
  EXPECT_EQ(bench.run("key generate -usage encrypt").code, ResultCode::arguments_bad);
  EXPECT_EQ(bench.run("key generate -label " + std::string(33, 'x')).code,
            ResultCode::arguments_bad);
  // A relative output file lands in the state directory.
  ASSERT_TRUE(bench.run("pkc get -h 1 -o relative.p7b").ok());
  EXPECT_TRUE(std::filesystem::exists(bench.dir.path() / "state" / "relative.p7b"));
}

TEST(HsmsimPkc, KeyObjectsPersistAndZeroizeDestroysThem) {
  PkcBench bench;
  ASSERT_TRUE(bench.run("key generate -label one").ok());
  const Bytes before = bench.hsm->snapshot().manufacturing.attestation_certificate;
  bench.restart();
  HsmState state = bench.hsm->snapshot();
  ASSERT_EQ(state.objects.size(), 1U);
  EXPECT_EQ(state.objects[0].label, "one");
  EXPECT_EQ(state.manufacturing.attestation_certificate, before) << "made once, kept";
  ASSERT_TRUE(bench.run("hsm zeroize -force").ok());
  EXPECT_TRUE(bench.hsm->snapshot().objects.empty());
  ASSERT_TRUE(bench.run("key generate").ok());
  EXPECT_EQ(bench.hsm->snapshot().objects[0].handle, 17U) << "handles are not reused";
  EXPECT_TRUE(bench.verify(bench.get_pkc(kStaticKeyHandle)).ok()) << "manufacturing data stays";
}

TEST(HsmsimPkc, StateFileFromBeforeAttestationGetsAnAttestationKey) {
  TempDir dir;
  ManufacturingOptions options;
  options.serial = 7654321;
  HsmState old;
  {
    StateDirectory fresh = must(StateDirectory::open(dir.path(), options));
    old = fresh.take_loaded_state();
    old.manufacturing.attestation_private = SecretBytes();
    old.manufacturing.attestation_certificate.clear();  // serialize() then omits section 0x0007
    ASSERT_TRUE(fresh.save(old).ok());
  }
  ASSERT_TRUE(must(read_state_file(dir.path())).manufacturing.attestation_certificate.empty());
  StateDirectory reopened = must(StateDirectory::open(dir.path(), options));
  const HsmState state = reopened.take_loaded_state();
  ASSERT_FALSE(state.manufacturing.attestation_certificate.empty());
  EXPECT_FALSE(must(read_state_file(dir.path())).manufacturing.attestation_certificate.empty())
      << "saved";
  const Bytes der = must(make_pkc(state, kStaticKeyHandle, static_cast<std::int64_t>(std::time(nullptr))));
  const auto root = must(crypto::Certificate::from_der(state.manufacturing.root_certificate));
  EXPECT_TRUE(verify_pkc(der, std::span(&root, 1)).ok());
}

TEST(HsmsimPkc, AMismatchedAttestationKeyRefusesTheStart) {
  TempDir dir;
  ManufacturingOptions options;
  options.serial = 7654321;
  {
    StateDirectory fresh = must(StateDirectory::open(dir.path(), options));
    HsmState state = fresh.take_loaded_state();
    const auto other = must(crypto::EcKeyPair::generate());
    state.manufacturing.attestation_private = must(other.export_private_scalar());
    ASSERT_TRUE(fresh.save(state).ok());
  }
  const auto reopened = StateDirectory::open(dir.path(), options);
  ASSERT_FALSE(reopened.ok());
  EXPECT_NE(reopened.error().message.find("attestation key does not match"), std::string::npos);
}

// --- the bundle through the pedtool binary and the OpenSSL command line ------

int run_shell(const std::string& command, std::string* output = nullptr) {
  std::FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) {
    return -1;
  }
  std::string text;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) {
    text += buffer;
  }
  const int status = ::pclose(pipe);
  if (output != nullptr) {
    *output = text;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(HsmsimPkc, PedtoolVerdicts) {
  PkcBench bench;
  const std::string pedtool = RPED_PEDTOOL_BINARY;
  const std::filesystem::path good = bench.dir.path() / "pkc-1.p7b";
  static_cast<void>(bench.get_pkc(kStaticKeyHandle));
  const std::string root = bench.root_pem().string();
  std::string out;

  EXPECT_EQ(run_shell(pedtool + " pkc verify -inputfile " + good.string() + " -root " + root, &out), 0)
      << out;
  EXPECT_NE(out.find("verdict: VERIFIED -- HSM 1234567"), std::string::npos) << out;
  EXPECT_EQ(run_shell(pedtool + " pkc show -inputfile " + good.string(), &out), 0) << out;
  EXPECT_NE(out.find("never extractable: yes"), std::string::npos) << out;

  // Wrong root: another emulated manufacturer.
  const rped::test::PkcPki other = rped::test::make_pkc_pki("1234567", "another manufacturer");
  const std::filesystem::path other_root = bench.dir.path() / "other-root.pem";
  std::ofstream(other_root) << other.root.pem();
  EXPECT_EQ(run_shell(pedtool + " pkc verify -inputfile " + good.string() + " -root " +
                          other_root.string(), &out), 1) << out;
  EXPECT_NE(out.find("chain            FAIL"), std::string::npos) << out;

  // Tampered content: the label inside the signed statement.
  Bytes der = read_bytes(good);
  const std::string label = "HSM static key";
  auto at = std::search(der.begin(), der.end(), label.begin(), label.end());
  ASSERT_NE(at, der.end());
  *at = 'J';
  const std::filesystem::path tampered = bench.dir.path() / "tampered.p7b";
  write_bytes(tampered, der);
  EXPECT_EQ(run_shell(pedtool + " pkc verify -inputfile " + tampered.string() + " -root " + root, &out), 1)
      << out;
  EXPECT_NE(out.find("signature        FAIL"), std::string::npos) << out;

  // A CSR for another key, in PEM.
  const auto stranger = must(crypto::EcKeyPair::generate());
  const Bytes csr = rped::test::make_csr(stranger);
  const std::filesystem::path csr_file = bench.dir.path() / "stranger.csr";
  write_bytes(csr_file, csr);
  EXPECT_EQ(run_shell(pedtool + " pkc verify -inputfile " + good.string() + " -root " + root +
                          " -csr " + csr_file.string(), &out), 1) << out;
  EXPECT_NE(out.find("csr              FAIL  the CSR's public key is not the attested key"),
            std::string::npos) << out;

  // Extractable, honestly signed by the HSM.
  ASSERT_TRUE(bench.run("key generate -extractable").ok());
  static_cast<void>(bench.get_pkc(16));
  EXPECT_EQ(run_shell(pedtool + " pkc verify -inputfile " + (bench.dir.path() / "pkc-16.p7b").string() +
                          " -root " + root, &out), 1) << out;
  EXPECT_NE(out.find("key attributes   FAIL  the key is extractable"), std::string::npos) << out;

  // Usage errors are 2, never a verdict.
  EXPECT_EQ(run_shell(pedtool + " pkc verify -root " + root, &out), 2) << out;
  EXPECT_EQ(run_shell(pedtool + " pkc verify -inputfile /nonexistent -root " + root, &out), 2) << out;
}

// OpenSSL's own `cms -verify` accepts the bundle against the emulator's root
// (an independent implementation of RFC 5652 and RFC 5280), and refuses a
// tampered one. `-purpose any`: the attestation certificate's extended key
// usage is id-kp-rpedKeyAttestation, not S/MIME (docs/attestation.md §4).
TEST(HsmsimPkc, OpensslCommandLineAcceptsTheBundle) {
  if (run_shell("openssl version") != 0) {
    GTEST_SKIP() << "no openssl command line";
  }
  PkcBench bench;
  static_cast<void>(bench.get_pkc(kStaticKeyHandle));
  const std::filesystem::path good = bench.dir.path() / "pkc-1.p7b";
  const std::filesystem::path content = bench.dir.path() / "statement.der";
  const std::string verify = "openssl cms -verify -inform DER -binary -purpose any -CAfile " +
                             bench.root_pem().string() + " -in ";
  std::string out;
  ASSERT_EQ(run_shell(verify + good.string() + " -out " + content.string(), &out), 0) << out;
  // What OpenSSL extracts is the statement our decoder reads.
  const auto statement = must(attestation::decode_statement(read_bytes(content)));
  EXPECT_EQ(statement.handle, kStaticKeyHandle);

  Bytes der = read_bytes(good);
  der.back() ^= 0x01;
  const std::filesystem::path tampered = bench.dir.path() / "tampered.p7b";
  write_bytes(tampered, der);
  EXPECT_NE(run_shell(verify + tampered.string() + " -out /dev/null", &out), 0) << out;
  const rped::test::PkcPki other = rped::test::make_pkc_pki("1234567", "another manufacturer");
  const std::filesystem::path other_root = bench.dir.path() / "other-root.pem";
  std::ofstream(other_root) << other.root.pem();
  EXPECT_NE(run_shell("openssl cms -verify -inform DER -binary -purpose any -CAfile " +
                          other_root.string() + " -in " + good.string() + " -out /dev/null", &out),
            0) << out;
}

}  // namespace
}  // namespace rped::hsmsim::test
