// HMAC-SHA-512: multi-part input, full and truncated verification.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "rped/crypto/symmetric.h"
#include "support/result_assertions.h"

namespace rped::crypto {
namespace {

using test::bytes_of;
using test::fails_with;
using test::hex;
using test::is_ok;
using test::must;

class Hmac : public ::testing::Test {
 protected:
  const HmacSha512 mac_ = must(HmacSha512::create(bytes_of("rped test MAC key, 32+ bytes long")));
  const Bytes message_ = bytes_of("record header|record body");
  const HmacSha512Tag tag_ = must(mac_.compute(message_));
  ByteView tag() const { return tag_; }
};

// RFC 4231 test case 2 (also checked with `openssl mac -digest SHA512 HMAC`).
TEST(HmacSha512Tag, KnownAnswer) {
  const HmacSha512 mac = must(HmacSha512::create(bytes_of("Jefe")));
  const HmacSha512Tag tag = must(mac.compute(bytes_of("what do ya want for nothing?")));
  EXPECT_EQ(Bytes(tag.begin(), tag.end()),
            hex("164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
                "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"));
}

TEST(HmacAnyHash, KnownAnswers) {
  // RFC 4231 / RFC 2202 test case 2; also checked with `openssl mac`.
  const Bytes key = bytes_of("Jefe");
  const Bytes message = bytes_of("what do ya want for nothing?");
  EXPECT_EQ(must(hmac(Hash::sha256, key, {message})),
            hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"));
  EXPECT_EQ(must(hmac(Hash::sha1, key, {message})),
            hex("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"));
}

TEST_F(Hmac, AnyHashFunctionAgreesWithTheSha512Class) {
  const Bytes key = bytes_of("rped test MAC key, 32+ bytes long");
  const Bytes tag =
      must(hmac(Hash::sha512, key, {bytes_of("record header|"), bytes_of("record body")}));
  EXPECT_EQ(tag, Bytes(tag_.begin(), tag_.end()));
  EXPECT_EQ(must(hmac(Hash::sha224, key, {message_})).size(), 28u);
}

TEST_F(Hmac, MultiPartEqualsOneShot) {
  const Bytes header = bytes_of("record header|");
  const Bytes body = bytes_of("record body");
  EXPECT_EQ(must(mac_.compute({header, body})), tag_);
  EXPECT_EQ(must(mac_.compute({ByteView{}, header, ByteView{}, body})), tag_);
  EXPECT_EQ(must(mac_.compute(std::initializer_list<ByteView>{})), must(mac_.compute(ByteView{})));
  EXPECT_NE(must(mac_.compute({body, header})), tag_);
}

TEST_F(Hmac, KeyIsCopiedAtCreation) {
  Bytes key = bytes_of("rped test MAC key, 32+ bytes long");
  const HmacSha512 mac = must(HmacSha512::create(key));
  key.assign(key.size(), 0);
  EXPECT_EQ(must(mac.compute(message_)), tag_);
}

TEST_F(Hmac, DifferentKeyGivesDifferentTag) {
  const HmacSha512 other = must(HmacSha512::create(bytes_of("rped test MAC key, 32+ bytes lonG")));
  EXPECT_NE(must(other.compute(message_)), tag_);
}

TEST_F(Hmac, CorrectTagVerifies) {
  EXPECT_TRUE(is_ok(mac_.verify({message_}, tag())));
  EXPECT_TRUE(is_ok(mac_.verify({bytes_of("record header|"), bytes_of("record body")}, tag())));
}

TEST_F(Hmac, WrongTagOrMessageIsMacMismatch) {
  for (const std::size_t i : {std::size_t{0}, std::size_t{31}, std::size_t{63}}) {
    HmacSha512Tag wrong = tag_;
    wrong[i] ^= 0x80;
    EXPECT_TRUE(fails_with(mac_.verify({message_}, wrong), Errc::mac_mismatch)) << "byte " << i;
  }
  EXPECT_TRUE(
      fails_with(mac_.verify({bytes_of("record header|record bodY")}, tag()), Errc::mac_mismatch));
  EXPECT_TRUE(fails_with(mac_.verify({message_}, HmacSha512Tag{}), Errc::mac_mismatch));
}

TEST_F(Hmac, FullVerifyRefusesAnyOtherTagLength) {
  // A correct but truncated (or extended) tag must not pass the full check.
  EXPECT_TRUE(fails_with(mac_.verify({message_}, tag().first(63)), Errc::mac_mismatch));
  EXPECT_TRUE(fails_with(mac_.verify({message_}, tag().first(32)), Errc::mac_mismatch));
  EXPECT_TRUE(fails_with(mac_.verify({message_}, {}), Errc::mac_mismatch));
  Bytes longer(tag().begin(), tag().end());
  longer.push_back(0);
  EXPECT_TRUE(fails_with(mac_.verify({message_}, longer), Errc::mac_mismatch));
}

TEST_F(Hmac, TruncatedTagVerifiesItsPrefix) {
  for (const std::size_t length : {4, 16, 32, 63, 64}) {
    EXPECT_TRUE(is_ok(mac_.verify_truncated({message_}, tag().first(length)))) << length;
    Bytes wrong(tag().begin(), tag().begin() + static_cast<std::ptrdiff_t>(length));
    wrong.back() ^= 0x01;
    EXPECT_TRUE(fails_with(mac_.verify_truncated({message_}, wrong), Errc::mac_mismatch)) << length;
  }
}

TEST_F(Hmac, TruncatedTagOutsideFourToSixtyFourBytesIsRefused) {
  // Correct prefixes that are too short must still fail: a 0-byte tag would accept anything.
  for (const std::size_t length : {0, 1, 3}) {
    EXPECT_TRUE(
        fails_with(mac_.verify_truncated({message_}, tag().first(length)), Errc::mac_mismatch))
        << length;
  }
  Bytes longer(tag().begin(), tag().end());
  longer.push_back(0);
  EXPECT_TRUE(fails_with(mac_.verify_truncated({message_}, longer), Errc::mac_mismatch));
}

// One HmacSha512 per thread (it re-initialises one context per message, so an
// instance is used by one thread at a time); separate instances under one key
// run concurrently and agree, and repeated use of one instance is stable.
TEST_F(Hmac, InstancesPerThreadGiveTheSameTag) {
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (std::size_t t = 0; t < mismatches.size(); ++t) {
    threads.emplace_back([this, &count = mismatches[t]] {
      const HmacSha512 own = must(HmacSha512::create(bytes_of("rped test MAC key, 32+ bytes long")));
      for (int i = 0; i < 200; ++i) {
        const auto tag = own.compute(message_);
        count += (!tag.ok() || tag.value() != tag_) ? 1 : 0;
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

}  // namespace
}  // namespace rped::crypto
