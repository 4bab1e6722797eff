#include "rped/hsmsim/hsm_state.h"

#include <array>
#include <cctype>
#include <string>

#include "rped/channel/limits.h"
#include "rped/crypto/ec.h"
#include "rped/crypto/symmetric.h"
#include "rped/wire.h"
#include "secret_writer.h"

namespace rped::hsmsim {

namespace {

constexpr std::array<std::uint8_t, 8> kMagic{'R', 'P', 'E', 'D', 'H', 'S', 'M', 0};
constexpr std::uint16_t kFormatVersion = 1;
constexpr std::string_view kVerifierLabel = "RPED hsmsim verifier v1";
constexpr std::size_t kMaxText = 256;
constexpr std::size_t kMaxDer = 4096;

enum class Section : std::uint16_t {
  manufacturing = 0x0001,
  hsm = 0x0002,
  partition = 0x0003,
  rpv = 0x0004,
  policies = 0x0005,
  ped = 0x0006,
  attestation = 0x0007,  // the attestation key and certificate (docs/attestation.md)
  key_objects = 0x0008,  // `key generate` objects
  // 0x0100 and up: the audit log.
  audit = 0x0100,  // log secret, `audit config`
};

constexpr std::array<PolicyInfo, 2> kPolicies{{
    {PolicyId::force_user_pin_change, "Force user PIN change after set/reset", 1},
    {PolicyId::allow_remote_ped, "Allow Remote PED usage", 1},
}};

ByteView view(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

Result<std::string> read_text(Reader& r, std::string_view field) {
  RPED_TRY_ASSIGN(const ByteView b, r.vector16(0, kMaxText, field));
  return std::string(b.begin(), b.end());
}

Result<bool> read_bool(Reader& r, std::string_view field) {
  RPED_TRY_ASSIGN(const std::uint8_t v, r.u8(field));
  if (v > 1) {
    return make_error(Errc::invalid_encoding, std::string(field) + " must be 0 or 1");
  }
  return v == 1;
}

Result<Bytes> read_blob(Reader& r, std::size_t min, std::size_t max, std::string_view field) {
  RPED_TRY_ASSIGN(const ByteView b, r.vector16(min, max, field));
  return Bytes(b.begin(), b.end());
}

Result<SecretBytes> read_secret(Reader& r, std::size_t min, std::size_t max,
                                std::string_view field) {
  RPED_TRY_ASSIGN(const ByteView b, r.vector16(min, max, field));
  return SecretBytes::copy_of(b);
}

void write_record(SecretWriter& w, const PedSecretRecord& record) {
  w.u8(record.initialized ? 1 : 0);
  w.vector16(record.salt);
  w.vector16(record.verifier.reveal());
  w.u8(record.m);
  w.u8(record.n);
  w.vector16(record.keyset_id);
  w.u32(record.failed_logins);
  w.u64(static_cast<std::uint64_t>(record.locked_until));
}

Result<PedSecretRecord> read_record(Reader& r) {
  PedSecretRecord record;
  RPED_TRY_ASSIGN(record.initialized, read_bool(r, "initialized"));
  const std::size_t salt = record.initialized ? kVerifierSaltBytes : 0;
  const std::size_t verifier = record.initialized ? kVerifierBytes : 0;
  RPED_TRY_ASSIGN(record.salt, read_blob(r, salt, salt, "salt"));
  RPED_TRY_ASSIGN(record.verifier, read_secret(r, verifier, verifier, "verifier"));
  RPED_TRY_ASSIGN(record.m, r.u8("m"));
  RPED_TRY_ASSIGN(record.n, r.u8("n"));
  RPED_TRY_ASSIGN(record.keyset_id, read_blob(r, 0, ped::kKeysetIdBytes, "keyset_id"));
  RPED_TRY_ASSIGN(record.failed_logins, r.u32("failed_logins"));
  RPED_TRY_ASSIGN(const std::uint64_t locked, r.u64("locked_until"));
  record.locked_until = static_cast<std::int64_t>(locked);
  return record;
}

void write_section(SecretWriter& out, Section tag, SecretWriter body) {
  const SecretBytes bytes = body.take();
  out.u16(static_cast<std::uint16_t>(tag));
  out.u32(static_cast<std::uint32_t>(bytes.size()));
  out.bytes(bytes.reveal());
}

Result<Manufacturing> read_manufacturing(Reader& r) {
  Manufacturing m;
  RPED_TRY_ASSIGN(m.serial, r.u64("serial"));
  RPED_TRY_ASSIGN(m.firmware_version, read_text(r, "firmware_version"));
  RPED_TRY_ASSIGN(m.model, read_text(r, "model"));
  RPED_TRY_ASSIGN(m.hoc_private,
                  read_secret(r, crypto::kP521FieldBytes, crypto::kP521FieldBytes, "hoc_private"));
  RPED_TRY_ASSIGN(m.static_private, read_secret(r, crypto::kP521FieldBytes, crypto::kP521FieldBytes,
                                                "static_private"));
  RPED_TRY_ASSIGN(m.root_certificate, read_blob(r, 1, kMaxDer, "root_certificate"));
  RPED_TRY_ASSIGN(m.hoc_certificate, read_blob(r, 1, kMaxDer, "hoc_certificate"));
  RPED_TRY_ASSIGN(m.static_certificate, read_blob(r, 1, kMaxDer, "static_certificate"));
  if (m.serial == 0) {
    return make_error(Errc::invalid_encoding, "the HSM serial is 0");
  }
  return m;
}

Result<void> read_section(HsmState& state, Section tag, ByteView body) {
  Reader r(body);
  switch (tag) {
    case Section::manufacturing: {
      RPED_TRY_ASSIGN(state.manufacturing, read_manufacturing(r));
      break;
    }
    case Section::hsm: {
      RPED_TRY_ASSIGN(state.initialized, read_bool(r, "initialized"));
      RPED_TRY_ASSIGN(state.label, read_text(r, "label"));
      RPED_TRY_ASSIGN(state.so, read_record(r));
      RPED_TRY_ASSIGN(state.auditor, read_record(r));
      RPED_TRY_ASSIGN(state.hsm_domain, read_record(r));
      break;
    }
    case Section::partition: {
      PartitionRecord& p = state.partition;
      RPED_TRY_ASSIGN(p.created, read_bool(r, "created"));
      RPED_TRY_ASSIGN(p.initialized, read_bool(r, "initialized"));
      RPED_TRY_ASSIGN(p.label, read_text(r, "label"));
      RPED_TRY_ASSIGN(p.partition_so, read_record(r));
      RPED_TRY_ASSIGN(p.crypto_officer, read_record(r));
      RPED_TRY_ASSIGN(p.crypto_user, read_record(r));
      RPED_TRY_ASSIGN(p.domain, read_record(r));
      break;
    }
    case Section::rpv: {
      RpvRecord& v = state.rpv;
      RPED_TRY_ASSIGN(v.initialized, read_bool(r, "rpv initialized"));
      const std::size_t size = v.initialized ? channel::kRpvBytes : 0;
      RPED_TRY_ASSIGN(v.rpv, read_secret(r, size, size, "rpv"));
      RPED_TRY_ASSIGN(v.rpk_serial, r.u64("rpk_serial"));
      RPED_TRY_ASSIGN(v.m, r.u8("rpv m"));
      RPED_TRY_ASSIGN(v.n, r.u8("rpv n"));
      RPED_TRY_ASSIGN(const std::uint64_t created, r.u64("created_at"));
      v.created_at = static_cast<std::int64_t>(created);
      break;
    }
    case Section::policies: {
      RPED_TRY_ASSIGN(const std::uint16_t count, r.u16("policy count"));
      for (std::uint16_t i = 0; i < count; ++i) {
        RPED_TRY_ASSIGN(const std::uint16_t id, r.u16("policy id"));
        RPED_TRY_ASSIGN(const std::uint32_t value, r.u32("policy value"));
        state.policies[id] = value;
      }
      break;
    }
    case Section::ped: {
      RPED_TRY_ASSIGN(state.ped.host, read_text(r, "ped host"));
      RPED_TRY_ASSIGN(state.ped.port, r.u16("ped port"));
      break;
    }
    case Section::attestation: {
      Manufacturing& m = state.manufacturing;
      RPED_TRY_ASSIGN(m.attestation_private, read_secret(r, crypto::kP521FieldBytes,
                                                         crypto::kP521FieldBytes,
                                                         "attestation_private"));
      RPED_TRY_ASSIGN(m.attestation_certificate, read_blob(r, 1, kMaxDer, "attestation_certificate"));
      break;
    }
    case Section::key_objects: {
      RPED_TRY_ASSIGN(state.next_handle, r.u32("next handle"));
      RPED_TRY_ASSIGN(const std::uint16_t count, r.u16("object count"));
      if (count > kMaxKeyObjects) {
        return make_error(Errc::invalid_encoding, "more than 64 key objects");
      }
      for (std::uint16_t i = 0; i < count; ++i) {
        KeyObject o;
        RPED_TRY_ASSIGN(o.handle, r.u32("handle"));
        RPED_TRY_ASSIGN(o.label, read_text(r, "key label"));
        RPED_TRY_ASSIGN(o.key_usage, r.u16("key usage"));
        RPED_TRY_ASSIGN(o.extractable, read_bool(r, "extractable"));
        RPED_TRY_ASSIGN(o.private_scalar, read_secret(r, crypto::kP521FieldBytes,
                                                      crypto::kP521FieldBytes, "key private"));
        RPED_TRY_ASSIGN(const std::uint64_t created, r.u64("created_at"));
        o.created_at = static_cast<std::int64_t>(created);
        if (o.handle < kFirstGeneratedHandle || o.handle >= state.next_handle) {
          return make_error(Errc::invalid_encoding, "key object handle out of range");
        }
        state.objects.push_back(std::move(o));
      }
      break;
    }
    case Section::audit: {
      AuditSettings& a = state.audit;
      RPED_TRY_ASSIGN(a.secret, read_secret(r, 32, 32, "audit secret"));
      for (std::uint8_t& c : a.categories) {
        RPED_TRY_ASSIGN(c, r.u8("audit category"));
        if (c > (kAuditOnSuccess | kAuditOnFailure)) {
          return make_error(Errc::invalid_encoding, "audit category setting is not 0 to 3");
        }
      }
      RPED_TRY_ASSIGN(a.rotation_interval_s, r.u32("audit rotation interval"));
      RPED_TRY_ASSIGN(a.rotation_bytes, r.u64("audit rotation bytes"));
      break;
    }
    default:
      return make_error(Errc::invalid_encoding, "unknown section " +
                                                    std::to_string(static_cast<unsigned>(tag)) +
                                                    " (a state file from a newer hsmsim?)");
  }
  return r.expect_end("state section " + std::to_string(static_cast<unsigned>(tag)));
}

}  // namespace

std::string_view role_short_name(Role role) noexcept {
  switch (role) {
    case Role::so:
      return "so";
    case Role::auditor:
      return "au";
    case Role::partition_so:
      return "po";
    case Role::crypto_officer:
      return "co";
    case Role::crypto_user:
      return "cu";
    default:
      return "unknown";
  }
}

std::string_view role_long_name(Role role) noexcept {
  switch (role) {
    case Role::so:
      return "HSM SO";
    case Role::auditor:
      return "Auditor";
    case Role::partition_so:
      return "Partition SO";
    case Role::crypto_officer:
      return "Crypto Officer";
    case Role::crypto_user:
      return "Crypto User";
    default:
      return "unknown";
  }
}

std::optional<Role> role_from_name(std::string_view name) noexcept {
  std::string lower;
  for (const char c : name) {
    lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  for (const Role role :
       {Role::so, Role::auditor, Role::partition_so, Role::crypto_officer, Role::crypto_user}) {
    if (role_short_name(role) == lower) {
      return role;
    }
  }
  return std::nullopt;
}

ped::KeyType role_key_type(Role role) noexcept {
  switch (role) {
    case Role::so:
    case Role::partition_so:
      return ped::KeyType::blue;
    case Role::auditor:
      return ped::KeyType::white;
    case Role::crypto_officer:
    case Role::crypto_user:
    default:
      return ped::KeyType::black;
  }
}

std::uint32_t role_login_limit(Role role) noexcept {
  return role == Role::so ? 3 : 10;
}

std::span<const PolicyInfo> known_policies() noexcept {
  return kPolicies;
}

Result<PedSecretRecord> PedSecretRecord::create(std::string_view purpose, ByteView secret,
                                                std::uint8_t m, std::uint8_t n,
                                                ByteView keyset_id) {
  if (secret.empty()) {
    return make_error(Errc::invalid_argument, "an empty PED secret cannot be enrolled");
  }
  PedSecretRecord record;
  record.salt.resize(kVerifierSaltBytes);
  RPED_TRY(crypto::random_bytes(record.salt));
  RPED_TRY_ASSIGN(const crypto::HmacSha512 mac, crypto::HmacSha512::create(record.salt));
  const std::uint8_t separator = 0;
  RPED_TRY_ASSIGN(const crypto::HmacSha512Tag tag, mac.compute({view(kVerifierLabel), view(purpose),
                                                                ByteView(&separator, 1), secret}));
  record.verifier = SecretBytes::copy_of(tag);
  record.initialized = true;
  record.m = m;
  record.n = n;
  record.keyset_id.assign(keyset_id.begin(), keyset_id.end());
  return record;
}

bool PedSecretRecord::verifies(std::string_view purpose, ByteView secret) const {
  if (!initialized || salt.size() != kVerifierSaltBytes || verifier.size() != kVerifierBytes) {
    return false;
  }
  auto mac = crypto::HmacSha512::create(salt);
  if (!mac.ok()) {
    return false;
  }
  const std::uint8_t separator = 0;
  // HmacSha512::verify compares in constant time.
  return mac
      ->verify({view(kVerifierLabel), view(purpose), ByteView(&separator, 1), secret},
               verifier.reveal())
      .ok();
}

PedSecretRecord PedSecretRecord::clone() const {
  PedSecretRecord c;
  c.initialized = initialized;
  c.salt = salt;
  c.verifier = verifier.clone();
  c.m = m;
  c.n = n;
  c.keyset_id = keyset_id;
  c.failed_logins = failed_logins;
  c.locked_until = locked_until;
  return c;
}

std::uint32_t HsmState::policy(PolicyId id) const {
  if (const auto it = policies.find(static_cast<std::uint16_t>(id)); it != policies.end()) {
    return it->second;
  }
  for (const PolicyInfo& info : kPolicies) {
    if (info.id == id) {
      return info.default_value;
    }
  }
  return 0;
}

PedSecretRecord& HsmState::role_record(Role role) {
  return const_cast<PedSecretRecord&>(static_cast<const HsmState&>(*this).role_record(role));
}

const PedSecretRecord& HsmState::role_record(Role role) const {
  switch (role) {
    case Role::so:
      return so;
    case Role::auditor:
      return auditor;
    case Role::partition_so:
      return partition.partition_so;
    case Role::crypto_officer:
      return partition.crypto_officer;
    case Role::crypto_user:
    default:
      return partition.crypto_user;
  }
}

void HsmState::zeroize() {
  initialized = false;
  label.clear();
  so = {};
  hsm_domain = {};
  partition = {};
  objects.clear();  // partition objects; handles are not reused
}

void HsmState::factory_reset() {
  zeroize();
  auditor = {};
  rpv = {};
  policies.clear();
  ped = {};
  // The log secret stays (the chain goes on); the configuration returns to its defaults.
  SecretBytes secret = std::move(audit.secret);
  audit = {};
  audit.secret = std::move(secret);
}

void HsmState::zeroize_partition() {
  const bool was_created = partition.created;
  partition = {};
  partition.created = was_created;
}

HsmState HsmState::clone() const {
  HsmState c;
  c.manufacturing.serial = manufacturing.serial;
  c.manufacturing.firmware_version = manufacturing.firmware_version;
  c.manufacturing.model = manufacturing.model;
  c.manufacturing.hoc_private = manufacturing.hoc_private.clone();
  c.manufacturing.static_private = manufacturing.static_private.clone();
  c.manufacturing.root_certificate = manufacturing.root_certificate;
  c.manufacturing.hoc_certificate = manufacturing.hoc_certificate;
  c.manufacturing.static_certificate = manufacturing.static_certificate;
  c.manufacturing.attestation_private = manufacturing.attestation_private.clone();
  c.manufacturing.attestation_certificate = manufacturing.attestation_certificate;
  for (const KeyObject& o : objects) {
    c.objects.push_back(KeyObject{o.handle, o.label, o.key_usage, o.extractable,
                                  o.private_scalar.clone(), o.created_at});
  }
  c.next_handle = next_handle;
  c.initialized = initialized;
  c.label = label;
  c.so = so.clone();
  c.auditor = auditor.clone();
  c.hsm_domain = hsm_domain.clone();
  c.partition.created = partition.created;
  c.partition.initialized = partition.initialized;
  c.partition.label = partition.label;
  c.partition.partition_so = partition.partition_so.clone();
  c.partition.crypto_officer = partition.crypto_officer.clone();
  c.partition.crypto_user = partition.crypto_user.clone();
  c.partition.domain = partition.domain.clone();
  c.rpv.initialized = rpv.initialized;
  c.rpv.rpv = rpv.rpv.clone();
  c.rpv.rpk_serial = rpv.rpk_serial;
  c.rpv.m = rpv.m;
  c.rpv.n = rpv.n;
  c.rpv.created_at = rpv.created_at;
  c.policies = policies;
  c.ped = ped;
  c.audit.secret = audit.secret.clone();
  c.audit.categories = audit.categories;
  c.audit.rotation_interval_s = audit.rotation_interval_s;
  c.audit.rotation_bytes = audit.rotation_bytes;
  return c;
}

Result<SecretBytes> HsmState::serialize() const {
  const Manufacturing& m = manufacturing;
  if (m.serial == 0 || m.hoc_private.size() != crypto::kP521FieldBytes ||
      m.static_private.size() != crypto::kP521FieldBytes) {
    return make_error(Errc::invalid_argument, "the HSM state has no manufacturing data");
  }
  SecretWriter out;
  out.bytes(kMagic);
  out.u16(kFormatVersion);
  {
    SecretWriter w;
    w.u64(m.serial);
    w.text(m.firmware_version, kMaxText);
    w.text(m.model, kMaxText);
    w.vector16(m.hoc_private.reveal());
    w.vector16(m.static_private.reveal());
    w.vector16(m.root_certificate);
    w.vector16(m.hoc_certificate);
    w.vector16(m.static_certificate);
    write_section(out, Section::manufacturing, std::move(w));
  }
  {
    SecretWriter w;
    w.u8(initialized ? 1 : 0);
    w.text(label, kMaxText);
    write_record(w, so);
    write_record(w, auditor);
    write_record(w, hsm_domain);
    write_section(out, Section::hsm, std::move(w));
  }
  {
    SecretWriter w;
    w.u8(partition.created ? 1 : 0);
    w.u8(partition.initialized ? 1 : 0);
    w.text(partition.label, kMaxText);
    write_record(w, partition.partition_so);
    write_record(w, partition.crypto_officer);
    write_record(w, partition.crypto_user);
    write_record(w, partition.domain);
    write_section(out, Section::partition, std::move(w));
  }
  {
    SecretWriter w;
    w.u8(rpv.initialized ? 1 : 0);
    w.vector16(rpv.initialized ? rpv.rpv.reveal() : ByteView{});
    w.u64(rpv.rpk_serial);
    w.u8(rpv.m);
    w.u8(rpv.n);
    w.u64(static_cast<std::uint64_t>(rpv.created_at));
    write_section(out, Section::rpv, std::move(w));
  }
  {
    SecretWriter w;
    w.u16(static_cast<std::uint16_t>(policies.size()));
    for (const auto& [id, value] : policies) {
      w.u16(id);
      w.u32(value);
    }
    write_section(out, Section::policies, std::move(w));
  }
  {
    SecretWriter w;
    w.text(ped.host, kMaxText);
    w.u16(ped.port);
    write_section(out, Section::ped, std::move(w));
  }
  if (!m.attestation_certificate.empty()) {
    SecretWriter w;
    w.vector16(m.attestation_private.reveal());
    w.vector16(m.attestation_certificate);
    write_section(out, Section::attestation, std::move(w));
  }
  {
    SecretWriter w;
    w.u32(next_handle);
    w.u16(static_cast<std::uint16_t>(objects.size()));
    for (const KeyObject& o : objects) {
      w.u32(o.handle);
      w.text(o.label, kMaxText);
      w.u16(o.key_usage);
      w.u8(o.extractable ? 1 : 0);
      w.vector16(o.private_scalar.reveal());
      w.u64(static_cast<std::uint64_t>(o.created_at));
    }
    write_section(out, Section::key_objects, std::move(w));
  }
  if (audit.secret.size() == 32) {
    SecretWriter w;
    w.vector16(audit.secret.reveal());
    for (const std::uint8_t c : audit.categories) {
      w.u8(c);
    }
    w.u32(audit.rotation_interval_s);
    w.u64(audit.rotation_bytes);
    write_section(out, Section::audit, std::move(w));
  }
  return out.take();
}

Result<HsmState> HsmState::parse(ByteView file) {
  Reader r(file);
  RPED_TRY_ASSIGN(const ByteView magic, r.bytes(kMagic.size(), "magic"));
  if (!std::equal(magic.begin(), magic.end(), kMagic.begin())) {
    return make_error(Errc::invalid_encoding, "not an hsmsim state file (bad magic)");
  }
  RPED_TRY_ASSIGN(const std::uint16_t version, r.u16("format version"));
  if (version != kFormatVersion) {
    return make_error(Errc::invalid_encoding, "state format version " + std::to_string(version) +
                                                  " is not supported; this hsmsim reads version 1");
  }
  HsmState state;
  bool seen_manufacturing = false;
  std::uint32_t seen = 0;
  std::uint32_t seen_audit = 0;
  while (r.remaining() > 0) {
    RPED_TRY_ASSIGN(const std::uint16_t tag, r.u16("section tag"));
    RPED_TRY_ASSIGN(const std::uint32_t length, r.u32("section length"));
    RPED_TRY_ASSIGN(const ByteView body, r.bytes(length, "section body"));
    // Section tags are 0x0001.. and 0x0100..: one bit each for the first 32 of both ranges.
    if (tag < 32 || (tag >= 0x0100 && tag < 0x0100 + 32)) {
      const std::uint32_t bit = tag < 32 ? 1U << tag : 1U << (tag - 0x0100);
      std::uint32_t& seen_set = tag < 32 ? seen : seen_audit;
      if ((seen_set & bit) != 0) {
        return make_error(Errc::invalid_encoding,
                          "section " + std::to_string(tag) + " appears twice");
      }
      seen_set |= bit;
    }
    if (auto read = read_section(state, static_cast<Section>(tag), body); !read.ok()) {
      return make_error(Errc::invalid_encoding, "state file: " + read.error().message);
    }
    seen_manufacturing =
        seen_manufacturing || tag == static_cast<std::uint16_t>(Section::manufacturing);
  }
  if (!seen_manufacturing) {
    return make_error(Errc::invalid_encoding, "state file has no manufacturing section");
  }
  return state;
}

}  // namespace rped::hsmsim
