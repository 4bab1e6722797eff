// Runners for the key-agreement (KAS) vector files: SP 800-56A r3 schemes with
// the one-step KDF and key confirmation, driven through rped::kas and the
// crypto layer (README sections 4, 5 and 7).
//
//   generated/kas-ecc-p521-…-kc.json           KAS-ECC 1.0 layout, FixedInfo rebuilt exactly
//   supplementary/kas-ecc-1.0_p224_….json     KAS-ECC 1.0 layout, the given OI (random padding)
//   supplementary/kas-ecc-sp800-56ar3_….json  Rev.3 layout: onePassUnified, KMAC-128, SHA-1
//   supplementary/kas-kc-sp800-56_….json      standalone key confirmation
//
// Both KAS layouts are read into one KasSetup and run by one function,
// check_kas_case(). Every case recomputes Z -> FixedInfo -> DKM -> MacKey ->
// MacData -> tag from the private keys, IDs and the peer's public keys. An
// invalid case must be rejected by the check that its ACVP disposition names
// (expected_rejection()); a valid one must pass all checks and reproduce every
// intermediate value the file states.
//
// Only what the product lacks is computed here with OpenSSL directly: KMAC-128,
// the oneStepNoCounter KDF H(Z || FixedInfo) and the onePassUnified Z.
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <gtest/gtest.h>

#include "conformance/vector_runner.h"
#include "rped/crypto/ec.h"
#include "rped/crypto/kdf.h"
#include "rped/kas.h"

namespace rped::conformance {
namespace {

using crypto::Curve;
using crypto::EcKeyPair;
using crypto::EcPublicKey;
using crypto::Hash;

// ---- Small readers of ACVP fields.

// README section 2: `result` is "invalid" exactly when expected.testPassed is false.
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

Bytes optional_hex(const Json& object, std::string_view key) {
  return object.contains(key) ? hex_field(object, key) : Bytes{};
}

Curve curve_named(const std::string& name) {
  if (name == "P-521") {
    return Curve::p521;
  }
  if (name == "P-224") {
    return Curve::p224;
  }
  throw VectorDataError("unsupported curve '" + name + "'");
}

Hash hash_named(const std::string& name) {
  if (name == "SHA-1") {
    return Hash::sha1;
  }
  if (name == "SHA2-224") {
    return Hash::sha224;
  }
  if (name == "SHA2-256") {
    return Hash::sha256;
  }
  if (name == "SHA2-512") {
    return Hash::sha512;
  }
  throw VectorDataError("unsupported hash '" + name + "'");
}

std::size_t bytes_of_bits(std::size_t bits) {
  if (bits == 0 || bits % 8 != 0) {
    throw VectorDataError("bit length " + std::to_string(bits) +
                          " is not a positive multiple of 8");
  }
  return bits / 8;
}

// ---- Parties and key confirmation (README section 5, SP 800-56A r3 §5.9.1).

enum class Party : std::uint8_t { u, v };

Party party_of_role(const std::string& kas_role) {
  if (kas_role == "initiator") {
    return Party::u;
  }
  if (kas_role == "responder") {
    return Party::v;
  }
  throw VectorDataError("unknown kasRole '" + kas_role + "'");
}

Party other(Party party) {
  return party == Party::u ? Party::v : Party::u;
}

bool is_bilateral(const std::string& direction) {
  if (direction != "bilateral" && direction != "unilateral") {
    throw VectorDataError("unknown key-confirmation direction '" + direction + "'");
  }
  return direction == "bilateral";
}

bool is_provider(const std::string& kc_role) {
  if (kc_role != "provider" && kc_role != "recipient") {
    throw VectorDataError("unknown key-confirmation role '" + kc_role + "'");
  }
  return kc_role == "provider";
}

// What a party contributes to FixedInfo and MacData.
struct PartyValues {
  Bytes id;
  Bytes ephemeral_key;  // X || Y, empty when the party has no ephemeral key
  Bytes nonce;          // ephemeral nonce, empty when it has none

  // §5.9.1.1: EphemData is the ephemeral public key, or else the nonce, or else empty.
  ByteView ephem_data() const {
    return ephemeral_key.empty() ? ByteView(nonce) : ByteView(ephemeral_key);
  }
  // uPartyInfo / vPartyInfo = ID || [ephemeral key] || [ephemeral nonce].
  Bytes party_info() const {
    Bytes info = id;
    info.insert(info.end(), ephemeral_key.begin(), ephemeral_key.end());
    info.insert(info.end(), nonce.begin(), nonce.end());
    return info;
  }
};

// MacData = "KC_{1|2}_{provider}" || ID_P || ID_R || EphemData_P || EphemData_R.
Bytes kc_mac_data(bool bilateral, Party provider, const PartyValues& p, const PartyValues& r) {
  const bool u = provider == Party::u;
  const kas::KcMessage message = bilateral ? (u ? kas::KcMessage::kc_2_u : kas::KcMessage::kc_2_v)
                                           : (u ? kas::KcMessage::kc_1_u : kas::KcMessage::kc_1_v);
  return kas::mac_data(message, p.id, r.id, p.ephem_data(), r.ephem_data());
}

struct KcMac {
  bool kmac128 = false;  // else HMAC with `hash`
  Hash hash = Hash::sha512;
  std::size_t key_bytes = 0;
  std::size_t tag_bytes = 0;
};

KcMac kc_mac_named(const std::string& mac_type, std::size_t key_bits, std::size_t tag_bits) {
  KcMac mac{.key_bytes = bytes_of_bits(key_bits), .tag_bytes = bytes_of_bits(tag_bits)};
  if (mac_type == "KMAC-128") {
    mac.kmac128 = true;
  } else if (mac_type.starts_with("HMAC-")) {
    mac.hash = hash_named(mac_type.substr(5));
  } else {
    throw VectorDataError("unsupported MAC '" + mac_type + "'");
  }
  return mac;
}

struct EvpMacFree {
  void operator()(EVP_MAC* mac) const noexcept { EVP_MAC_free(mac); }
  void operator()(EVP_MAC_CTX* ctx) const noexcept { EVP_MAC_CTX_free(ctx); }
};

// KMAC128(MacKey, MacData, macLen, "KC") (SP 800-56A r3 §5.9.1.2, SP 800-185).
// The product has no KMAC: OpenSSL directly. macLen is an input of KMAC, not a truncation.
Result<Bytes> kmac128_kc(ByteView key, ByteView data, std::size_t tag_bytes) {
  const std::unique_ptr<EVP_MAC, EvpMacFree> mac(EVP_MAC_fetch(nullptr, "KMAC-128", nullptr));
  const std::unique_ptr<EVP_MAC_CTX, EvpMacFree> ctx(mac ? EVP_MAC_CTX_new(mac.get()) : nullptr);
  std::size_t size = tag_bytes;
  char customization[] = "KC";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_CUSTOM, customization, 2),
      OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
      OSSL_PARAM_construct_end(),
  };
  Bytes tag(tag_bytes);
  std::size_t written = 0;
  if (!ctx || EVP_MAC_init(ctx.get(), key.data(), key.size(), params) != 1 ||
      EVP_MAC_update(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_MAC_final(ctx.get(), tag.data(), &written, tag.size()) != 1 || written != tag_bytes) {
    return make_error(Errc::internal, "KMAC-128 failed");
  }
  return tag;
}

Result<Bytes> kc_tag(const KcMac& mac, ByteView mac_key, ByteView mac_data) {
  return mac.kmac128 ? kmac128_kc(mac_key, mac_data, mac.tag_bytes)
                     : kas::kc_tag(mac.hash, mac_key, mac_data, mac.tag_bytes);
}

// The recipient's check of a received tag: HMAC through the product's verify_kc_tag.
Result<void> verify_kc_tag(const KcMac& mac, ByteView mac_key, ByteView mac_data,
                           ByteView received) {
  if (!mac.kmac128) {
    return kas::verify_kc_tag(mac.hash, mac_key, mac_data, received);
  }
  RPED_TRY_ASSIGN(const Bytes tag, kmac128_kc(mac_key, mac_data, received.size()));
  if (!constant_time_equal(tag, received)) {
    return make_error(Errc::mac_mismatch, "KMAC-128 tag does not verify");
  }
  return {};
}

// ---- Schemes: which keys each party has, and Z (SP 800-56A r3 §6).

enum class Scheme : std::uint8_t { full_unified, one_pass_unified, one_pass_dh };
enum class KeyKind : std::uint8_t { static_key, ephemeral };
constexpr std::array kKeyKinds = {KeyKind::static_key, KeyKind::ephemeral};

Scheme scheme_named(const std::string& name) {
  if (name == "fullUnified") {
    return Scheme::full_unified;
  }
  if (name == "onePassUnified") {
    return Scheme::one_pass_unified;
  }
  if (name == "onePassDh") {
    return Scheme::one_pass_dh;
  }
  throw VectorDataError("unsupported scheme '" + name + "'");
}

// C(2e,2s): both parties have both keys. C(1e,2s): U both, V static.
// C(1e,1s): U ephemeral, V static.
bool party_has(Scheme scheme, Party party, KeyKind kind) {
  if (kind == KeyKind::static_key) {
    return scheme != Scheme::one_pass_dh || party == Party::v;
  }
  return scheme == Scheme::full_unified || party == Party::u;
}

// ACVP field-name stem: "staticPrivateIut", "ephemeralPublicServerX", ...
std::string field_name(KeyKind kind, std::string_view what) {
  return std::string(kind == KeyKind::static_key ? "static" : "ephemeral") + std::string(what);
}

Bytes coordinates(const Json& object, const std::string& stem) {
  Bytes xy = hex_field(object, stem + "X");
  const Bytes y = hex_field(object, stem + "Y");
  xy.insert(xy.end(), y.begin(), y.end());
  return xy;
}

// SP 800-56A r3 §5.6.2.3.3 full public-key validation happens inside from_coordinates.
Result<EcPublicKey> public_key(Curve curve, const Json& object, const std::string& stem) {
  return EcPublicKey::from_coordinates(curve, hex_field(object, stem + "X"),
                                       hex_field(object, stem + "Y"));
}

// A party's keys by kind; a missing key that a scheme needs is a runner bug (bad_optional_access).
template <typename Key>
struct KeysByKind {
  std::array<std::optional<Key>, kKeyKinds.size()> slots;
  bool has(KeyKind kind) const { return slots.at(static_cast<std::size_t>(kind)).has_value(); }
  const Key& operator[](KeyKind kind) const {
    return slots.at(static_cast<std::size_t>(kind)).value();
  }
  void set(KeyKind kind, Key key) {
    slots.at(static_cast<std::size_t>(kind)).emplace(std::move(key));
  }
};
using OwnKeys = KeysByKind<EcKeyPair>;
using PeerKeys = KeysByKind<EcPublicKey>;

// Z from the IUT's side. fullUnified and onePassDh go through rped::kas; the product
// has no onePassUnified, so it is composed here from ECC CDH calls (§6.2.1.2):
// Z = Ze || Zs, Ze = CDH(ephemeral U, static V), Zs = CDH(static U, static V).
Result<SecretBytes> shared_secret(Scheme scheme, Party iut, const OwnKeys& own,
                                  const PeerKeys& peer) {
  using enum KeyKind;
  switch (scheme) {
    case Scheme::full_unified:
      return kas::full_unified_z(own[static_key], own[ephemeral], peer[static_key],
                                 peer[ephemeral]);
    case Scheme::one_pass_dh:
      return iut == Party::u ? kas::one_pass_z_party_u(own[ephemeral], peer[static_key])
                             : kas::one_pass_z_party_v(own[static_key], peer[ephemeral]);
    case Scheme::one_pass_unified: {
      RPED_TRY_ASSIGN(const SecretBytes ze, iut == Party::u
                                                ? own[ephemeral].ecdh(peer[static_key])
                                                : own[static_key].ecdh(peer[ephemeral]));
      RPED_TRY_ASSIGN(const SecretBytes zs, own[static_key].ecdh(peer[static_key]));
      return kas::concatenate_z(ze, zs);
    }
    default:
      return make_error(Errc::invalid_argument, "unknown scheme");
  }
}

// ---- KDF (SP 800-56C r2 §4.1 option 1).

struct Kdf {
  Hash hash = Hash::sha512;
  bool counter = true;  // false: ACVP "oneStepNoCounter", DKM = H(Z || FixedInfo)
  std::size_t dkm_bytes = 0;
};

// oneStepNoCounter is not in the product: OpenSSL EVP digest directly.
Result<SecretBytes> one_step_no_counter(Hash hash, ByteView z, ByteView fixed_info,
                                        std::size_t out_bytes) {
  const EVP_MD* const md = EVP_get_digestbyname(crypto::hash_name(hash));
  const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                    EVP_MD_CTX_free);
  SecretBytes digest(crypto::digest_bytes(hash));
  if (out_bytes == 0 || out_bytes > digest.size() || md == nullptr || !ctx ||
      EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), z.data(), z.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), fixed_info.data(), fixed_info.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), digest.reveal_mutable().data(), nullptr) != 1) {
    return make_error(Errc::kdf_failed, "oneStepNoCounter KDF failed");
  }
  digest.resize(out_bytes);
  return digest;
}

Result<SecretBytes> derive_dkm(const Kdf& kdf, ByteView z, ByteView fixed_info) {
  return kdf.counter ? crypto::one_step_kdf(kdf.hash, z, fixed_info, kdf.dkm_bytes)
                     : one_step_no_counter(kdf.hash, z, fixed_info, kdf.dkm_bytes);
}

// FixedInfo by concatenation of the pattern's fields (README section 5).
// algorithmId is taken from the first `algorithm_id_bytes` of the given OI.
Bytes build_fixed_info(const std::string& pattern, std::size_t dkm_bits, ByteView given_oi,
                       std::size_t algorithm_id_bytes, const PartyValues& u, const PartyValues& v) {
  Bytes out;
  std::string_view rest = pattern;
  while (!rest.empty()) {
    const std::size_t end = rest.find("||");
    const std::string_view name = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 2);
    Bytes part;
    if (name == "uPartyInfo" || name == "vPartyInfo") {
      part = (name == "uPartyInfo" ? u : v).party_info();
    } else if (name == "l") {
      // L as a 32-bit big-endian integer.
      append_u32_be(part, static_cast<std::uint32_t>(dkm_bits));
    } else if (name == "algorithmId" && algorithm_id_bytes > 0 &&
               given_oi.size() >= algorithm_id_bytes) {
      part.assign(given_oi.begin(),
                  given_oi.begin() + static_cast<std::ptrdiff_t>(algorithm_id_bytes));
    } else if (name.starts_with("literal[") && name.ends_with("]")) {
      const Result<Bytes> literal = from_hex(name.substr(8, name.size() - 9));
      if (!literal.ok()) {
        throw VectorDataError("bad literal in FixedInfo pattern: " + std::string(name));
      }
      part = literal.value();
    } else {
      throw VectorDataError("FixedInfo pattern field '" + std::string(name) +
                            "' cannot be rebuilt");
    }
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

// ---- One KAS case, from either ACVP layout.

struct KasSetup {
  Curve curve = Curve::p521;
  Scheme scheme = Scheme::full_unified;
  Party iut = Party::u;
  bool bilateral = false;
  bool iut_provides = false;  // kcRole provider: the tag under test is the IUT's own
  Bytes id_iut;
  Bytes id_server;
  Kdf kdf;
  KcMac mac;
  // FixedInfo: rebuilt from `pattern` when it is set (and then compared with a given
  // OI, if any); otherwise the given OI is used as it is.
  std::string pattern;
  std::size_t algorithm_id_bytes = 0;
  Bytes given_oi;
  std::string tag_field;  // "tagIut" (KAS-ECC 1.0) or "tag" (Rev.3)
};

// The check that must reject an invalid case, by its ACVP testCaseDisposition.
enum class Check : std::uint8_t { iut_key_pair, server_public_key, key_confirmation };

std::string_view check_name(Check check) {
  switch (check) {
    case Check::iut_key_pair:
      return "IUT key pair (pair-wise consistency Q = d*G)";
    case Check::server_public_key:
      return "server public-key validation";
    case Check::key_confirmation:
      return "key-confirmation tag";
    default:
      return "?";
  }
}

Check expected_rejection(const std::string& disposition) {
  // "IUT static public key": a valid point that is not d*G -> from_private_and_public,
  // SP 800-56A r3 §5.6.2.1.4.
  if (disposition.find("IUT static public key") != std::string::npos) {
    return Check::iut_key_pair;
  }
  // "ACVP server static/ephemeral public key": off the curve or a coordinate outside
  // [0, p-1] -> EcPublicKey::from_coordinates, full validation §5.6.2.3.3.
  if (disposition.find("server") != std::string::npos &&
      disposition.find("public key") != std::string::npos) {
    return Check::server_public_key;
  }
  // "different tag due to Z / DKM / OI / MacData / Tag value changed": the server's
  // chain was altered at one point, so only our tag differs -> verify_kc_tag.
  if (disposition.find("different tag") != std::string::npos) {
    return Check::key_confirmation;
  }
  throw VectorDataError("unknown testCaseDisposition '" + disposition + "'");
}

// AFT: IUT private keys in `internal`, its public values and outputs in `expected`.
// VAL: everything the IUT holds is in `input`.
const Json& iut_private_values(const Json& test) {
  return test.at(is_aft(test) ? "internal" : "input");
}
const Json& iut_public_values(const Json& test) {
  return test.at(is_aft(test) ? "expected" : "input");
}

CaseOutcome check_kas_case(const Json& test, const KasSetup& setup) {
  const bool aft = is_aft(test);
  const bool valid = expects_valid(test);
  if (aft && !valid) {
    throw VectorDataError("an AFT case must be valid");
  }
  const Json& input = test.at("input");
  const Json& internal = test.at("internal");
  const Json& iut_values = iut_public_values(test);
  const std::string disposition = string_field(internal, "testCaseDisposition");
  const std::optional<Check> must_reject =
      valid ? std::nullopt : std::optional<Check>(expected_rejection(disposition));
  const auto rejected = [&](Check check, const Error& error) {
    const std::string by = std::string(check_name(check)) + ": " + describe(error);
    if (valid) {
      return failed("valid case rejected by " + by);
    }
    if (check != must_reject) {
      return failed("'" + disposition + "' should fail the " +
                    std::string(check_name(*must_reject)) + ", but was rejected by " + by);
    }
    return passed();
  };

  // 1. The IUT's own keys. VAL: the given pair must be consistent; AFT: d*G must equal expected.
  OwnKeys own;
  for (const KeyKind kind : kKeyKinds) {
    if (!party_has(setup.scheme, setup.iut, kind)) {
      continue;
    }
    const std::string stem = field_name(kind, "PublicIut");
    const Bytes d = hex_field(iut_private_values(test), field_name(kind, "PrivateIut"));
    Result<EcKeyPair> pair = EcKeyPair::from_private(setup.curve, d);
    if (!aft && pair.ok()) {
      const Result<EcPublicKey> q = public_key(setup.curve, input, stem);
      pair = q.ok() ? EcKeyPair::from_private_and_public(setup.curve, d, q.value())
                    : Result<EcKeyPair>(q.error());
    }
    if (!pair.ok()) {
      return rejected(Check::iut_key_pair, pair.error());
    }
    const Bytes want_q = coordinates(iut_values, stem);
    if (!bytes_equal(pair->public_key().xy(), want_q)) {
      return failed(mismatch(stem + " (d*G)", pair->public_key().xy(), want_q));
    }
    own.set(kind, std::move(pair).value());
  }

  // 2. The server's public keys: full public-key validation.
  PeerKeys peer;
  for (const KeyKind kind : kKeyKinds) {
    if (party_has(setup.scheme, other(setup.iut), kind)) {
      const Result<EcPublicKey> key =
          public_key(setup.curve, input, field_name(kind, "PublicServer"));
      if (!key.ok()) {
        return rejected(Check::server_public_key, key.error());
      }
      peer.set(kind, key.value());
    }
  }

  // 3. Z, FixedInfo, DKM, MacKey, MacData.
  const Result<SecretBytes> z = shared_secret(setup.scheme, setup.iut, own, peer);
  if (!z.ok()) {
    return failed("Z: " + describe(z.error()));
  }
  const PartyValues iut{
      setup.id_iut,
      own.has(KeyKind::ephemeral) ? own[KeyKind::ephemeral].public_key().xy() : Bytes{},
      optional_hex(iut_values, "ephemeralNonceIut")};
  const PartyValues server{setup.id_server,
                           peer.has(KeyKind::ephemeral) ? peer[KeyKind::ephemeral].xy() : Bytes{},
                           optional_hex(input, "ephemeralNonceServer")};
  const PartyValues& u = setup.iut == Party::u ? iut : server;
  const PartyValues& v = setup.iut == Party::u ? server : iut;
  Bytes fixed_info = setup.given_oi;
  if (!setup.pattern.empty()) {
    fixed_info = build_fixed_info(setup.pattern, setup.kdf.dkm_bytes * 8, setup.given_oi,
                                  setup.algorithm_id_bytes, u, v);
    if (!setup.given_oi.empty() && !bytes_equal(fixed_info, setup.given_oi)) {
      return failed(mismatch("FixedInfo rebuilt from its parts vs the file's oi", fixed_info,
                             setup.given_oi));
    }
  }
  const Result<SecretBytes> dkm = derive_dkm(setup.kdf, z->reveal(), fixed_info);
  if (!dkm.ok()) {
    return failed("DKM: " + describe(dkm.error()));
  }
  if (setup.mac.key_bytes > dkm->size()) {
    throw VectorDataError("keyLen exceeds the DKM length");
  }
  // MacKey = the leftmost keyLen bits of DKM.
  const ByteView mac_key = dkm->reveal().first(setup.mac.key_bytes);
  const Party provider = setup.iut_provides ? setup.iut : other(setup.iut);
  const Bytes mac_data = setup.iut_provides ? kc_mac_data(setup.bilateral, provider, iut, server)
                                            : kc_mac_data(setup.bilateral, provider, server, iut);

  // 4. The tag. AFT: the tag the IUT computes must equal expected. VAL: the product's
  // verification of the file's tag (the IUT's own tag as the server will check it, or
  // the server's tag that the IUT receives) must agree with testPassed.
  const Bytes given_tag = hex_field(iut_values, setup.tag_field);
  if (given_tag.size() != setup.mac.tag_bytes) {
    throw VectorDataError("tag length differs from macLen");
  }
  if (aft) {
    const Result<Bytes> tag = kc_tag(setup.mac, mac_key, mac_data);
    if (!tag.ok()) {
      return failed("tag: " + describe(tag.error()));
    }
    if (!bytes_equal(tag.value(), given_tag)) {
      return failed(mismatch("tag", tag.value(), given_tag));
    }
  } else if (const Result<void> verified = verify_kc_tag(setup.mac, mac_key, mac_data, given_tag);
             !verified.ok()) {
    if (verified.error().code != Errc::mac_mismatch) {
      return failed("verify_kc_tag: " + describe(verified.error()));
    }
    return rejected(Check::key_confirmation, verified.error());
  }
  if (!valid) {
    return failed("'" + disposition + "' was not detected: every check passed");
  }

  // 5. A valid case reproduces every intermediate value the file states (the
  // server's, in `internal`, or the IUT's DKM in input/expected for Rev.3).
  const std::array<std::pair<std::string_view, ByteView>, 4> ours = {
      {{"z", z->reveal()}, {"dkm", dkm->reveal()}, {"macKey", mac_key}, {"macData", mac_data}}};
  for (const auto& [field, value] : ours) {
    const Json& holder = internal.contains(field) ? internal : iut_values;
    if (holder.contains(field) && !bytes_equal(value, hex_field(holder, field))) {
      return failed(mismatch(field, value, hex_field(holder, field)));
    }
  }
  return passed();
}

// ---- The two ACVP KAS layouts -> KasSetup.

// How the KAS-ECC 1.0 layout's OI is used: the generated file promises an OI without
// padding that can be rebuilt exactly (README section 7); NIST's KAS-ECC 1.0 OI has
// random padding, so it is used as given and L = keyLen (its DKM is the MacKey alone).
struct Kas10FixedInfo {
  bool rebuild = false;
  std::size_t algorithm_id_bytes = 0;
  std::size_t dkm_bits = 0;
};

// README section 7: the generator's parameters (algorithmId length, L) are in source.parameters.
Kas10FixedInfo generated_fixed_info(const Json& document) {
  const Json& parameters = document.at("source").at("parameters");
  return {.rebuild = true,
          .algorithm_id_bytes = bytes_of_bits(size_field(parameters, "algorithmIdLenBits")),
          .dkm_bits = size_field(parameters, "l")};
}

KasSetup kas_1_0_setup(const Json& test, const Kas10FixedInfo& oi) {
  const Json& group = test.at("group");
  if (string_field(group, "kasMode") != "kdfKc") {
    throw VectorDataError("runner handles kasMode kdfKc only");
  }
  const Json& iut_values = iut_public_values(test);
  const std::size_t key_bits = size_field(group, "keyLen");
  const std::size_t dkm_bits = oi.rebuild ? oi.dkm_bits : key_bits;
  // kdfType "concatenation" or "asn1": either way the one-step (concatenation) KDF over
  // the explicit OI (the "asn1" name only says how NIST's OI was produced).
  return {
      .curve = curve_named(string_field(group, "curve")),
      .scheme = scheme_named(string_field(group, "scheme")),
      .iut = party_of_role(string_field(group, "kasRole")),
      .bilateral = is_bilateral(string_field(group, "kcType")),
      .iut_provides = is_provider(string_field(group, "kcRole")),
      .id_iut = hex_field(group.contains("idIut") ? group : iut_values, "idIut"),
      .id_server = hex_field(group, "idServer"),
      .kdf = {.hash = hash_named(string_field(group, "hashAlg")),
              .dkm_bytes = bytes_of_bits(dkm_bits)},
      .mac = kc_mac_named(string_field(group, "macType"), key_bits, size_field(group, "macLen")),
      .pattern = oi.rebuild ? string_field(group, "oiPattern") : std::string(),
      .algorithm_id_bytes = oi.algorithm_id_bytes,
      .given_oi = hex_field(iut_values, "oi"),
      .tag_field = "tagIut"};
}

KasSetup kas_rev3_setup(const Json& test) {
  const Json& group = test.at("group");
  const Json& kdf = group.at("kdfConfiguration");
  const Json& mac = group.at("macConfiguration");
  const std::string kdf_type = string_field(kdf, "kdfType");
  if (string_field(group, "kasMode") != "kdfKc" ||
      (kdf_type != "oneStep" && kdf_type != "oneStepNoCounter") ||
      string_field(kdf, "fixedInfoEncoding") != "concatenation") {
    throw VectorDataError(
        "runner handles kdfKc with a oneStep[NoCounter] KDF and concatenated FixedInfo only");
  }
  return {.curve = curve_named(string_field(group, "domainParameterGenerationMode")),
          .scheme = scheme_named(string_field(group, "scheme")),
          .iut = party_of_role(string_field(group, "kasRole")),
          .bilateral = is_bilateral(string_field(group, "keyConfirmationDirection")),
          .iut_provides = is_provider(string_field(group, "keyConfirmationRole")),
          .id_iut = hex_field(group, "iutId"),
          .id_server = hex_field(group, "serverId"),
          .kdf = {.hash = hash_named(string_field(kdf, "auxFunction")),
                  .counter = kdf_type == "oneStep",
                  .dkm_bytes = bytes_of_bits(size_field(group, "l"))},
          .mac = kc_mac_named(string_field(mac, "macType"), size_field(mac, "keyLen"),
                              size_field(mac, "macLen")),
          .pattern = string_field(kdf, "fixedInfoPattern"),
          .algorithm_id_bytes = 0,
          .given_oi = {},
          .tag_field = "tag"};
}

// ---- Standalone key confirmation (ACVP KAS-KC): MacData and tag from the given MacKey.

CaseOutcome check_kas_kc(const Json& test) {
  const Json& group = test.at("group");
  const Json& input = test.at("input");
  const bool valid = expects_valid(test);
  const KcMac mac = kc_mac_named(string_field(group, "keyAgreementMacType"),
                                 size_field(group, "keyLen"), size_field(group, "macLen"));
  const Bytes mac_key = hex_field(input, "macKey");
  if (mac_key.size() != mac.key_bytes) {
    throw VectorDataError("macKey length differs from keyLen");
  }
  const auto party = [&](std::string_view key) {
    const Json& values = input.at(std::string(key));
    return PartyValues{.id = hex_field(values, "partyId"),
                       .ephemeral_key = optional_hex(values, "ephemeralData"),
                       .nonce = {}};
  };
  const PartyValues iut = party("macDataIut");
  const PartyValues server = party("macDataServer");
  const Party iut_party = party_of_role(string_field(group, "kasRole"));
  const bool iut_provides = is_provider(string_field(group, "keyConfirmationRole"));
  const bool bilateral = is_bilateral(string_field(group, "keyConfirmationDirection"));
  const Bytes mac_data = iut_provides ? kc_mac_data(bilateral, iut_party, iut, server)
                                      : kc_mac_data(bilateral, other(iut_party), server, iut);
  const Bytes want_tag = hex_field(test.at("expected"), "tag");
  const Result<void> verified = verify_kc_tag(mac, mac_key, mac_data, want_tag);
  if (!valid) {
    return verified.ok() ? failed("invalid tag verified") : passed();
  }
  const Bytes want_mac_data = hex_field(test.at("internal"), "macData");
  if (!bytes_equal(mac_data, want_mac_data)) {
    return failed(mismatch("MacData", mac_data, want_mac_data));
  }
  if (!verified.ok()) {
    const Result<Bytes> tag = kc_tag(mac, mac_key, mac_data);
    return failed(tag.ok() ? mismatch("tag", tag.value(), want_tag)
                           : "tag: " + describe(tag.error()));
  }
  return passed();
}

// ---- Test suites (one per layout; --gtest_filter='Kas*' selects them all).

class KasEccGeneratedVectors : public ::testing::TestWithParam<VectorFile> {};
TEST_P(KasEccGeneratedVectors, AllCasesConform) {
  run_vector_file(GetParam(), [](VectorFileRun& run) {
    const Kas10FixedInfo oi = generated_fixed_info(run.document());
    for_each_listed_case(
        run, [&](const Json& test) { return check_kas_case(test, kas_1_0_setup(test, oi)); });
  });
}
INSTANTIATE_TEST_SUITE_P(Kas, KasEccGeneratedVectors,
                         ::testing::Values(VectorFile{
                             "generated/kas-ecc-p521-sha512-fullUnified-onePassDh-kc.json"}),
                         vector_test_name);

class KasEcc10Vectors : public ::testing::TestWithParam<VectorFile> {};
TEST_P(KasEcc10Vectors, AllCasesConform) {
  run_vector_file(GetParam(), [](VectorFileRun& run) {
    for_each_listed_case(
        run, [](const Json& test) { return check_kas_case(test, kas_1_0_setup(test, {})); });
  });
}
INSTANTIATE_TEST_SUITE_P(
    Kas, KasEcc10Vectors,
    ::testing::Values(VectorFile{
        "supplementary/kas-ecc-1.0_p224_fullUnified_onePassDh_kdfKc_hmac.json"}),
    vector_test_name);

class KasEccRev3Vectors : public ::testing::TestWithParam<VectorFile> {};
TEST_P(KasEccRev3Vectors, AllCasesConform) {
  run_vector_file(GetParam(), [](VectorFileRun& run) {
    for_each_listed_case(
        run, [](const Json& test) { return check_kas_case(test, kas_rev3_setup(test)); });
  });
}
INSTANTIATE_TEST_SUITE_P(Kas, KasEccRev3Vectors,
                         ::testing::Values(VectorFile{
                             "supplementary/kas-ecc-sp800-56ar3_sample_p224_onePassUnified.json"}),
                         vector_test_name);

class KasKcVectors : public ::testing::TestWithParam<VectorFile> {};
TEST_P(KasKcVectors, AllCasesConform) {
  run_vector_file(GetParam(), [](VectorFileRun& run) { for_each_listed_case(run, check_kas_kc); });
}
INSTANTIATE_TEST_SUITE_P(Kas, KasKcVectors,
                         ::testing::Values(VectorFile{
                             "supplementary/kas-kc-sp800-56_hmac-sha2-224.json"}),
                         vector_test_name);

}  // namespace
}  // namespace rped::conformance
