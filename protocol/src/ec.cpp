#include "rped/crypto/ec.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "ossl.h"

namespace rped::crypto {

namespace {

struct CurveInfo {
  const char* group_name;  // OpenSSL group name
  int nid;
  std::size_t field_bytes;
  std::size_t scalar_bytes;
};

const CurveInfo& curve_info(Curve curve) noexcept {
  static constexpr CurveInfo kP521{"P-521", NID_secp521r1, 66, 66};
  static constexpr CurveInfo kP224{"P-224", NID_secp224r1, 28, 28};
  return curve == Curve::p224 ? kP224 : kP521;
}

// Domain parameters, created once per curve and shared read-only.
const EC_GROUP* group_of(Curve curve) noexcept {
  static const EC_GROUP* const p521 = EC_GROUP_new_by_curve_name(NID_secp521r1);
  static const EC_GROUP* const p224 = EC_GROUP_new_by_curve_name(NID_secp224r1);
  return curve == Curve::p224 ? p224 : p521;
}

EvpPkeyPtr share(EVP_PKEY* key) { return EvpPkeyPtr(key, EvpPkeyDeleter{}); }

// An OpenSSL public key from an uncompressed point; decoding the point checks
// the curve equation. Errors are reported by the caller.
EvpPkeyPtr import_public_point(const CurveInfo& ci, ByteView point) {
  ossl::ParamBld bld(OSSL_PARAM_BLD_new());
  if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, ci.group_name, 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size())) {
    return nullptr;
  }
  ossl::Params params(OSSL_PARAM_BLD_to_param(bld.get()));
  ossl::PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    ossl::clear_errors();
    return nullptr;
  }
  return share(raw);
}

// True when the big-endian `value` is < `bound`.
bool less_than(ByteView value, const BIGNUM* bound) {
  ossl::Bn v(BN_bin2bn(value.data(), static_cast<int>(value.size()), nullptr));
  return v && BN_cmp(v.get(), bound) < 0;
}

}  // namespace

std::size_t field_bytes(Curve curve) noexcept { return curve_info(curve).field_bytes; }
std::size_t scalar_bytes(Curve curve) noexcept { return curve_info(curve).scalar_bytes; }

void EvpPkeyDeleter::operator()(EVP_PKEY* key) const noexcept { EVP_PKEY_free(key); }

// ---------------------------------------------------------------------------
// Public keys

Result<EcPublicKey> EcPublicKey::from_uncompressed(Curve curve, ByteView point) {
  const CurveInfo& ci = curve_info(curve);
  const std::size_t fb = ci.field_bytes;
  if (point.size() != 1 + 2 * fb) {
    if (point.size() == 1 && point[0] == 0x00) {
      // SEC 1 §2.3.3: the single byte 0x00 encodes the point at infinity.
      return make_error(Errc::invalid_public_key, "public key is the point at infinity");
    }
    if (point.size() == 1 + fb && (point[0] == 0x02 || point[0] == 0x03)) {
      return make_error(Errc::invalid_public_key,
                        "public key is a compressed point; only the uncompressed form 0x04||X||Y is allowed");
    }
    return make_error(Errc::invalid_public_key, "public key has " + std::to_string(point.size()) +
                                                    " bytes; an uncompressed " + ci.group_name +
                                                    " point has " + std::to_string(1 + 2 * fb));
  }
  if (point[0] != 0x04) {
    return make_error(Errc::invalid_public_key, "public key does not start with 0x04 (uncompressed point)");
  }
  const EC_GROUP* group = group_of(curve);
  if (group == nullptr) {
    return ossl::error(Errc::internal, "EC group unavailable");
  }
  // SP 800-56A r3 §5.6.2.3.3 step 2: each coordinate is an integer in [0, p-1].
  const BIGNUM* p = EC_GROUP_get0_field(group);
  if (!less_than(point.subspan(1, fb), p) || !less_than(point.subspan(1 + fb, fb), p)) {
    return make_error(Errc::invalid_public_key, "public key coordinate is not in [0, p-1]");
  }

  EvpPkeyPtr key = import_public_point(ci, point);
  if (!key) {
    return make_error(Errc::invalid_public_key, std::string("public key is not a point on ") + ci.group_name);
  }

  // SP 800-56A r3 §5.6.2.3.3: full validation — not the identity element (1),
  // coordinates in range (2), on the curve (3), and n*Q = O (4). OpenSSL's
  // EVP_PKEY_public_check (not the _quick variant) performs all four.
  ossl::PkeyCtx check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    ossl::clear_errors();
    return make_error(Errc::invalid_public_key, "public key fails full validation (SP 800-56A r3 5.6.2.3.3)");
  }
  EcPublicKey out(curve, std::move(key));
  out.point_.assign(point.begin(), point.end());
  return out;
}

Result<EcPublicKey> EcPublicKey::from_coordinates(Curve curve, ByteView x, ByteView y) {
  const std::size_t fb = field_bytes(curve);
  if (x.size() != fb || y.size() != fb) {
    return make_error(Errc::invalid_public_key,
                      "public key coordinates must be " + std::to_string(fb) + " bytes each, got " +
                          std::to_string(x.size()) + " and " + std::to_string(y.size()));
  }
  Bytes point;
  point.reserve(1 + 2 * fb);
  point.push_back(0x04);
  point.insert(point.end(), x.begin(), x.end());
  point.insert(point.end(), y.begin(), y.end());
  return from_uncompressed(curve, point);
}

Result<EcPublicKey> EcPublicKey::from_spki_der(ByteView der) {
  const unsigned char* cursor = der.data();
  ossl::Pkey key(d2i_PUBKEY(nullptr, &cursor, static_cast<long>(der.size())));
  if (!key || cursor != der.data() + der.size()) {
    ossl::clear_errors();
    return make_error(Errc::invalid_encoding, "public key is not a DER SubjectPublicKeyInfo");
  }
  return from_decoded(key.get());
}

Result<EcPublicKey> EcPublicKey::from_decoded(const EVP_PKEY* decoded) {
  EVP_PKEY* key = const_cast<EVP_PKEY*>(decoded);  // OpenSSL's getters take non-const pointers
  if (EVP_PKEY_is_a(key, "EC") != 1) {
    return make_error(Errc::invalid_public_key, "public key is not an EC key");
  }
  // Only named curves: explicit parameters open the door to invalid-curve keys.
  char encoding[32] = {};
  std::size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_EC_ENCODING, encoding, sizeof encoding, &len) != 1 ||
      std::strcmp(encoding, OSSL_PKEY_EC_ENCODING_GROUP) != 0) {
    ossl::clear_errors();
    return make_error(Errc::invalid_public_key, "public key uses explicit curve parameters; only named curves are allowed");
  }
  char group_name[64] = {};
  if (EVP_PKEY_get_group_name(key, group_name, sizeof group_name, &len) != 1) {
    ossl::clear_errors();
    return make_error(Errc::invalid_public_key, "public key has no curve name");
  }
  int nid = EC_curve_nist2nid(group_name);
  if (nid == NID_undef) {
    nid = OBJ_sn2nid(group_name);
  }
  Curve curve;
  if (nid == NID_secp521r1) {
    curve = Curve::p521;
  } else if (nid == NID_secp224r1) {
    curve = Curve::p224;
  } else {
    return make_error(Errc::invalid_public_key, std::string("public key curve ") + group_name +
                                                    " is not supported; P-521 is required");
  }
  unsigned char point[1 + 2 * 66];
  if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &len) != 1) {
    ossl::clear_errors();
    return make_error(Errc::invalid_public_key, "public key point cannot be read");
  }
  // One full validation, on a key object of our own making.
  return from_uncompressed(curve, ByteView(point, len));
}

Bytes EcPublicKey::uncompressed() const { return point_; }

Bytes EcPublicKey::xy() const { return Bytes(point_.begin() + 1, point_.end()); }

Bytes EcPublicKey::spki_der() const { return ossl::to_der(i2d_PUBKEY, key_.get()); }

bool operator==(const EcPublicKey& a, const EcPublicKey& b) { return a.curve_ == b.curve_ && a.point_ == b.point_; }

// ---------------------------------------------------------------------------
// Key pairs

namespace {

// d*G as an uncompressed point.
Result<Bytes> public_point_of(Curve curve, const BIGNUM* d) {
  const EC_GROUP* group = group_of(curve);
  ossl::BnCtx bn_ctx(BN_CTX_secure_new());
  std::unique_ptr<EC_POINT, ossl::Deleter<EC_POINT_free>> q(group != nullptr ? EC_POINT_new(group) : nullptr);
  Bytes point(1 + 2 * field_bytes(curve));
  if (!bn_ctx || !q || EC_POINT_mul(group, q.get(), d, nullptr, nullptr, bn_ctx.get()) != 1 ||
      EC_POINT_point2oct(group, q.get(), POINT_CONVERSION_UNCOMPRESSED, point.data(), point.size(), bn_ctx.get()) !=
          point.size()) {
    return ossl::error(Errc::internal, "cannot compute the public key d*G");
  }
  return point;
}

}  // namespace

Result<EcKeyPair> EcKeyPair::generate(Curve curve) {
  const CurveInfo& ci = curve_info(curve);
  EVP_PKEY* raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", ci.group_name);
  if (raw == nullptr) {
    return ossl::error(Errc::internal, "EC key generation failed");
  }
  EvpPkeyPtr key = share(raw);
  Bytes point(1 + 2 * ci.field_bytes);
  std::size_t len = 0;
  BIGNUM* d_raw = nullptr;
  if (EVP_PKEY_get_octet_string_param(key.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size(), &len) != 1 ||
      len != point.size() || EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_PRIV_KEY, &d_raw) != 1) {
    return ossl::error(Errc::internal, "cannot read the generated key pair");
  }
  ossl::SecretBn d(d_raw);
  // SP 800-56A r3 §5.6.2.1.4 (b) / FIPS 140-3 IG 10.3.A: pair-wise consistency
  // of the new key pair, by recomputing Q = d*G. The point was made by
  // OpenSSL's own keygen, so it needs no further public-key validation.
  RPED_TRY_ASSIGN(const Bytes recomputed, public_point_of(curve, d.get()));
  if (recomputed != point) {
    return make_error(Errc::internal, "generated EC key pair fails the pair-wise consistency test");
  }
  EvpPkeyPtr pub_key = import_public_point(ci, point);
  if (!pub_key) {
    return make_error(Errc::internal, "cannot build the generated public key");
  }
  EcPublicKey pub(curve, std::move(pub_key));
  pub.point_ = std::move(point);
  return EcKeyPair(std::move(key), std::move(pub));
}

Result<EcKeyPair> EcKeyPair::from_private(Curve curve, ByteView d) {
  const CurveInfo& ci = curve_info(curve);
  while (!d.empty() && d.front() == 0) {
    d = d.subspan(1);
  }
  const EC_GROUP* group = group_of(curve);
  if (group == nullptr) {
    return ossl::error(Errc::internal, "EC group unavailable");
  }
  // SP 800-56A r3 §5.6.1.2: the private key d is in [1, n-1].
  ossl::SecretBn scalar(BN_secure_new());
  if (!scalar || d.size() > ci.scalar_bytes ||
      BN_bin2bn(d.data(), static_cast<int>(d.size()), scalar.get()) == nullptr || BN_is_zero(scalar.get()) ||
      BN_cmp(scalar.get(), EC_GROUP_get0_order(group)) >= 0) {
    ossl::clear_errors();
    return make_error(Errc::invalid_private_key, "private key is not an integer in [1, n-1]");
  }
  // Q = d*G, encoded uncompressed.
  RPED_TRY_ASSIGN(const Bytes point, public_point_of(curve, scalar.get()));
  const std::size_t point_len = point.size();
  RPED_TRY_ASSIGN(EcPublicKey pub, EcPublicKey::from_uncompressed(curve, point));

  ossl::ParamBld bld(OSSL_PARAM_BLD_new());
  if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, ci.group_name, 0) ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, scalar.get()) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point_len)) {
    return ossl::error(Errc::internal, "cannot build EC key pair parameters");
  }
  ossl::Params params(OSSL_PARAM_BLD_to_param(bld.get()));
  ossl::PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_KEYPAIR, params.get()) != 1) {
    return ossl::error(Errc::internal, "cannot import EC key pair");
  }
  return EcKeyPair(share(raw), std::move(pub));
}

Result<EcKeyPair> EcKeyPair::from_private_and_public(Curve curve, ByteView d, const EcPublicKey& q) {
  RPED_TRY_ASSIGN(EcKeyPair pair, from_private(curve, d));
  // SP 800-56A r3 §5.6.2.1.4 (b): the public key must equal d*G.
  if (!(pair.public_key() == q)) {
    return make_error(Errc::invalid_private_key,
                      "public key does not match the private key (pair-wise consistency, SP 800-56A r3 5.6.2.1.4)");
  }
  return pair;
}

Result<SecretBytes> EcKeyPair::ecdh(const EcPublicKey& peer) const {
  if (peer.curve() != curve()) {
    return make_error(Errc::invalid_public_key, "peer public key is on a different curve");
  }
  // SP 800-56A r3 §5.7.1.2 ECC CDH: P = h*d*Q (h = 1 for P-521 and P-224);
  // P = O is an error; Z = x_P as a fixed-length field element.
  ossl::PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key_.get(), nullptr));
  std::size_t len = 0;
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer_ex(ctx.get(), peer.native(), /*validate_peer=*/0) != 1 ||
      EVP_PKEY_derive(ctx.get(), nullptr, &len) != 1 || len != field_bytes(curve())) {
    return ossl::error(Errc::key_agreement_failed, "ECC CDH failed");
  }
  SecretBytes z(len);
  if (EVP_PKEY_derive(ctx.get(), z.reveal_mutable().data(), &len) != 1 || len != z.size()) {
    return ossl::error(Errc::key_agreement_failed, "ECC CDH failed");
  }
  const auto bytes = z.reveal();
  if (std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; })) {
    return make_error(Errc::key_agreement_failed, "ECC CDH produced an all-zero shared secret");
  }
  return z;
}

Result<Bytes> EcKeyPair::sign_sha512(ByteView message) const {
  ossl::MdCtx ctx(EVP_MD_CTX_new());
  std::size_t len = 0;
  if (!ctx || EVP_DigestSignInit_ex(ctx.get(), nullptr, "SHA512", nullptr, nullptr, key_.get(), nullptr) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, message.data(), message.size()) != 1) {
    return ossl::error(Errc::internal, "ECDSA signing failed");
  }
  Bytes signature(len);
  if (EVP_DigestSign(ctx.get(), signature.data(), &len, message.data(), message.size()) != 1) {
    return ossl::error(Errc::internal, "ECDSA signing failed");
  }
  signature.resize(len);
  return signature;
}

Result<SecretBytes> EcKeyPair::export_private_scalar() const {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key_.get(), OSSL_PKEY_PARAM_PRIV_KEY, &raw) != 1) {
    return ossl::error(Errc::internal, "cannot read the private key");
  }
  ossl::SecretBn scalar(raw);
  SecretBytes out(scalar_bytes(curve()));
  if (BN_bn2binpad(scalar.get(), out.reveal_mutable().data(), static_cast<int>(out.size())) < 0) {
    return ossl::error(Errc::internal, "cannot encode the private key");
  }
  return out;
}

// ---------------------------------------------------------------------------
// ECDSA verification

Result<void> ecdsa_verify_sha512_der(const EcPublicKey& key, ByteView message, ByteView signature) {
  ossl::MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit_ex(ctx.get(), nullptr, "SHA512", nullptr, nullptr, key.native(), nullptr) != 1) {
    return ossl::error(Errc::internal, "ECDSA verification setup failed");
  }
  // OpenSSL re-encodes the parsed signature and refuses anything that is not
  // the identical strict DER, so BER variants and trailing bytes fail here.
  if (EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(), message.size()) != 1) {
    ossl::clear_errors();
    return make_error(Errc::signature_invalid, "ECDSA-SHA512 signature does not verify");
  }
  return {};
}

Result<void> ecdsa_verify_sha512_p1363(const EcPublicKey& key, ByteView message, ByteView signature) {
  const std::size_t n = scalar_bytes(key.curve());
  if (signature.size() != 2 * n) {
    return make_error(Errc::signature_invalid, "P1363 signature has " + std::to_string(signature.size()) +
                                                   " bytes; r||s must be " + std::to_string(2 * n));
  }
  std::unique_ptr<ECDSA_SIG, ossl::Deleter<ECDSA_SIG_free>> sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(signature.data(), static_cast<int>(n), nullptr);
  BIGNUM* s = BN_bin2bn(signature.data() + n, static_cast<int>(n), nullptr);
  if (!sig || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return ossl::error(Errc::internal, "cannot convert P1363 signature");
  }
  const Bytes der_sig = ossl::to_der(i2d_ECDSA_SIG, sig.get());
  if (der_sig.empty()) {
    return make_error(Errc::internal, "cannot convert P1363 signature");
  }
  return ecdsa_verify_sha512_der(key, message, der_sig);
}

}  // namespace rped::crypto
