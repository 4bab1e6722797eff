#include "rped/hsmsim/pkc.h"

#include <ctime>
#include <string_view>
#include <vector>

#include "rped/config/atomic_file.h"
#include "rped/crypto/ec.h"
#include "rped/crypto/x509.h"
#include "rped/hsmsim/certificate_issuer.h"
#include "rped/hsmsim/pkc_signer.h"

namespace rped::hsmsim {

namespace {

CommandResult fail(ResultCode code, std::string message) {
  return CommandResult{code, std::move(message)};
}

std::int64_t unix_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

// What the HSM knows about a key it can attest.
struct KeyFacts {
  crypto::EcPublicKey public_key;
  std::string label;
  attestation::KeyAttributes attributes;
};

Result<KeyFacts> key_facts(const HsmState& state, std::uint32_t handle) {
  if (handle == kStaticKeyHandle) {
    RPED_TRY_ASSIGN(const crypto::EcKeyPair key,
                    crypto::EcKeyPair::from_private(crypto::Curve::p521,
                                                    state.manufacturing.static_private.reveal()));
    // Generated inside the HSM at manufacturing, used only for the channel's
    // key agreement (docs/protocol.md §8), never exported.
    return KeyFacts{key.public_key(), "HSM static key",
                    {.local = true,
                     .extractable = false,
                     .never_extractable = true,
                     .key_usage = attestation::kKeyAgreement}};
  }
  for (const KeyObject& o : state.objects) {
    if (o.handle == handle) {
      RPED_TRY_ASSIGN(const crypto::EcKeyPair key,
                      crypto::EcKeyPair::from_private(crypto::Curve::p521,
                                                      o.private_scalar.reveal()));
      return KeyFacts{key.public_key(), o.label,
                      {.local = true,
                       .extractable = o.extractable,
                       .never_extractable = !o.extractable,
                       .key_usage = o.key_usage}};
    }
  }
  return make_error(Errc::not_found, "no key object with handle " + std::to_string(handle) +
                                         " (1 is the HSM static key; 'key list' shows the others)");
}

}  // namespace

Result<void> ensure_attestation_key(Manufacturing& m) {
  RPED_TRY_ASSIGN(const crypto::EcKeyPair hoc_key,
                  crypto::EcKeyPair::from_private(crypto::Curve::p521, m.hoc_private.reveal()));
  RPED_TRY_ASSIGN(const crypto::Certificate hoc, crypto::Certificate::from_der(m.hoc_certificate));
  const std::string serial = std::to_string(m.serial);
  if (m.attestation_certificate.empty()) {
    RPED_TRY_ASSIGN(const crypto::EcKeyPair key, crypto::EcKeyPair::generate());
    RPED_TRY_ASSIGN(const crypto::Certificate cert,
                    issue_certificate(key.public_key(), hoc, hoc_key,
                                      demo_profile(CertificateRole::attestation,
                                                   "RPED hsmsim HSM " + serial + " attestation",
                                                   serial)));
    RPED_TRY_ASSIGN(m.attestation_private, key.export_private_scalar());
    m.attestation_certificate = cert.der();
    return {};
  }
  RPED_TRY_ASSIGN(const crypto::EcKeyPair key,
                  crypto::EcKeyPair::from_private(crypto::Curve::p521,
                                                  m.attestation_private.reveal()));
  RPED_TRY_ASSIGN(const crypto::Certificate cert,
                  crypto::Certificate::from_der(m.attestation_certificate));
  RPED_TRY_ASSIGN(const crypto::EcPublicKey cert_key, cert.ec_public_key());
  if (!(cert_key == key.public_key()) || cert.subject_serial_number() != serial) {
    return make_error(Errc::invalid_argument,
                      "the HSM state's attestation key does not match its certificate for HSM " +
                          serial);
  }
  RPED_TRY_ASSIGN(const crypto::TrustStore issuer, crypto::TrustStore::from_issuer(hoc));
  return issuer.verify(cert, {});
}

Result<attestation::KeyAttestation> attestation_statement(const HsmState& state,
                                                          std::uint32_t handle, std::int64_t now) {
  RPED_TRY_ASSIGN(const KeyFacts facts, key_facts(state, handle));
  attestation::KeyAttestation s;
  s.hsm.serial = std::to_string(state.manufacturing.serial);
  s.hsm.model = state.manufacturing.model;
  s.hsm.firmware_version = state.manufacturing.firmware_version;
  s.handle = handle;
  s.label = facts.label;
  s.subject_public_key_info = facts.public_key.spki_der();
  s.attributes = facts.attributes;
  s.attested_at = now;
  return s;
}

Result<Bytes> make_pkc(const HsmState& state, std::uint32_t handle, std::int64_t now) {
  const Manufacturing& m = state.manufacturing;
  if (m.attestation_certificate.empty()) {
    return make_error(Errc::invalid_argument, "this HSM has no attestation key");
  }
  RPED_TRY_ASSIGN(const attestation::KeyAttestation statement,
                  attestation_statement(state, handle, now));
  RPED_TRY_ASSIGN(const Bytes der, attestation::encode_statement(statement));
  RPED_TRY_ASSIGN(const crypto::EcKeyPair key,
                  crypto::EcKeyPair::from_private(crypto::Curve::p521,
                                                  m.attestation_private.reveal()));
  RPED_TRY_ASSIGN(const crypto::Certificate cert,
                  crypto::Certificate::from_der(m.attestation_certificate));
  RPED_TRY_ASSIGN(const crypto::Certificate hoc, crypto::Certificate::from_der(m.hoc_certificate));
  const std::vector<crypto::Certificate> chain{hoc};
  return sign_pkc(der, key, cert, chain);
}

CommandResult pkc_get(Hsm& hsm, std::uint32_t handle, const std::string& output_file,
                      Console& out) {
  if (output_file.empty()) {
    return fail(ResultCode::arguments_bad, "give the output file with -outputfile");
  }
  auto pkc = make_pkc(hsm.snapshot(), handle, unix_now());
  if (!pkc.ok()) {
    return fail(pkc.error().code == Errc::not_found ? ResultCode::arguments_bad
                                                    : ResultCode::device_error,
                pkc.error().message);
  }
  // The emulator writes the file itself; a relative name is taken relative to
  // its state directory (it cannot know the operator's working directory).
  std::filesystem::path file(output_file);
  if (file.is_relative()) {
    file = hsm.state_directory() / file;
  }
  const Bytes& der = pkc.value();
  if (auto written = config::write_file_atomically(
          file, std::string_view(reinterpret_cast<const char*>(der.data()), der.size()));
      !written.ok()) {
    return fail(ResultCode::device_error, written.error().message);
  }
  out.line("        PKC for handle " + std::to_string(handle) + " written to " + file.string() +
           " (" + std::to_string(der.size()) + " bytes, DER CMS SignedData)");
  return {};
}

CommandResult key_generate(Hsm& hsm, const std::string& label, std::uint16_t key_usage,
                           bool extractable, Console& out) {
  if (label.size() > attestation::kMaxLabelChars) {
    return fail(ResultCode::arguments_bad, "a key label has at most 32 characters");
  }
  for (const char c : label) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
      return fail(ResultCode::arguments_bad, "a key label has no control characters");
    }
  }
  auto key = crypto::EcKeyPair::generate();
  auto scalar = key.ok() ? key.value().export_private_scalar()
                         : Result<SecretBytes>(key.error());
  if (!scalar.ok()) {
    return fail(ResultCode::device_error, "key generation failed: " + scalar.error().message);
  }
  std::uint32_t handle = 0;
  auto saved = hsm.update_state([&](HsmState& s) -> Result<void> {
    if (s.objects.size() >= kMaxKeyObjects) {
      return make_error(Errc::busy, "the partition holds 64 key objects, the emulator's limit");
    }
    handle = s.next_handle++;
    s.objects.push_back(KeyObject{handle, label, key_usage, extractable,
                                  std::move(scalar).value(), unix_now()});
    return {};
  });
  if (!saved.ok()) {
    return fail(ResultCode::device_error, saved.error().message);
  }
  out.line("        Generated P-521 key pair, handle " + std::to_string(handle) + " (" +
           attestation::key_usage_text(key_usage) + (extractable ? ", extractable" : "") + ")");
  return {};
}

CommandResult key_list(Hsm& hsm, Console& out) {
  const HsmState s = hsm.snapshot();
  out.line("        handle  label                             usage");
  const auto row = [&](std::uint32_t handle, const std::string& label, std::uint16_t usage,
                       bool extractable) {
    std::string line = "        " + std::to_string(handle);
    line.resize(16, ' ');
    line += label;
    line.resize(50, ' ');
    line += attestation::key_usage_text(usage) + (extractable ? " (extractable)" : "");
    out.line(line);
  };
  row(kStaticKeyHandle, "HSM static key", attestation::kKeyAgreement, false);
  for (const KeyObject& o : s.objects) {
    row(o.handle, o.label, o.key_usage, o.extractable);
  }
  return {};
}

}  // namespace rped::hsmsim
