// The worked examples of docs/protocol.md §11 are produced by this file from
// fixed keys and checked against the document, so the specification and the
// code cannot disagree. To rewrite the document's examples after a deliberate
// protocol change:  RPED_UPDATE_PROTOCOL_DOC=1 build/tests/rped_tests --gtest_filter='ProtocolDoc.*'
//
// Every private value is SHA-512 of a label (docs/protocol.md §11 names them),
// so a reader can recompute everything. The certificates are fixed files in
// tests/data/worked-example/ (ECDSA signatures are randomised, so they were
// made once: RPED_REGENERATE_WORKED_EXAMPLE_PKI=1 writes new ones).
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "rped/channel/endpoint.h"
#include "rped/kas.h"
#include "support/channel_harness.h"
#include "support/result_assertions.h"

namespace rped::channel {
namespace {

using test::must;

const std::string kDataDir = std::string(RPED_SOURCE_DIR) + "/tests/data/worked-example/";
const std::string kDocPath = std::string(RPED_SOURCE_DIR) + "/docs/protocol.md";
// 2026-11-22T00:00:00Z: the certificates are valid from 2026-01-01 to 2049-12-31.
constexpr std::int64_t kExampleTime = 1795305600;

Bytes sha512_of(std::string_view label) {
  Bytes out(64);
  unsigned int len = 0;
  EVP_Digest(label.data(), label.size(), out.data(), &len, EVP_sha512(), nullptr);
  return out;
}

// A P-521 private key d = SHA-512(label), read as a 512-bit integer (< n).
crypto::EcKeyPair key_from_label(std::string_view label) {
  return must(crypto::EcKeyPair::from_private(crypto::Curve::p521, sha512_of(label)));
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

crypto::Certificate load_cert(const std::string& name) {
  return must(crypto::Certificate::from_pem(read_file(kDataDir + name))).front();
}

struct ExamplePki {
  crypto::Certificate root, hoc, hsm_static, rpk;
};

void regenerate_pki() {
  const crypto::EcKeyPair root_key = key_from_label("RPED worked example: manufacturer root key");
  const crypto::EcKeyPair hoc_key = key_from_label("RPED worked example: HOC key");
  const crypto::EcKeyPair hsm_key = key_from_label("RPED worked example: HSM static key");
  const crypto::EcKeyPair rpk_key = key_from_label("RPED worked example: RPK key");
  const std::int64_t from = 1767225600;  // 2026-01-01
  const std::int64_t to = 2524607999;    // 2049-12-31
  auto spec = [&](test::CertSpec s) {
    s.not_before = from;
    s.not_after = to;
    return s;
  };
  const auto root = test::self_signed(root_key, spec(test::root_ca_spec("RPED Worked Example Root")));
  const auto hoc = test::issue(hoc_key.public_key(), root, root_key, spec(test::hoc_spec("RPED Worked Example HOC")));
  test::CertSpec hsm = spec(test::hsm_ecdh_spec("RPED Worked Example HSM Static Key"));
  hsm.subject_serial_number = "1234567";
  const auto hsm_cert = test::issue(hsm_key.public_key(), hoc, hoc_key, hsm);
  const auto rpk_cert = test::issue(rpk_key.public_key(), hoc, hoc_key, spec(test::rpk_spec(7001)));
  for (const auto& [name, cert] : {std::pair{"root.pem", &root}, std::pair{"hoc.pem", &hoc},
                                   std::pair{"hsm-static.pem", &hsm_cert}, std::pair{"rpk.pem", &rpk_cert}}) {
    std::ofstream(kDataDir + name) << cert->pem();
  }
}

// ---------------------------------------------------------------------------
// Text helpers

std::string hex_block(ByteView bytes, int indent = 4) {
  const std::string hex = to_hex(bytes);
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 64) {
    out += std::string(static_cast<std::size_t>(indent), ' ') + hex.substr(i, 64) + "\n";
  }
  if (hex.empty()) {
    out += std::string(static_cast<std::size_t>(indent), ' ') + "(empty)\n";
  }
  return out;
}

std::string field(std::string_view name, ByteView bytes) {
  return "  " + std::string(name) + " (" + std::to_string(bytes.size()) + " bytes)\n" + hex_block(bytes);
}

// Splits a chunk of bytes a side sent into frames and names each.
std::string frames(std::string_view direction, ByteView sent) {
  std::string out;
  std::size_t off = 0;
  while (off + kFrameHeaderBytes <= sent.size()) {
    const FrameHeader h = FrameHeader::parse(sent.subspan(off).first<kFrameHeaderBytes>());
    const ByteView whole = sent.subspan(off, kFrameHeaderBytes + h.body_length);
    out += std::string(direction) + " " + std::string(message_type_name(h.type)) + ", frame of " +
           std::to_string(whole.size()) + " bytes (header " + to_hex(whole.first(kFrameHeaderBytes)) + ")\n" +
           hex_block(whole);
    off += whole.size();
  }
  return out;
}

// ---------------------------------------------------------------------------
// The example run

struct Example {
  std::string text;
};

Example run_example(Scheme scheme) {
  const ExamplePki pki{load_cert("root.pem"), load_cert("hoc.pem"), load_cert("hsm-static.pem"), load_cert("rpk.pem")};
  const crypto::EcKeyPair hsm_static = key_from_label("RPED worked example: HSM static key");
  const crypto::EcKeyPair rpk = key_from_label("RPED worked example: RPK key");
  const Bytes rpv_hash = sha512_of("RPED worked example: RPV");
  const Bytes rpv_bytes(rpv_hash.begin(), rpv_hash.begin() + kRpvBytes);
  const SecretBytes rpv = SecretBytes::copy_of(rpv_bytes);
  const SecretBytes password = SecretBytes::copy_of(test::bytes_of("31415926"));
  const bool full = scheme == Scheme::full_unified;

  HsmEndpointConfig hsm_cfg;
  hsm_cfg.scheme = scheme;
  hsm_cfg.hsm_serial = 1234567;
  hsm_cfg.certificate_chain = {pki.hsm_static, pki.hoc};
  hsm_cfg.verification_time = kExampleTime;
  hsm_cfg.entropy.ephemeral_key = [] {
    return crypto::EcKeyPair::from_private(crypto::Curve::p521, sha512_of("RPED worked example: HSM ephemeral key"));
  };
  hsm_cfg.entropy.nonce = [](std::span<std::uint8_t> out) -> Result<void> {
    const Bytes n = sha512_of("RPED worked example: HSM nonce");
    std::copy_n(n.begin(), out.size(), out.begin());
    return {};
  };
  PedEndpointConfig ped_cfg;
  ped_cfg.manufacturer_roots = must(crypto::TrustStore::from_anchors(std::span(&pki.root, 1)));
  ped_cfg.verification_time = kExampleTime;
  if (full) {
    ped_cfg.rpk_certificate = pki.rpk;
    ped_cfg.rpk_serial = 7001;
  } else {
    ped_cfg.allow_password_mode = true;
  }
  ped_cfg.entropy.ephemeral_key = [] {
    return crypto::EcKeyPair::from_private(crypto::Curve::p521, sha512_of("RPED worked example: PED ephemeral key"));
  };

  test::ChannelWorld unused_world;  // the link's default devices are replaced below
  test::ChannelLink link(unused_world, std::move(hsm_cfg), std::move(ped_cfg));
  const ByteView secret = full ? rpv.reveal() : password.reveal();
  std::optional<KeyDerivationRequest> hsm_request;
  Bytes dkm_seen_by_hsm;
  Bytes dkm_seen_by_ped;
  link.hsm_device = [&](const KeyDerivationRequest& r) {
    hsm_request.emplace(KeyDerivationRequest{r.side, r.transcript, r.z_part.clone(), r.device_peer_key, r.peer_tag});
    auto dkm = derive_dkm(r, &hsm_static, secret);
    if (dkm.ok()) {
      dkm_seen_by_hsm.assign(dkm->reveal().begin(), dkm->reveal().end());
    }
    return dkm;
  };
  link.ped_device = [&](const KeyDerivationRequest& r) {
    auto dkm = derive_dkm(r, full ? &rpk : nullptr, secret);
    if (dkm.ok()) {
      dkm_seen_by_ped.assign(dkm->reveal().begin(), dkm->reveal().end());
    }
    return dkm;
  };
  link.run();
  if (const auto closed = test::ChannelLink::closed(link.ped_events)) {
    ADD_FAILURE() << "PED side closed: " << alert_name(closed->code) << ": " << closed->detail;
  }
  if (const auto closed = test::ChannelLink::closed(link.hsm_events)) {
    ADD_FAILURE() << "HSM side closed: " << alert_name(closed->code) << ": " << closed->detail;
  }
  EXPECT_EQ(link.hsm.state(), State::established);
  EXPECT_EQ(link.ped.state(), State::established);
  link.pump({}, must(link.ped.send(test::bytes_of("PED ready"))));
  link.pump(must(link.hsm.send(test::bytes_of("SO login: insert the blue key"))), {});
  link.pump({}, must(link.ped.send(test::bytes_of("keys read: 01 of 01"))));

  // Recompute Z and the DKM independently of the endpoints, from the private keys.
  const Transcript& t = hsm_request->transcript;
  const crypto::EcKeyPair ped_eph = key_from_label("RPED worked example: PED ephemeral key");
  SecretBytes z;
  if (full) {
    const crypto::EcKeyPair hsm_eph = key_from_label("RPED worked example: HSM ephemeral key");
    z = must(kas::full_unified_z(rpk, ped_eph, hsm_static.public_key(), hsm_eph.public_key()));
  } else {
    z = must(kas::one_pass_z_party_u(ped_eph, hsm_static.public_key()));
  }
  Bytes fixed_info = t.fixed_info_public();
  fixed_info.insert(fixed_info.end(), secret.begin(), secret.end());
  const SecretBytes dkm = must(crypto::one_step_kdf_sha512(z.reveal(), fixed_info, kDkmBytes));
  EXPECT_TRUE(constant_time_equal(dkm.reveal(), dkm_seen_by_hsm)) << "endpoint DKM differs from the recomputation";
  EXPECT_TRUE(constant_time_equal(dkm.reveal(), dkm_seen_by_ped));
  const SessionKeys keys = must(SessionKeys::from_dkm(dkm));
  const Bytes tag_u = must(kas::kc_tag(crypto::Hash::sha512, keys.mac_key.reveal(), t.mac_data_u(), kKcTagBytes));
  const Bytes tag_v = must(kas::kc_tag(crypto::Hash::sha512, keys.mac_key.reveal(), t.mac_data_v(), kKcTagBytes));

  std::string s;
  s += std::string("Scheme: ") + std::string(scheme_name(scheme)) + "\n\nInputs\n";
  s += "  HSM serial 1234567" + std::string(full ? ", RPK serial 7001\n" : "\n");
  s += full ? field("RPV = SHA-512(\"RPED worked example: RPV\")[0..32]", rpv_bytes)
            : "  one-time password \"31415926\" (ASCII)\n";
  s += field("HSM static public key (X||Y)", hsm_static.public_key().xy());
  if (full) {
    s += field("RPK static public key (X||Y)", rpk.public_key().xy());
  }
  s += field("QeU, PED ephemeral public key (X||Y)", t.ped_ephemeral_xy);
  s += field(full ? "QeV, HSM ephemeral public key (X||Y)" : "N_V, HSM nonce", t.hsm_ephemeral_data);
  // Chronological: HsmHello, PedKeyShare, HsmConfirm; then records PED, HSM, PED.
  s += "\nHandshake frames\n";
  s += frames("HSM -> PED", link.hsm_sent.at(0));
  s += frames("PED -> HSM", link.ped_sent.at(0));
  s += frames("HSM -> PED", link.hsm_sent.at(1));
  s += "\nKey derivation\n";
  s += field(full ? "Z = Ze || Zs" : "Z = CDH(QeU private, HSM static)", z.reveal());
  s += field("FixedInfo = AlgorithmID || PartyUInfo || PartyVInfo || SuppPubInfo || SuppPrivInfo", fixed_info);
  s += field("MacKey", keys.mac_key.reveal());
  s += field("DEK_UV (PED -> HSM)", keys.ped_to_hsm.dek.reveal());
  s += field("DMK_UV", keys.ped_to_hsm.dmk.reveal());
  s += field("CWK_UV", keys.ped_to_hsm.cwk.reveal());
  s += field("DEK_VU (HSM -> PED)", keys.hsm_to_ped.dek.reveal());
  s += field("DMK_VU", keys.hsm_to_ped.dmk.reveal());
  s += field("CWK_VU", keys.hsm_to_ped.cwk.reveal());
  s += field("MacData_U", t.mac_data_u());
  s += field("tag_U", tag_u);
  s += field("MacData_V", t.mac_data_v());
  s += field("tag_V", tag_v);
  s += "\nRecords, each decoded independently of the record layer (raw AES-256-CTR and HMAC-SHA512)\n";
  const std::vector<std::pair<Side, const Bytes*>> records = {
      {Side::ped, &link.ped_sent.at(1)}, {Side::hsm, &link.hsm_sent.at(2)}, {Side::ped, &link.ped_sent.at(2)}};
  std::uint64_t seq[2] = {0, 0};
  for (const auto& [sender, frame_bytes] : records) {
    const bool from_ped = sender == Side::ped;
    const DirectionKeys& k = from_ped ? keys.ped_to_hsm : keys.hsm_to_ped;
    s += frames(from_ped ? "PED -> HSM" : "HSM -> PED", *frame_bytes);
    const ByteView frame_view(*frame_bytes);
    const ByteView header = frame_view.first(kFrameHeaderBytes);
    const ByteView body = frame_view.subspan(kFrameHeaderBytes);
    const ByteView seq_bytes = body.first(kRecordSequenceBytes);
    const ByteView ciphertext = body.subspan(kRecordSequenceBytes, body.size() - kRecordSequenceBytes - kRecordTagBytes);
    const ByteView tag = body.last(kRecordTagBytes);
    const std::uint8_t direction = static_cast<std::uint8_t>(sender);
    const Bytes want_tag =
        must(crypto::hmac(crypto::Hash::sha512, k.dmk.reveal(), {ByteView(&direction, 1), header, seq_bytes, ciphertext}));
    EXPECT_TRUE(constant_time_equal(want_tag, tag)) << "record tag differs from HMAC(direction||header||seq||ct)";
    const auto counter = record_counter_block(seq[from_ped ? 0 : 1]++);
    Bytes plaintext(ciphertext.size());
    EXPECT_TRUE(test::is_ok(crypto::aes256_ctr_xor(k.dek.reveal(), counter, ciphertext, plaintext)));
    s += "  direction byte " + to_hex(ByteView(&direction, 1)) + ", seq " + to_hex(seq_bytes) + ", counter block " +
         to_hex(counter) + "\n";
    s += "  plaintext: content type " + std::to_string(plaintext.at(0)) + ", payload \"" +
         std::string(plaintext.begin() + 1, plaintext.end()) + "\"\n";
  }
  const std::array<std::uint8_t, 32> csp{};
  s += "\nCSP wrapping\n";
  s += field("AES-256-KWP(CWK_UV, 32 zero bytes)", must(crypto::aes_kwp_wrap(keys.ped_to_hsm.cwk.reveal(), csp)));
  return Example{s};
}

std::string marker(std::string_view name, std::string_view edge) {
  return "<!-- worked-example " + std::string(name) + " " + std::string(edge) + " -->";
}

TEST(ProtocolDoc, WorkedExamplesMatchTheCode) {
  if (std::getenv("RPED_REGENERATE_WORKED_EXAMPLE_PKI") != nullptr) {
    regenerate_pki();
  }
  std::string doc = read_file(kDocPath);
  ASSERT_FALSE(doc.empty()) << kDocPath;
  const bool update = std::getenv("RPED_UPDATE_PROTOCOL_DOC") != nullptr;
  for (const auto& [name, scheme] :
       {std::pair{"full-unified", Scheme::full_unified}, std::pair{"one-pass", Scheme::one_pass_password}}) {
    const std::string begin = marker(name, "begin");
    const std::string end = marker(name, "end");
    const std::size_t b = doc.find(begin);
    const std::size_t e = doc.find(end);
    ASSERT_NE(b, std::string::npos) << "missing " << begin;
    ASSERT_NE(e, std::string::npos) << "missing " << end;
    const std::string generated = "\n```text\n" + run_example(scheme).text + "```\n";
    const std::size_t from = b + begin.size();
    if (update) {
      doc.replace(from, e - from, generated);
    } else {
      EXPECT_EQ(doc.substr(from, e - from), generated)
          << "docs/protocol.md worked example '" << name
          << "' differs from the code; if the change is deliberate, run with RPED_UPDATE_PROTOCOL_DOC=1";
    }
  }
  if (update) {
    std::ofstream(kDocPath, std::ios::binary) << doc;
  }
}

// The examples are deterministic: two runs give the same text.
TEST(ProtocolDoc, WorkedExamplesAreDeterministic) {
  EXPECT_EQ(run_example(Scheme::full_unified).text, run_example(Scheme::full_unified).text);
}

}  // namespace
}  // namespace rped::channel
