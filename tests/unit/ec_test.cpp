// P-521 keys: public-key validation (SP 800-56A r3 §5.6.2.3.3), private-key
// range and pair-wise consistency, ECC CDH and ECDSA-SHA512.
#include "rped/crypto/ec.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <algorithm>
#include <memory>
#include <string>

#include "support/result_assertions.h"

namespace rped::crypto {
namespace {

using test::fails_with;
using test::hex;
using test::is_ok;
using test::must;

// SEC 2 / FIPS 186-5 domain parameters of P-521 (checked against `openssl ecparam -param_enc
// explicit`).
const Bytes kP =
    hex("01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
const Bytes kN =
    hex("01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
        "fa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409");
const Bytes kGx =
    hex("00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3d"
        "baa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66");
const Bytes kGy =
    hex("011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e66"
        "2c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650");

using Bignum = std::unique_ptr<BIGNUM, decltype(&BN_free)>;

Bignum bn(ByteView be) {
  return {BN_bin2bn(be.data(), static_cast<int>(be.size()), nullptr), BN_free};
}

// a + b (or a - b) as a big-endian integer of exactly `width` bytes.
Bytes add_be(ByteView a, ByteView b, std::size_t width, bool subtract = false) {
  const Bignum x = bn(a);
  const Bignum y = bn(b);
  const Bignum r(BN_new(), BN_free);
  Bytes out(width);
  if (!x || !y || !r ||
      (subtract ? BN_sub(r.get(), x.get(), y.get()) : BN_add(r.get(), x.get(), y.get())) != 1 ||
      BN_bn2binpad(r.get(), out.data(), static_cast<int>(width)) < 0) {
    throw std::runtime_error("bignum arithmetic failed");
  }
  return out;
}

Bytes concat(std::initializer_list<ByteView> parts) {
  Bytes out;
  for (const ByteView part : parts) {
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

const Bytes kG = concat({Bytes{0x04}, kGx, kGy});

Bytes der_of(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key, &der);
  if (len <= 0) {
    throw std::runtime_error("i2d_PUBKEY failed");
  }
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

// SPKI of a key made by OpenSSL directly (another algorithm or curve than the API generates).
Bytes foreign_spki(const char* type, const char* group_or_null, bool explicit_params = false) {
  EVP_PKEY* raw = group_or_null != nullptr
                      ? EVP_PKEY_Q_keygen(nullptr, nullptr, type, group_or_null)
                      : EVP_PKEY_Q_keygen(nullptr, nullptr, type, std::size_t{1024});
  const std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(raw, EVP_PKEY_free);
  if (!key ||
      (explicit_params && EVP_PKEY_set_utf8_string_param(key.get(), "encoding", "explicit") != 1)) {
    throw std::runtime_error("foreign key generation failed");
  }
  return der_of(key.get());
}

class P521 : public ::testing::Test {
 protected:
  const EcKeyPair alice_ = must(EcKeyPair::generate());
  const EcKeyPair bob_ = must(EcKeyPair::generate());
  const Bytes alice_point_ = alice_.public_key().uncompressed();
  ByteView x() const { return ByteView(alice_point_).subspan(1, kP521FieldBytes); }
  ByteView y() const { return ByteView(alice_point_).subspan(1 + kP521FieldBytes); }
};

TEST(EcSizes, AreTheFieldAndOrderLengths) {
  EXPECT_EQ(field_bytes(Curve::p521), 66u);
  EXPECT_EQ(scalar_bytes(Curve::p521), 66u);
  EXPECT_EQ(field_bytes(Curve::p224), 28u);
  EXPECT_EQ(scalar_bytes(Curve::p224), 28u);
  EXPECT_EQ(kP521UncompressedBytes, 133u);
}

TEST_F(P521, GeneratedKeyEncodings) {
  EXPECT_EQ(alice_.curve(), Curve::p521);
  ASSERT_EQ(alice_point_.size(), kP521UncompressedBytes);
  EXPECT_EQ(alice_point_[0], 0x04);
  const Bytes xy = alice_.public_key().xy();
  EXPECT_TRUE(std::equal(xy.begin(), xy.end(), alice_point_.begin() + 1, alice_point_.end()));
  EXPECT_FALSE(alice_.public_key() == bob_.public_key());
}

TEST_F(P521, PublicKeyRoundTripsThroughEveryEncoding) {
  const auto from_point = EcPublicKey::from_uncompressed(Curve::p521, alice_point_);
  ASSERT_TRUE(is_ok(from_point));
  EXPECT_TRUE(from_point.value() == alice_.public_key());
  const auto from_xy = EcPublicKey::from_coordinates(Curve::p521, x(), y());
  ASSERT_TRUE(is_ok(from_xy));
  EXPECT_TRUE(from_xy.value() == alice_.public_key());
  const auto from_spki = EcPublicKey::from_spki_der(alice_.public_key().spki_der());
  ASSERT_TRUE(is_ok(from_spki));
  EXPECT_TRUE(from_spki.value() == alice_.public_key());
  EXPECT_EQ(from_spki->curve(), Curve::p521);
}

// Every malformed or invalid point is invalid_public_key: the peer learns one
// failure whether the length, the prefix or the curve check refused it.
TEST_F(P521, WrongLengthPointIsRefused) {
  const ByteView point = alice_point_;
  EXPECT_TRUE(fails_with(EcPublicKey::from_uncompressed(Curve::p521, point.first(132)),
                         Errc::invalid_public_key));
  EXPECT_TRUE(fails_with(EcPublicKey::from_uncompressed(Curve::p521, concat({point, Bytes{0}})),
                         Errc::invalid_public_key));
  EXPECT_TRUE(
      fails_with(EcPublicKey::from_uncompressed(Curve::p521, {}), Errc::invalid_public_key));
  EXPECT_TRUE(fails_with(EcPublicKey::from_coordinates(Curve::p521, x().first(65), y()),
                         Errc::invalid_public_key));
  EXPECT_TRUE(fails_with(EcPublicKey::from_coordinates(Curve::p521, x(), concat({y(), Bytes{0}})),
                         Errc::invalid_public_key));
  // A valid P-521 point is not a P-224 point.
  EXPECT_TRUE(
      fails_with(EcPublicKey::from_uncompressed(Curve::p224, point), Errc::invalid_public_key));
}

TEST_F(P521, CompressedAndHybridPointsAreRefused) {
  // SEC 1 §2.3.3 compressed form: 0x02 | (y & 1), then X.
  const auto y_odd = static_cast<std::uint8_t>(alice_point_.back() & 1);
  const Bytes compressed = concat({Bytes{static_cast<std::uint8_t>(0x02 | y_odd)}, x()});
  EXPECT_TRUE(fails_with(EcPublicKey::from_uncompressed(Curve::p521, compressed),
                         Errc::invalid_public_key));
  // Full-length inputs whose prefix is not 0x04: compressed, hybrid (0x06/0x07), and garbage.
  for (const std::uint8_t prefix : Bytes{0x00, 0x02, 0x03, 0x05, 0x06, 0x07, 0xff}) {
    Bytes point = alice_point_;
    point[0] = prefix;
    EXPECT_TRUE(
        fails_with(EcPublicKey::from_uncompressed(Curve::p521, point), Errc::invalid_public_key))
        << "prefix " << int{prefix};
  }
}

TEST_F(P521, PointNotOnTheCurveIsRefused) {
  Bytes point = alice_point_;
  point.back() ^= 0x01;
  EXPECT_TRUE(
      fails_with(EcPublicKey::from_uncompressed(Curve::p521, point), Errc::invalid_public_key));
  Bytes x_changed = alice_point_;
  x_changed[10] ^= 0x80;
  EXPECT_TRUE(
      fails_with(EcPublicKey::from_uncompressed(Curve::p521, x_changed), Errc::invalid_public_key));
}

// SP 800-56A r3 §5.6.2.3.3 step 2: coordinates are integers in [0, p-1]. x + p
// is congruent to x, so a check done only modulo p would wrongly accept it.
TEST_F(P521, CoordinateNotReducedModPIsRefused) {
  const Bytes x_plus_p = add_be(x(), kP, kP521FieldBytes);
  const Bytes y_plus_p = add_be(y(), kP, kP521FieldBytes);
  EXPECT_TRUE(fails_with(EcPublicKey::from_coordinates(Curve::p521, x_plus_p, y()),
                         Errc::invalid_public_key));
  EXPECT_TRUE(fails_with(EcPublicKey::from_coordinates(Curve::p521, x(), y_plus_p),
                         Errc::invalid_public_key));
  EXPECT_TRUE(
      fails_with(EcPublicKey::from_uncompressed(Curve::p521, concat({Bytes{0x04}, x_plus_p, y()})),
                 Errc::invalid_public_key));
  EXPECT_TRUE(
      fails_with(EcPublicKey::from_coordinates(Curve::p521, kP, y()), Errc::invalid_public_key));
}

TEST(EcPublicKey, PointAtInfinityIsRefused) {
  // The identity has no affine coordinates: neither (0, 0) nor SEC 1's single 0x00 byte is a key.
  const Bytes zero(kP521FieldBytes, 0);
  EXPECT_TRUE(
      fails_with(EcPublicKey::from_coordinates(Curve::p521, zero, zero), Errc::invalid_public_key));
  EXPECT_TRUE(
      fails_with(EcPublicKey::from_uncompressed(Curve::p521, concat({Bytes{0x04}, zero, zero})),
                 Errc::invalid_public_key));
  EXPECT_TRUE(fails_with(EcPublicKey::from_uncompressed(Curve::p521, Bytes{0x00}),
                         Errc::invalid_public_key));
}

TEST(EcPublicKey, GeneratorIsAValidKey) {
  const auto g = EcPublicKey::from_uncompressed(Curve::p521, kG);
  ASSERT_TRUE(is_ok(g));
  EXPECT_EQ(g->uncompressed(), kG);
}

TEST_F(P521, SpkiGarbageAndTruncationAreInvalidEncoding) {
  const Bytes spki = alice_.public_key().spki_der();
  EXPECT_TRUE(fails_with(EcPublicKey::from_spki_der({}), Errc::invalid_encoding));
  EXPECT_TRUE(fails_with(EcPublicKey::from_spki_der(hex("deadbeef")), Errc::invalid_encoding));
  EXPECT_TRUE(fails_with(EcPublicKey::from_spki_der(ByteView(spki).first(spki.size() - 1)),
                         Errc::invalid_encoding));
  EXPECT_TRUE(
      fails_with(EcPublicKey::from_spki_der(ByteView(spki).first(20)), Errc::invalid_encoding));
  EXPECT_TRUE(
      fails_with(EcPublicKey::from_spki_der(concat({spki, Bytes{0x00}})), Errc::invalid_encoding));
}

TEST(EcPublicKey, SpkiOfAnotherAlgorithmOrCurveIsRefused) {
  EXPECT_TRUE(fails_with(EcPublicKey::from_spki_der(foreign_spki("RSA", nullptr)),
                         Errc::invalid_public_key));
  EXPECT_TRUE(fails_with(EcPublicKey::from_spki_der(foreign_spki("EC", "P-256")),
                         Errc::invalid_public_key));
  EXPECT_TRUE(fails_with(EcPublicKey::from_spki_der(foreign_spki("EC", "P-384")),
                         Errc::invalid_public_key));
  // P-521 itself, but with explicit domain parameters instead of the named curve.
  EXPECT_TRUE(fails_with(EcPublicKey::from_spki_der(foreign_spki("EC", "P-521", true)),
                         Errc::invalid_public_key));
  // Control: the same path accepts a named-curve P-521 key made by OpenSSL.
  EXPECT_TRUE(is_ok(EcPublicKey::from_spki_der(foreign_spki("EC", "P-521"))));
}

// ---------------------------------------------------------------------------
// Private keys

TEST(EcKeyPair, ScalarOneGivesTheGenerator) {
  const auto one = EcKeyPair::from_private(Curve::p521, Bytes{0x01});
  ASSERT_TRUE(is_ok(one));
  EXPECT_EQ(one->public_key().uncompressed(), kG);
}

TEST(EcKeyPair, ScalarNMinusOneGivesMinusG) {
  const Bytes n_minus_1 = add_be(kN, Bytes{1}, kN.size(), /*subtract=*/true);
  const auto pair = EcKeyPair::from_private(Curve::p521, n_minus_1);
  ASSERT_TRUE(is_ok(pair));
  // -G = (Gx, p - Gy).
  EXPECT_EQ(pair->public_key().uncompressed(),
            concat({Bytes{0x04}, kGx, add_be(kP, kGy, kP.size(), true)}));
}

TEST(EcKeyPair, LeadingZeroBytesAreAllowed) {
  const auto pair = EcKeyPair::from_private(Curve::p521, concat({Bytes(10, 0), Bytes{0x01}}));
  ASSERT_TRUE(is_ok(pair));
  EXPECT_EQ(pair->public_key().uncompressed(), kG);
}

TEST(EcKeyPair, ScalarOutsideOneToNMinusOneIsRefused) {
  const Bytes n_plus_1 = add_be(kN, Bytes{1}, kN.size());
  const std::pair<const char*, Bytes> cases[] = {
      {"empty", {}},
      {"zero", Bytes(66, 0)},
      {"n", kN},
      {"n+1", n_plus_1},
      {"2^528-1", Bytes(66, 0xff)},
      {"67 bytes, top byte set", concat({Bytes{0x01}, Bytes(66, 0)})},
  };
  for (const auto& [name, d] : cases) {
    EXPECT_TRUE(fails_with(EcKeyPair::from_private(Curve::p521, d), Errc::invalid_private_key))
        << name;
  }
}

TEST_F(P521, ExportedScalarReimportsToTheSameKey) {
  const auto d = alice_.export_private_scalar();
  ASSERT_TRUE(is_ok(d));
  EXPECT_EQ(d->size(), scalar_bytes(Curve::p521));
  const auto again = EcKeyPair::from_private(Curve::p521, d->reveal());
  ASSERT_TRUE(is_ok(again));
  EXPECT_TRUE(again->public_key() == alice_.public_key());
  const auto paired =
      EcKeyPair::from_private_and_public(Curve::p521, d->reveal(), alice_.public_key());
  ASSERT_TRUE(is_ok(paired));
  EXPECT_TRUE(paired->public_key() == alice_.public_key());
}

TEST_F(P521, MismatchedPublicKeyIsInvalidPrivateKey) {
  const SecretBytes d = must(alice_.export_private_scalar());
  EXPECT_TRUE(
      fails_with(EcKeyPair::from_private_and_public(Curve::p521, d.reveal(), bob_.public_key()),
                 Errc::invalid_private_key));
}

// ---------------------------------------------------------------------------
// ECC CDH

TEST_F(P521, EcdhIsCommutativeAndFieldLength) {
  const auto ab = alice_.ecdh(bob_.public_key());
  const auto ba = bob_.ecdh(alice_.public_key());
  ASSERT_TRUE(is_ok(ab));
  ASSERT_TRUE(is_ok(ba));
  EXPECT_EQ(ab->size(), kP521FieldBytes);
  EXPECT_TRUE(ab.value() == ba.value());
  const EcKeyPair carol = must(EcKeyPair::generate());
  EXPECT_FALSE(must(alice_.ecdh(carol.public_key())) == ab.value());
}

// Z = x(d * Q): with Q = G the shared secret is the x-coordinate of the public key.
TEST_F(P521, EcdhWithTheGeneratorIsThePublicX) {
  const auto z = alice_.ecdh(must(EcPublicKey::from_uncompressed(Curve::p521, kG)));
  ASSERT_TRUE(is_ok(z));
  EXPECT_TRUE(std::ranges::equal(z->reveal(), x()));
}

TEST_F(P521, EcdhWithAPeerOnAnotherCurveIsRefused) {
  const EcKeyPair p224 = must(EcKeyPair::generate(Curve::p224));
  EXPECT_TRUE(fails_with(alice_.ecdh(p224.public_key()), Errc::invalid_public_key));
  EXPECT_TRUE(fails_with(p224.ecdh(alice_.public_key()), Errc::invalid_public_key));
}

TEST(EcdhP224, IsCommutativeAndFieldLength) {
  const EcKeyPair a = must(EcKeyPair::generate(Curve::p224));
  const EcKeyPair b = must(EcKeyPair::generate(Curve::p224));
  const SecretBytes ab = must(a.ecdh(b.public_key()));
  EXPECT_EQ(ab.size(), 28u);
  EXPECT_TRUE(ab == must(b.ecdh(a.public_key())));
}

// ---------------------------------------------------------------------------
// ECDSA-SHA512

// DER (r, s) -> P1363 r || s with fixed-length halves.
Bytes der_to_p1363(ByteView der) {
  const unsigned char* cursor = der.data();
  const std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(
      d2i_ECDSA_SIG(nullptr, &cursor, static_cast<long>(der.size())), ECDSA_SIG_free);
  Bytes out(2 * kP521FieldBytes);
  if (!sig || BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out.data(), 66) < 0 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out.data() + 66, 66) < 0) {
    throw std::runtime_error("signature conversion failed");
  }
  return out;
}

class Ecdsa : public P521 {
 protected:
  const Bytes message_ = test::bytes_of("PED key: blue, serial 0042");
  const Bytes signature_ = must(alice_.sign_sha512(message_));
  const Bytes p1363_ = der_to_p1363(signature_);
};

TEST_F(Ecdsa, SignatureVerifiesInBothEncodings) {
  EXPECT_TRUE(is_ok(ecdsa_verify_sha512_der(alice_.public_key(), message_, signature_)));
  EXPECT_TRUE(is_ok(ecdsa_verify_sha512_p1363(alice_.public_key(), message_, p1363_)));
}

TEST_F(Ecdsa, ModifiedMessageIsSignatureInvalid) {
  Bytes modified = message_;
  modified.back() ^= 0x01;
  EXPECT_TRUE(fails_with(ecdsa_verify_sha512_der(alice_.public_key(), modified, signature_),
                         Errc::signature_invalid));
  EXPECT_TRUE(fails_with(ecdsa_verify_sha512_der(alice_.public_key(), {}, signature_),
                         Errc::signature_invalid));
  EXPECT_TRUE(fails_with(ecdsa_verify_sha512_p1363(alice_.public_key(), modified, p1363_),
                         Errc::signature_invalid));
}

TEST_F(Ecdsa, WrongKeyIsSignatureInvalid) {
  EXPECT_TRUE(fails_with(ecdsa_verify_sha512_der(bob_.public_key(), message_, signature_),
                         Errc::signature_invalid));
  EXPECT_TRUE(fails_with(ecdsa_verify_sha512_p1363(bob_.public_key(), message_, p1363_),
                         Errc::signature_invalid));
}

TEST_F(Ecdsa, EveryFlippedDerByteIsSignatureInvalid) {
  for (std::size_t i = 0; i < signature_.size(); ++i) {
    Bytes flipped = signature_;
    flipped[i] ^= 0x01;
    EXPECT_TRUE(fails_with(ecdsa_verify_sha512_der(alice_.public_key(), message_, flipped),
                           Errc::signature_invalid))
        << "byte " << i;
  }
}

TEST_F(Ecdsa, TruncatedOrExtendedDerIsSignatureInvalid) {
  const ByteView sig = signature_;
  EXPECT_TRUE(
      fails_with(ecdsa_verify_sha512_der(alice_.public_key(), message_, sig.first(sig.size() - 1)),
                 Errc::signature_invalid));
  EXPECT_TRUE(fails_with(ecdsa_verify_sha512_der(alice_.public_key(), message_, sig.first(8)),
                         Errc::signature_invalid));
  EXPECT_TRUE(fails_with(ecdsa_verify_sha512_der(alice_.public_key(), message_, {}),
                         Errc::signature_invalid));
  // Strict DER: trailing bytes after the SEQUENCE are not ignored.
  EXPECT_TRUE(
      fails_with(ecdsa_verify_sha512_der(alice_.public_key(), message_, concat({sig, Bytes{0x00}})),
                 Errc::signature_invalid));
}

TEST_F(Ecdsa, P1363WrongLengthOrValueIsSignatureInvalid) {
  const ByteView sig = p1363_;
  for (const std::size_t length : {std::size_t{0}, std::size_t{64}, std::size_t{131}}) {
    EXPECT_TRUE(
        fails_with(ecdsa_verify_sha512_p1363(alice_.public_key(), message_, sig.first(length)),
                   Errc::signature_invalid))
        << length;
  }
  EXPECT_TRUE(
      fails_with(ecdsa_verify_sha512_p1363(alice_.public_key(), message_, concat({sig, Bytes{0}})),
                 Errc::signature_invalid));
  for (const std::size_t i : {std::size_t{0}, std::size_t{65}, std::size_t{66}, std::size_t{131}}) {
    Bytes flipped = p1363_;
    flipped[i] ^= 0x01;
    EXPECT_TRUE(fails_with(ecdsa_verify_sha512_p1363(alice_.public_key(), message_, flipped),
                           Errc::signature_invalid))
        << "byte " << i;
  }
  // r = 0, s = 0, r = n: outside [1, n-1] (FIPS 186-5 §6.4.2 step 1).
  const Bytes zero(66, 0);
  const ByteView r = sig.first(66);
  const ByteView s = sig.subspan(66);
  for (const Bytes& bad :
       {concat({zero, s}), concat({r, zero}), concat({kN, s}), concat({r, kN})}) {
    EXPECT_TRUE(fails_with(ecdsa_verify_sha512_p1363(alice_.public_key(), message_, bad),
                           Errc::signature_invalid));
  }
}

// ECDSA malleability: (r, n - s) is also a valid signature of the same message;
// the API must accept it (it does not claim non-malleability), so the protocol
// must never use a signature as an identifier. This pins that behaviour.
TEST_F(Ecdsa, NegatedSIsAlsoValid) {
  const ByteView sig = p1363_;
  const Bytes n_minus_s = add_be(kN, sig.subspan(66), 66, /*subtract=*/true);
  EXPECT_TRUE(is_ok(ecdsa_verify_sha512_p1363(alice_.public_key(), message_,
                                              concat({sig.first(66), n_minus_s}))));
}

}  // namespace
}  // namespace rped::crypto
