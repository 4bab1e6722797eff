// Known-answer tests for every primitive (FIPS 140-3 IG 10.3.A). The answers
// are public vectors, each cross-checked in the conformance suite:
//   HMAC-SHA512   RFC 4231 §4.2 (test case 1)
//   AES-256-CTR   SP 800-38A F.5.5, blocks 1-2 (the counter increments)
//   AES-256-KWP   ACVP AES-KWP-1.0, tgId 13 (8-bit payload), wrap and unwrap
//   One-step KDF  ACVP KDA-OneStep-Sp800-56Cr1 tcId 126 (SHA2-512)
//   ECC CDH P-521 ACVP KAS-ECC-1.0 tcId 4691 (Z and the IUT public key d*G)
//   ECDSA P-521   ACVP ECDSA-SigVer-FIPS186-5 tcId 156, plus a rejected tamper
//   Key pairs     generation with pair-wise consistency, sign/verify round trip
#include "rped/selftest.h"

#include <functional>

#include "rped/bytes.h"
#include "rped/crypto/ec.h"
#include "rped/crypto/kdf.h"
#include "rped/crypto/symmetric.h"

namespace rped {

namespace {

using crypto::Curve;

// Hex constants are known-good literals; a decoding failure is our bug, and
// reports as a failed self-test rather than aborting.
Result<Bytes> hex(std::string_view h) { return from_hex(h); }

Result<void> expect_equal(ByteView got, std::string_view want_hex, const char* what) {
  RPED_TRY_ASSIGN(const Bytes want, hex(want_hex));
  if (!constant_time_equal(got, want)) {
    return make_error(Errc::self_test_failed, std::string(what) + " differs from the known answer");
  }
  return {};
}

Result<void> kat_hmac_sha512() {
  RPED_TRY_ASSIGN(const Bytes key, hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"));
  RPED_TRY_ASSIGN(const Bytes msg, hex("4869205468657265"));  // "Hi There"
  RPED_TRY_ASSIGN(const auto mac, crypto::HmacSha512::create(key));
  RPED_TRY_ASSIGN(const auto tag, mac.compute(msg));
  RPED_TRY(expect_equal(tag,
                        "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
                        "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
                        "HMAC-SHA512 tag"));
  auto bad = tag;
  bad[0] ^= 1;
  if (mac.verify(msg, bad).ok()) {
    return make_error(Errc::self_test_failed, "HMAC-SHA512 accepted a tampered tag");
  }
  return mac.verify(msg, tag);
}

Result<void> kat_aes256_ctr() {
  RPED_TRY_ASSIGN(const Bytes key, hex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4"));
  RPED_TRY_ASSIGN(const Bytes counter, hex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"));
  RPED_TRY_ASSIGN(const Bytes pt, hex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"));
  Bytes ct(pt.size());
  RPED_TRY(crypto::aes256_ctr_xor(key, counter, pt, ct));
  RPED_TRY(expect_equal(ct, "601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5", "AES-256-CTR"));
  Bytes back(ct.size());
  RPED_TRY(crypto::aes256_ctr_xor(key, counter, ct, back));
  return expect_equal(back, to_hex(pt), "AES-256-CTR decryption");
}

Result<void> kat_aes256_kwp() {
  RPED_TRY_ASSIGN(const Bytes kek, hex("CBACADE82EFC97AD2EE38B19F955DBCB1178ADE01E78C30676FD27AAAAE9D8AE"));
  RPED_TRY_ASSIGN(const Bytes pt, hex("C0"));
  RPED_TRY_ASSIGN(const Bytes wrapped, crypto::aes_kwp_wrap(kek, pt));
  RPED_TRY(expect_equal(wrapped, "462A7E8D992594F6163BD7A24C0FE4E5", "AES-256-KWP wrap"));
  RPED_TRY_ASSIGN(const SecretBytes unwrapped, crypto::aes_kwp_unwrap(kek, wrapped));
  RPED_TRY(expect_equal(unwrapped.reveal(), "C0", "AES-256-KWP unwrap"));
  Bytes tampered = wrapped;
  tampered.back() ^= 1;
  if (crypto::aes_kwp_unwrap(kek, tampered).ok()) {
    return make_error(Errc::self_test_failed, "AES-256-KWP unwrapped a tampered ciphertext");
  }
  return {};
}

Result<void> kat_one_step_kdf() {
  RPED_TRY_ASSIGN(const Bytes z, hex("A138CE0B6C7C1C1C7EC87C27F6F36D462CC276283BA754EC292E4A6D7228BDDA01EE50"));
  // FixedInfo = uPartyInfo || vPartyInfo || l (L = 1024 as 32-bit big-endian).
  RPED_TRY_ASSIGN(Bytes fixed_info, hex("C50968E5CB3D24703AA19A98ED586E741B1E1DC1CE5056A9F55DD9F75CE1225F"));
  append_u32_be(fixed_info, 1024);
  RPED_TRY_ASSIGN(const SecretBytes dkm, crypto::one_step_kdf_sha512(z, fixed_info, 128));
  return expect_equal(dkm.reveal(),
                      "4F856C72CED74AB5016397F019A6E68B3B26012444D64C0C5C4FDF24B76703611EC2D0E9ECF059DEAC92029C818A6F14"
                      "E7817F6A4E1106F159CD871CF05CFD866B661306D3D0BDADDEAEF6B0BE6B82BB8440D59DAFB1B22474212E7482402E65"
                      "3B1B6BFD71FBF6487B42E3879DAA42C89D8DBDF12635DB775364016F527AB883",
                      "one-step KDF DKM");
}

Result<void> kat_ecc_cdh_p521() {
  RPED_TRY_ASSIGN(const Bytes d, hex("001981D553A852762352CE0ACDEDFFDBC7EE37B404337B0F5DF82190CD3630EB38ED5FE9E63FED05"
                                     "16881B31E2147B090B481394A6FF165F03681540AE68FE3E83B2"));
  RPED_TRY_ASSIGN(const Bytes qx, hex("01A33B67A7DB27FCF6EB8EAE2090ADEF5CA749C4805E0189A6F6D01F0CA70ADE755B2DA05904067942"
                                      "85E4062B0220A90C5CB601BE90A349BE883CF5D001B509BC7F"));
  RPED_TRY_ASSIGN(const Bytes qy, hex("0072D94243AB5D21C4D77CA31532D5BC3D9E0B881421B61C36FEEA32627BE577ECFCD3EF00F23DEC"
                                      "16FCE6E72422AB61FBEF8C38D3FCC88FC97B78F0E822A14BDB85"));
  RPED_TRY_ASSIGN(const crypto::EcKeyPair own, crypto::EcKeyPair::from_private(Curve::p521, d));
  RPED_TRY(expect_equal(own.public_key().xy(),
                        "00833EC7028929D86FB38FC8FEF46DC6D8CC6461D4319407164EF7BD8BF926D127E031AB6DCACBDC7783A9106D716E34"
                        "3F687859C7549C7F6B1F759F9D481A6880AD00CF05D9C1F6C45ECF08370D8122BE7C98F2D78F252659EAD4704ECEF123"
                        "6770D1949E45189491E53000942C3DBECEEF1915E622E8433A0EE60D30F011DF588234C9",
                        "P-521 public key d*G"));
  RPED_TRY_ASSIGN(const crypto::EcPublicKey peer, crypto::EcPublicKey::from_coordinates(Curve::p521, qx, qy));
  RPED_TRY_ASSIGN(const SecretBytes z, own.ecdh(peer));
  return expect_equal(z.reveal(),
                      "004C4AE2A24595FC06256F5C5D610A03DE881CD4689BD33401428038BCF705DC4B4B67E72AEEC3F44E9CC7C8F2702F6F"
                      "7F682BFF940B335B7F8D0E9FC0CFE5B4F1CD",
                      "ECC CDH shared secret Z");
}

Result<void> kat_ecdsa_p521_verify() {
  RPED_TRY_ASSIGN(const Bytes msg, hex("455E95A9CEFECE7A48B7EE471138B35D17913FEF6B59EE22C96B063507BD49530EC751F1207FD3F4"
                                       "01A6D2ABB936778525D2DF53E2C48F974FB529A1F2D0201A63A77E89BED82FF6E422B4FAF03ED7F3"
                                       "0DF90527D8ACFB8C510FC95076B817B5A1C3E99129857F2AFAB700DD50E0A619059F5A0985C1DE4C"
                                       "39A70E3D032AAEE5"));
  RPED_TRY_ASSIGN(const Bytes qx, hex("00B6D8E1BF57041690BBF8029F5CFF95942ABB39D33CD6F033FD9B2D2ACA8BCD8BFCA21C4A2C4321"
                                      "D9C51702B7DDBD5CE45CE8618A80AB420CD5B4399F6390B070F8"));
  RPED_TRY_ASSIGN(const Bytes qy, hex("00FEC2CB9F014166AECE1D92CDFBD0E285873202822BFB0D02635D9A58EE9BA0D25BDBD776B5FB6D"
                                      "467C51006AE3E159738208BC3621D5934601B5ABEC313C82254F"));
  RPED_TRY_ASSIGN(Bytes sig, hex("00E9CDAC23167602F30787BFEB087788E2F3426551CEA49425E6018827ECCC9B70D03C497D8C1D7FE567"
                                 "856B89448D56BCA36801E20117A61FAD5B555A03E1C4629E0034DFDA1159871C4DC7D06C176F0325B9C5"
                                 "35FCF33830D9A9E7613AE7701423F30DCD85AB1EBC4A65E3EBEAB9651BD6B95534035417D738A45982CA"
                                 "BCAEFC186AFC"));
  RPED_TRY_ASSIGN(const crypto::EcPublicKey key, crypto::EcPublicKey::from_coordinates(Curve::p521, qx, qy));
  RPED_TRY(crypto::ecdsa_verify_sha512_p1363(key, msg, sig));
  sig[70] ^= 0x01;
  if (crypto::ecdsa_verify_sha512_p1363(key, msg, sig).ok()) {
    return make_error(Errc::self_test_failed, "ECDSA verification accepted a tampered signature");
  }
  return {};
}

Result<void> pct_key_generation() {
  // Generation runs its own pair-wise consistency test; sign/verify checks the
  // signing path the emulators use to issue certificates.
  RPED_TRY_ASSIGN(const crypto::EcKeyPair pair, crypto::EcKeyPair::generate(Curve::p521));
  static constexpr std::uint8_t kMessage[] = {'s', 'e', 'l', 'f', '-', 't', 'e', 's', 't'};
  RPED_TRY_ASSIGN(const Bytes sig, pair.sign_sha512(kMessage));
  return crypto::ecdsa_verify_sha512_der(pair.public_key(), kMessage, sig);
}

}  // namespace

std::vector<SelfTestOutcome> run_self_tests() {
  struct Case {
    const char* name;
    Result<void> (*run)();
  };
  static constexpr Case kCases[] = {
      {"HMAC-SHA512 KAT (RFC 4231 4.2)", kat_hmac_sha512},
      {"AES-256-CTR KAT (SP 800-38A F.5.5)", kat_aes256_ctr},
      {"AES-256-KWP KAT (SP 800-38F, ACVP)", kat_aes256_kwp},
      {"One-step KDF SHA-512 KAT (SP 800-56C r1, ACVP)", kat_one_step_kdf},
      {"ECC CDH P-521 KAT (SP 800-56A r3 5.7.1.2, ACVP)", kat_ecc_cdh_p521},
      {"ECDSA P-521/SHA-512 verify KAT (FIPS 186-5, ACVP)", kat_ecdsa_p521_verify},
      {"P-521 key generation pair-wise consistency", pct_key_generation},
  };
  std::vector<SelfTestOutcome> outcomes;
  for (const Case& c : kCases) {
    const Result<void> r = c.run();
    outcomes.push_back({c.name, r.ok(), r.ok() ? std::string() : r.error().message});
  }
  return outcomes;
}

Result<void> power_on_self_test() {
  for (const SelfTestOutcome& outcome : run_self_tests()) {
    if (!outcome.passed) {
      return make_error(Errc::self_test_failed, "power-on self-test failed: " + outcome.name + ": " + outcome.detail);
    }
  }
  return {};
}

}  // namespace rped
