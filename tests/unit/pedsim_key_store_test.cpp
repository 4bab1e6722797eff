// PED key files: sealing under the PIN (PBKDF2-HMAC-SHA512 + AES-256-KWP,
// checked against OpenSSL's PKCS5_PBKDF2_HMAC directly), the JSON form,
// atomic 0600 writes, and refusal of malformed files and key names.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <fstream>

#include "pedsim_harness.h"
#include "rped/crypto/ec.h"
#include "rped/pedsim/constants.h"

namespace rped::pedsim::test {
namespace {

using rped::test::fails_with;
using rped::test::is_ok;

SecretBytes pin_of(std::string_view digits) {
  return SecretBytes::copy_of(
      ByteView(reinterpret_cast<const std::uint8_t*>(digits.data()), digits.size()));
}

KeyContents blue_contents(const SecretBytes& split) {
  KeyContents contents;
  contents.type = ped::KeyType::blue;
  contents.label = "SO / HSM Admin 2 of 3";
  contents.keyset_id = Bytes(ped::kKeysetIdBytes, 0xA5);
  contents.m = 2;
  contents.n = 3;
  contents.split_index = 2;
  contents.split = split.clone();
  return contents;
}

TEST(PedKeyStore, SealedSplitOpensOnlyWithItsPin) {
  const SecretBytes split = random_secret();
  const PedKeyRecord record = must(seal_key(blue_contents(split), pin_of("24680"), "0123456789ab"));
  EXPECT_TRUE(record.has_pin);
  EXPECT_EQ(record.serial, "0123456789ab");
  EXPECT_EQ(record.pin_kdf_iterations, kPinKdfIterations);
  EXPECT_EQ(record.pin_salt.size(), kPinSaltBytes);
  EXPECT_TRUE(must(unseal_key(record, pin_of("24680"))).split == split);
  EXPECT_TRUE(fails_with(unseal_key(record, pin_of("24681")), Errc::unwrap_failed));
  EXPECT_TRUE(fails_with(unseal_key(record, SecretBytes{}), Errc::unwrap_failed));
}

TEST(PedKeyStore, AKeyWithoutPinUsesTheEmptyPin) {
  const SecretBytes split = random_secret();
  const PedKeyRecord record = must(seal_key(blue_contents(split), SecretBytes{}, "0123456789ab"));
  EXPECT_FALSE(record.has_pin);
  EXPECT_TRUE(must(unseal_key(record, SecretBytes{})).split == split);
  EXPECT_TRUE(fails_with(unseal_key(record, pin_of("1234")), Errc::unwrap_failed));
}

TEST(PedKeyStore, TheWrapIsPbkdf2Sha512ThenAes256Kwp) {
  // An independent derivation through OpenSSL's PKCS5 API opens the split.
  const SecretBytes split = random_secret(40);
  const PedKeyRecord record = must(seal_key(blue_contents(split), pin_of("97531"), "0123456789ab"));
  std::uint8_t kek[32];
  ASSERT_EQ(PKCS5_PBKDF2_HMAC(
                "97531", 5, record.pin_salt.data(), static_cast<int>(record.pin_salt.size()),
                static_cast<int>(record.pin_kdf_iterations), EVP_sha512(), sizeof kek, kek),
            1);
  EXPECT_TRUE(must(crypto::aes_kwp_unwrap(ByteView(kek, sizeof kek), record.wrapped_split)) ==
              split);
}

TEST(PedKeyStore, PinRulesAreEnforcedWhenSealing) {
  const SecretBytes split = random_secret();
  EXPECT_TRUE(
      fails_with(seal_key(blue_contents(split), pin_of("123"), "s"), Errc::invalid_argument));
  EXPECT_TRUE(
      fails_with(seal_key(blue_contents(split), pin_of("0123"), "s"), Errc::invalid_argument));
  EXPECT_TRUE(
      fails_with(seal_key(blue_contents(split), pin_of("12a4"), "s"), Errc::invalid_argument));
  EXPECT_TRUE(fails_with(seal_key(blue_contents(split), pin_of(std::string(49, '1')), "s"),
                         Errc::invalid_argument));
  EXPECT_TRUE(is_ok(seal_key(blue_contents(split), pin_of(std::string(48, '1')), "s")));
}

TEST(PedKeyStore, OrangeKeysCarryTheRpkWrappedTheSameWay) {
  const auto rpk = must(crypto::EcKeyPair::generate());
  KeyContents contents = blue_contents(random_secret(32));
  contents.type = ped::KeyType::orange;
  contents.rpk =
      RpkMaterial{1234567, 42, must(rpk.export_private_scalar()), Bytes{0x30, 0x01, 0x00}};
  const PedKeyRecord record = must(seal_key(contents, pin_of("1111"), "0123456789ab"));
  const auto opened = must(unseal_key(record, pin_of("1111")));
  EXPECT_TRUE(opened.rpk_private == must(rpk.export_private_scalar()));
  const auto parsed = must(parse_key_record(key_record_to_json(record)));
  EXPECT_EQ(parsed.rpk_serial, 42u);
  EXPECT_EQ(parsed.hsm_serial, 1234567u);
  EXPECT_EQ(parsed.rpk_certificate, (Bytes{0x30, 0x01, 0x00}));
  EXPECT_EQ(parsed.wrapped_rpk_private, record.wrapped_rpk_private);

  contents.rpk.reset();  // orange without RPK, or RPK on another colour, is refused
  EXPECT_TRUE(fails_with(seal_key(contents, SecretBytes{}, "s"), Errc::invalid_argument));
}

TEST(PedKeyStore, JsonRoundTripAndNoSecretInTheFile) {
  KeyFolder folder;
  const SecretBytes split = random_secret();
  const PedKeyRecord record = must(seal_key(blue_contents(split), pin_of("1357"), "0123456789ab"));
  ASSERT_TRUE(is_ok(folder.keys().store("so2", record)));
  const PedKeyRecord loaded = folder.load("so2");
  EXPECT_EQ(loaded.serial, record.serial);
  EXPECT_EQ(loaded.label, record.label);
  EXPECT_EQ(loaded.type, record.type);
  EXPECT_EQ(loaded.keyset_id, record.keyset_id);
  EXPECT_EQ(loaded.m, 2);
  EXPECT_EQ(loaded.n, 3);
  EXPECT_EQ(loaded.split_index, 2);
  EXPECT_TRUE(loaded.has_pin);
  EXPECT_EQ(loaded.wrapped_split, record.wrapped_split);
  EXPECT_TRUE(must(unseal_key(loaded, pin_of("1357"))).split == split);

  std::ifstream in(folder.keys().file_of("so2"));
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text.find(to_hex(split.reveal())), std::string::npos);
  EXPECT_EQ(text.find("\"pin\""), std::string::npos);
}

TEST(PedKeyStore, FilesAreWrittenAtomicallyWithMode0600) {
  KeyFolder folder;
  ASSERT_TRUE(is_ok(write_blank_key(folder.keys(), "blank1")));
  ASSERT_TRUE(is_ok(write_blank_key(folder.keys(), "blank1")));  // replaced, not appended
  struct stat st {};
  ASSERT_EQ(::stat(folder.keys().file_of("blank1").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::size_t entries = 0;
  for (const auto& entry : std::filesystem::directory_iterator(folder.path())) {
    ++entries;
    EXPECT_EQ(entry.path().filename(), "blank1.json") << "left behind: " << entry.path();
  }
  EXPECT_EQ(entries, 1u);
  EXPECT_EQ(folder.keys().names(), std::vector<std::string>{"blank1"});
  EXPECT_TRUE(folder.load("blank1").is_blank());
}

TEST(PedKeyStore, MalformedFilesAreErrors) {
  const PedKeyRecord good =
      must(seal_key(blue_contents(random_secret()), SecretBytes{}, "0123456789ab"));
  const std::string json = key_record_to_json(good);
  EXPECT_TRUE(is_ok(parse_key_record(json)));
  const auto mutated = [&](const std::string& from, const std::string& to) {
    std::string text = json;
    const auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return text.replace(at, from.size(), to);
  };
  EXPECT_TRUE(fails_with(parse_key_record("not json"), Errc::invalid_encoding));
  EXPECT_TRUE(fails_with(parse_key_record("[]"), Errc::invalid_encoding));
  EXPECT_TRUE(fails_with(parse_key_record(mutated("rped-pedsim-key/1", "rped-pedsim-key/9")),
                         Errc::invalid_encoding));
  EXPECT_TRUE(
      fails_with(parse_key_record(mutated("\"blue\"", "\"purple\"")), Errc::invalid_encoding));
  EXPECT_TRUE(
      fails_with(parse_key_record(mutated("\"m\": 2", "\"m\": 4")), Errc::invalid_encoding));
  EXPECT_TRUE(
      fails_with(parse_key_record(mutated("\"m\": 2", "\"m\": \"2\"")), Errc::invalid_encoding));
  EXPECT_TRUE(fails_with(parse_key_record(mutated("\"split_index\": 2", "\"split_index\": 0")),
                         Errc::invalid_encoding));
  EXPECT_TRUE(fails_with(parse_key_record(mutated("\"iterations\": 2000", "\"iterations\": 10")),
                         Errc::invalid_encoding));
  EXPECT_TRUE(fails_with(parse_key_record(mutated("\"has_pin\": false", "\"has_pin\": 0")),
                         Errc::invalid_encoding));
  EXPECT_TRUE(fails_with(parse_key_record(mutated("\"keyset_id\": \"a5", "\"keyset_id\": \"zz")),
                         Errc::invalid_encoding));
  EXPECT_TRUE(fails_with(parse_key_record(mutated("\"wrapped_split\"", "\"wrapped\"")),
                         Errc::invalid_encoding));
  EXPECT_TRUE(
      fails_with(parse_key_record(std::string(kMaxKeyFileBytes + 1, ' ')), Errc::invalid_encoding));
}

TEST(PedKeyStore, KeyNamesAreFileStemsOnly) {
  for (const char* bad : {"", "../blue1", "a/b", ".hidden", "sp ace", "x*"}) {
    EXPECT_TRUE(fails_with(KeyDirectory::check_key_name(bad), Errc::invalid_argument)) << bad;
  }
  for (const char* good : {"blue1", "Black-2", "so_key.copy"}) {
    EXPECT_TRUE(is_ok(KeyDirectory::check_key_name(good))) << good;
  }
  EXPECT_TRUE(
      fails_with(KeyDirectory::check_key_name(std::string(65, 'k')), Errc::invalid_argument));
  EXPECT_TRUE(fails_with(KeyDirectory::open("/nonexistent/rped-keys"), Errc::invalid_argument));
}

TEST(PedKeyStore, WriteKeysetSplitsAcrossFiles) {
  KeyFolder folder;
  const SecretBytes secret = random_secret();
  const auto written = folder.mint(ped::KeyType::red, "red", 2, 4, {"1111", "", "3333"}, secret);
  EXPECT_EQ(written.names, (std::vector<std::string>{"red1", "red2", "red3", "red4"}));
  EXPECT_TRUE(folder.load("red1").has_pin);
  EXPECT_FALSE(folder.load("red2").has_pin);
  EXPECT_FALSE(folder.load("red4").has_pin);
  EXPECT_EQ(folder.load("red3").label, "Cloning Domain 3 of 4");
  EXPECT_NE(folder.load("red1").serial, folder.load("red2").serial);
}

}  // namespace
}  // namespace rped::pedsim::test
