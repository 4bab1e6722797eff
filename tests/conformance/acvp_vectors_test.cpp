// Runners for the NIST ACVP files in vectors/acvp/ (schema acvp-merged-v1, see
// vectors/README.md section 2). AFT cases are known answers; VAL cases are
// computed from `input` and compared with what the server supplied, and every
// case whose `result` is "invalid" must be detected.
#include <openssl/evp.h>

#include <cstdint>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "conformance/primitive_checks.h"
#include "conformance/vector_runner.h"
#include "rped/crypto/ec.h"
#include "rped/crypto/kdf.h"

namespace rped::conformance {
namespace {

using crypto::Curve;
using crypto::EcKeyPair;
using crypto::EcPublicKey;

// `result` is "invalid" exactly when expected.testPassed is false (README section 2).
bool expects_valid(const Json& test) {
  const Expected expected = expected_result(test);
  if (expected == Expected::acceptable) {
    throw VectorDataError("ACVP files have no \"acceptable\" cases");
  }
  const bool valid = expected == Expected::valid;
  const Json& outcome = test.at("expected");
  if (outcome.contains("testPassed") && outcome.at("testPassed").get<bool>() != valid) {
    throw VectorDataError("result and expected.testPassed disagree");
  }
  return valid;
}

bool is_aft(const Json& test) {
  const std::string type = string_field(test, "testType");
  if (type != "AFT" && type != "VAL") {
    throw VectorDataError("unknown testType '" + type + "'");
  }
  return type == "AFT";
}

Bytes concat(ByteView a, ByteView b) {
  Bytes out(a.begin(), a.end());
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

Bytes sha512(ByteView data) {
  Bytes digest(EVP_MAX_MD_SIZE);
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_sha512(), nullptr) != 1) {
    throw VectorDataError("EVP_Digest(SHA-512) failed");
  }
  digest.resize(size);
  return digest;
}

template <typename T>
Result<void> status_of(const Result<T>& result) {
  return result.ok() ? Result<void>() : Result<void>(result.error());
}

Result<EcPublicKey> p521_public_key(const Json& object, std::string_view x, std::string_view y) {
  return EcPublicKey::from_coordinates(Curve::p521, hex_field(object, x), hex_field(object, y));
}

// ---- KAS-ECC 1.0 staticUnified P-521 CDH: Z = x(d_IUT * Q_server), hashZIut = SHA2-512(Z).

CaseOutcome check_cdh_secret(const Json& test, ByteView z, ByteView want_hash) {
  const Bytes want_z = hex_field(test.at("internal"), "z");
  if (!bytes_equal(z, want_z)) {
    return failed(mismatch("Z", z, want_z));
  }
  const Bytes hash = sha512(z);
  if (!bytes_equal(hash, want_hash)) {
    return failed(mismatch("SHA-512(Z)", hash, want_hash));
  }
  return passed();
}

// AFT: the IUT key pair and Z come from the sample set's internal projection.
CaseOutcome check_cdh_aft(const Json& test) {
  const Result<EcKeyPair> own =
      EcKeyPair::from_private(Curve::p521, hex_field(test.at("internal"), "staticPrivateIut"));
  if (!own.ok()) {
    return failed("IUT private key rejected: " + describe(own.error()));
  }
  const Json& expected = test.at("expected");
  const Bytes want_q =
      concat(hex_field(expected, "staticPublicIutX"), hex_field(expected, "staticPublicIutY"));
  if (!bytes_equal(own->public_key().xy(), want_q)) {
    return failed(mismatch("IUT public key d*G", own->public_key().xy(), want_q));
  }
  const Result<EcPublicKey> server =
      p521_public_key(test.at("input"), "staticPublicServerX", "staticPublicServerY");
  if (!server.ok()) {
    return failed("server public key rejected: " + describe(server.error()));
  }
  const Result<SecretBytes> z = own->ecdh(server.value());
  if (!z.ok()) {
    return failed("ecdh: " + describe(z.error()));
  }
  return check_cdh_secret(test, z->reveal(), hex_field(expected, "hashZIut"));
}

// The IUT key pair of a VAL case: its private scalar, checked for pair-wise
// consistency (SP 800-56A r3 §5.6.2.1.4) against the public key where one is given.
Result<EcKeyPair> iut_key_pair(const Json& input) {
  const Bytes d = hex_field(input, "staticPrivateIut");
  if (!input.contains("staticPublicIutX")) {
    return EcKeyPair::from_private(Curve::p521, d);
  }
  RPED_TRY_ASSIGN(const EcPublicKey q,
                  p521_public_key(input, "staticPublicIutX", "staticPublicIutY"));
  return EcKeyPair::from_private_and_public(Curve::p521, d, q);
}

// VAL: the server key must pass full public-key validation unless it is the
// deliberately broken one; otherwise SHA-512(Z) is compared with the server's hashZIut.
CaseOutcome check_cdh_val(const Json& test) {
  const Json& input = test.at("input");
  const bool valid = expects_valid(test);
  const Result<EcKeyPair> own = iut_key_pair(input);
  if (!own.ok()) {
    return failed("IUT key pair rejected: " + describe(own.error()));
  }
  const Result<EcPublicKey> server =
      p521_public_key(input, "staticPublicServerX", "staticPublicServerY");
  const std::string disposition = string_field(test.at("internal"), "testCaseDisposition");
  if (!valid && disposition.find("public key") != std::string::npos) {
    // SP 800-56A r3 §5.6.2.3.3: a server key not on the curve must fail validation.
    return check_verdict("EcPublicKey::from_coordinates (server key)", status_of(server),
                         /*expect_valid=*/false);
  }
  if (!server.ok()) {
    return failed("server public key rejected: " + describe(server.error()));
  }
  const Result<SecretBytes> z = own->ecdh(server.value());
  if (!z.ok()) {
    return failed("ecdh: " + describe(z.error()));
  }
  const Bytes given_hash = hex_field(input, "hashZIut");
  if (valid) {
    return check_cdh_secret(test, z->reveal(), given_hash);
  }
  // Altered Z or altered hashZ: our SHA-512(Z) must differ from the server's.
  if (bytes_equal(sha512(z->reveal()), given_hash)) {
    return failed("altered case not detected: SHA-512(Z) equals the given hashZIut (" +
                  disposition + ")");
  }
  return passed();
}

CaseOutcome check_kas_ecc_cdh(const Json& test) {
  const Json& group = test.at("group");
  if (string_field(group, "curve") != "P-521" || string_field(group, "hashAlg") != "SHA2-512" ||
      string_field(group, "kasMode") != "noKdfNoKc") {
    throw VectorDataError("runner handles P-521 / SHA2-512 / noKdfNoKc groups only");
  }
  return is_aft(test) ? check_cdh_aft(test) : check_cdh_val(test);
}

// ---- KDA one-step (SP 800-56C Rev.1 / Rev.2), auxFunction SHA2-512.

// uPartyInfo / vPartyInfo = partyId || [ephemeralData].
Bytes party_info(const Json& party) {
  Bytes info = hex_field(party, "partyId");
  if (party.contains("ephemeralData")) {
    const Bytes ephemeral = hex_field(party, "ephemeralData");
    info.insert(info.end(), ephemeral.begin(), ephemeral.end());
  }
  return info;
}

// FixedInfo: the fields of kdfConfiguration.fixedInfoPattern, concatenated in order
// (README section 5; SP 800-56C r2 §4.2 / ACVP KDA "FixedInfoPatternConstruction").
Bytes fixed_info(const Json& kdf_configuration, const Json& input, std::uint32_t l_bits) {
  if (string_field(kdf_configuration, "fixedInfoEncoding") != "concatenation") {
    throw VectorDataError("only fixedInfoEncoding 'concatenation' is implemented");
  }
  const std::string pattern = string_field(kdf_configuration, "fixedInfoPattern");
  const Json& kdf_parameter = input.at("kdfParameter");
  Bytes out;
  std::string_view rest = pattern;
  while (!rest.empty()) {
    const std::size_t end = rest.find("||");
    const std::string_view name = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 2);
    Bytes part;
    if (name == "uPartyInfo") {
      part = party_info(input.at("fixedInfoPartyU"));
    } else if (name == "vPartyInfo") {
      part = party_info(input.at("fixedInfoPartyV"));
    } else if (name == "l") {
      append_u32_be(part, l_bits);  // SP 800-56C: L as a 32-bit big-endian integer
    } else if (name == "t" || name == "algorithmId" || name == "label" || name == "context") {
      part = hex_field(kdf_parameter, name);
    } else if (name.starts_with("literal[") && name.ends_with("]")) {
      const Result<Bytes> literal = from_hex(name.substr(8, name.size() - 9));
      if (!literal.ok()) {
        throw VectorDataError("bad literal in fixedInfoPattern: " + std::string(name));
      }
      part = literal.value();
    } else {
      throw VectorDataError("unknown fixedInfoPattern field '" + std::string(name) + "'");
    }
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

CaseOutcome check_kda_one_step(const Json& test) {
  const Json& configuration = test.at("group").at("kdfConfiguration");
  if (string_field(configuration, "kdfType") != "oneStep" ||
      string_field(configuration, "auxFunction") != "SHA2-512") {
    throw VectorDataError("runner handles kdfType oneStep with auxFunction SHA2-512 only");
  }
  const Json& input = test.at("input");
  const Json& kdf_parameter = input.at("kdfParameter");
  const std::size_t l_bits = size_field(kdf_parameter, "l");
  if (l_bits == 0 || l_bits % 8 != 0 || l_bits != size_field(configuration, "l")) {
    throw VectorDataError("L must be a positive multiple of 8 equal to the group's l");
  }
  const Bytes info = fixed_info(configuration, input, static_cast<std::uint32_t>(l_bits));
  const Result<SecretBytes> dkm =
      crypto::one_step_kdf_sha512(hex_field(kdf_parameter, "z"), info, l_bits / 8);
  if (!dkm.ok()) {
    return failed("one_step_kdf_sha512: " + describe(dkm.error()));
  }
  if (is_aft(test)) {
    const Bytes want = hex_field(test.at("expected"), "dkm");
    return bytes_equal(dkm->reveal(), want) ? passed()
                                            : failed(mismatch("DKM", dkm->reveal(), want));
  }
  const Bytes given = hex_field(input, "dkm");
  const bool same = bytes_equal(dkm->reveal(), given);
  if (expects_valid(test)) {
    return same ? passed() : failed(mismatch("DKM", dkm->reveal(), given));
  }
  return same ? failed("the altered DKM was reproduced") : passed();
}

// ---- AES-256-CTR. payloadLen is in bits; for encrypt the initial counter block
// was generated by the IUT and is in expected.iv, for decrypt it is input.iv.

CaseOutcome check_aes_ctr(const Json& test) {
  const Json& input = test.at("input");
  const Json& expected = test.at("expected");
  const std::string direction = string_field(test.at("group"), "direction");
  const std::size_t bits = size_field(input, "payloadLen");
  const bool encrypt = direction == "encrypt";
  if (!encrypt && direction != "decrypt") {
    throw VectorDataError("unknown direction '" + direction + "'");
  }
  const Bytes counter = encrypt ? hex_field(expected, "iv") : hex_field(input, "iv");
  const Bytes in = hex_field(input, encrypt ? "pt" : "ct");
  const Bytes want = hex_field(expected, encrypt ? "ct" : "pt");
  if (in.size() != (bits + 7) / 8) {
    throw VectorDataError("payload hex length does not match payloadLen");
  }
  return check_aes256_ctr(hex_field(input, "key"), counter, in, want, bits);
}

// ---- AES-KWP-256 (forward cipher).

CaseOutcome check_aes_kwp(const Json& test) {
  const Json& group = test.at("group");
  const Json& input = test.at("input");
  const Json& expected = test.at("expected");
  if (string_field(group, "kwCipher") != "cipher") {
    throw VectorDataError("only kwCipher 'cipher' is implemented");
  }
  const Bytes kek = hex_field(input, "key");
  const std::string direction = string_field(group, "direction");
  if (direction == "encrypt") {
    return check_kwp_reproduces(kek, hex_field(input, "pt"), hex_field(expected, "ct"));
  }
  if (direction != "decrypt") {
    throw VectorDataError("unknown direction '" + direction + "'");
  }
  return expects_valid(test)
             ? check_kwp_reproduces(kek, hex_field(expected, "pt"), hex_field(input, "ct"))
             : check_kwp_rejects(kek, hex_field(input, "ct"));
}

// ---- HMAC-SHA2-512 2.0, tag truncated to macLen bits.

CaseOutcome check_hmac(const Json& test) {
  const Json& input = test.at("input");
  const Bytes key = hex_field(input, "key");
  const Bytes msg = hex_field(input, "msg");
  const Bytes mac = hex_field(test.at("expected"), "mac");
  if (key.size() * 8 != size_field(input, "keyLen") ||
      msg.size() * 8 != size_field(input, "msgLen") ||
      mac.size() * 8 != size_field(input, "macLen")) {
    throw VectorDataError("keyLen/msgLen/macLen do not match the hex lengths");
  }
  return check_hmac_sha512(key, msg, mac, expects_valid(test));
}

// ---- ECDSA SigVer P-521 / SHA2-512: (r, s) as 66-byte integers -> P1363 r || s.

CaseOutcome check_ecdsa_sig_ver(const Json& test) {
  const Json& group = test.at("group");
  if (string_field(group, "curve") != "P-521" || string_field(group, "hashAlg") != "SHA2-512") {
    throw VectorDataError("runner handles P-521 / SHA2-512 only");
  }
  const Json& input = test.at("input");
  const bool valid = expects_valid(test);
  const Result<EcPublicKey> key = p521_public_key(input, "qx", "qy");
  if (!key.ok()) {
    // A "modify key" case may yield a point that fails validation: that is a rejection too.
    return check_verdict("EcPublicKey::from_coordinates", status_of(key), valid);
  }
  const Bytes r = hex_field(input, "r");
  const Bytes s = hex_field(input, "s");
  if (r.size() != crypto::kP521FieldBytes || s.size() != crypto::kP521FieldBytes) {
    throw VectorDataError("r and s must be 66 bytes");
  }
  return check_verdict(
      "ecdsa_verify_sha512_p1363",
      crypto::ecdsa_verify_sha512_p1363(key.value(), hex_field(input, "message"), concat(r, s)),
      valid);
}

// ---- Test suites: one per schema family, one test per file.

class AcvpKasEccCdhVectors : public ::testing::TestWithParam<VectorFile> {};
TEST_P(AcvpKasEccCdhVectors, AllCasesConform) {
  run_vector_file(GetParam(),
                  [](VectorFileRun& run) { for_each_listed_case(run, check_kas_ecc_cdh); });
}
INSTANTIATE_TEST_SUITE_P(Files, AcvpKasEccCdhVectors,
                         ::testing::Values(VectorFile{
                             "acvp/kas-ecc-1.0_p521_staticUnified_cdh.json"}),
                         vector_test_name);

class AcvpKdaOneStepVectors : public ::testing::TestWithParam<VectorFile> {};
TEST_P(AcvpKdaOneStepVectors, AllCasesConform) {
  run_vector_file(GetParam(),
                  [](VectorFileRun& run) { for_each_listed_case(run, check_kda_one_step); });
}
INSTANTIATE_TEST_SUITE_P(Files, AcvpKdaOneStepVectors,
                         ::testing::Values(VectorFile{"acvp/kda-onestep-sha2-512_sp800-56cr1.json"},
                                           VectorFile{
                                               "acvp/kda-onestep-sha2-512_sp800-56cr2.json"}),
                         vector_test_name);

class AcvpAesCtrVectors : public ::testing::TestWithParam<VectorFile> {};
TEST_P(AcvpAesCtrVectors, AllCasesConform) {
  run_vector_file(GetParam(), [](VectorFileRun& run) { for_each_listed_case(run, check_aes_ctr); });
}
INSTANTIATE_TEST_SUITE_P(Files, AcvpAesCtrVectors,
                         ::testing::Values(VectorFile{"acvp/aes-ctr-256.json"}), vector_test_name);

class AcvpAesKwpVectors : public ::testing::TestWithParam<VectorFile> {};
TEST_P(AcvpAesKwpVectors, AllCasesConform) {
  run_vector_file(GetParam(), [](VectorFileRun& run) { for_each_listed_case(run, check_aes_kwp); });
}
INSTANTIATE_TEST_SUITE_P(Files, AcvpAesKwpVectors,
                         ::testing::Values(VectorFile{"acvp/aes-kwp-256.json"}), vector_test_name);

class AcvpHmacVectors : public ::testing::TestWithParam<VectorFile> {};
TEST_P(AcvpHmacVectors, AllCasesConform) {
  run_vector_file(GetParam(), [](VectorFileRun& run) { for_each_listed_case(run, check_hmac); });
}
INSTANTIATE_TEST_SUITE_P(Files, AcvpHmacVectors,
                         ::testing::Values(VectorFile{"acvp/hmac-sha2-512.json"}),
                         vector_test_name);

class AcvpEcdsaSigVerVectors : public ::testing::TestWithParam<VectorFile> {};
TEST_P(AcvpEcdsaSigVerVectors, AllCasesConform) {
  run_vector_file(GetParam(),
                  [](VectorFileRun& run) { for_each_listed_case(run, check_ecdsa_sig_ver); });
}
INSTANTIATE_TEST_SUITE_P(Files, AcvpEcdsaSigVerVectors,
                         ::testing::Values(VectorFile{"acvp/ecdsa-sigver-p521-sha2-512.json"}),
                         vector_test_name);

}  // namespace
}  // namespace rped::conformance
