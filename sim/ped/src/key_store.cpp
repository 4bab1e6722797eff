#include "rped/pedsim/key_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "pin_kek.h"
#include "rped/crypto/ec.h"
#include "rped/crypto/symmetric.h"
#include "rped/pedsim/constants.h"
#include "rped/pedsim/shamir.h"

namespace rped::pedsim {

namespace {

using Json = nlohmann::ordered_json;

constexpr std::string_view kPinKdfName = "PBKDF2-HMAC-SHA512";
// AES-KWP output: the padded plaintext plus the 8-byte integrity block (SP 800-38F §6.3).
constexpr std::size_t kMaxWrappedBytes = ped::kMaxSecretBytes + 16;

Error file_error(std::string what) {
  return make_error(Errc::invalid_encoding, std::move(what));
}

Result<void> check_pin_digits(const SecretBytes& pin) {
  const auto digits = pin.reveal();
  if (digits.empty()) {
    return {};  // no PIN
  }
  const bool all_digits = std::all_of(digits.begin(), digits.end(),
                                      [](std::uint8_t c) { return c >= '0' && c <= '9'; });
  if (!all_digits || digits.size() < kMinPinDigits || digits.size() > kMaxPinDigits ||
      digits.front() == '0') {
    return make_error(Errc::invalid_argument,
                      "a PED PIN is 4 to 48 digits and does not start with 0");
  }
  return {};
}

Result<void> check_contents(const KeyContents& c) {
  if (c.type == ped::KeyType::blank) {
    return make_error(Errc::invalid_argument, "a blank key holds nothing to seal");
  }
  if (c.keyset_id.size() != ped::kKeysetIdBytes) {
    return make_error(Errc::invalid_length, "a keyset id is 16 bytes");
  }
  if (c.m < 1 || c.m > c.n || c.n > ped::kMaxQuorum || c.split_index < 1 || c.split_index > c.n) {
    return make_error(Errc::invalid_argument, "split " + std::to_string(c.split_index) + " of " +
                                                  std::to_string(c.n) + " with M " +
                                                  std::to_string(c.m) + " is out of range");
  }
  if (c.split.empty() || c.split.size() > ped::kMaxSecretBytes) {
    return make_error(Errc::invalid_length, "a split is 1 to 1024 bytes");
  }
  if ((c.type == ped::KeyType::orange) != c.rpk.has_value()) {
    return make_error(Errc::invalid_argument, "orange keys, and only they, carry the RPK");
  }
  if (c.label.size() > kMaxLabelChars) {
    return make_error(Errc::invalid_length, "a key label is at most 64 characters");
  }
  if (c.rpk) {
    if (c.rpk->rpk_private.size() != crypto::kP521FieldBytes) {
      return make_error(Errc::invalid_length, "the RPK private scalar is 66 bytes");
    }
    if (c.rpk->rpk_certificate.empty() ||
        c.rpk->rpk_certificate.size() > ped::kMaxCertificateBytes) {
      return make_error(Errc::invalid_length, "the RPK certificate is 1 to 4096 bytes");
    }
    if (c.rpk->rpk_serial == 0) {
      return make_error(Errc::invalid_argument, "the RPK serial is not 0");
    }
  }
  return {};
}

// ---------------------------------------------------------------------------
// JSON field readers: every access checks presence, type and range.

Result<const Json*> field(const Json& doc, const char* name) {
  const auto it = doc.find(name);
  if (it == doc.end()) {
    return file_error(std::string("key file has no \"") + name + "\"");
  }
  return &*it;
}

Result<std::string> string_field(const Json& doc, const char* name, std::size_t max_chars) {
  RPED_TRY_ASSIGN(const Json* value, field(doc, name));
  if (!value->is_string()) {
    return file_error(std::string("key file field \"") + name + "\" is not a string");
  }
  std::string text = value->get<std::string>();
  if (text.size() > max_chars) {
    return file_error(std::string("key file field \"") + name + "\" is longer than " +
                      std::to_string(max_chars));
  }
  return text;
}

Result<std::uint64_t> number_field(const Json& doc, const char* name, std::uint64_t min,
                                   std::uint64_t max) {
  RPED_TRY_ASSIGN(const Json* value, field(doc, name));
  if (!value->is_number_unsigned()) {
    return file_error(std::string("key file field \"") + name + "\" is not an unsigned integer");
  }
  const auto number = value->get<std::uint64_t>();
  if (number < min || number > max) {
    return file_error(std::string("key file field \"") + name + "\" = " + std::to_string(number) +
                      " is outside " + std::to_string(min) + " to " + std::to_string(max));
  }
  return number;
}

Result<bool> bool_field(const Json& doc, const char* name) {
  RPED_TRY_ASSIGN(const Json* value, field(doc, name));
  if (!value->is_boolean()) {
    return file_error(std::string("key file field \"") + name + "\" is not true or false");
  }
  return value->get<bool>();
}

Result<Bytes> hex_field(const Json& doc, const char* name, std::size_t min_bytes,
                        std::size_t max_bytes) {
  RPED_TRY_ASSIGN(const std::string text, string_field(doc, name, 2 * max_bytes));
  auto bytes = from_hex(text);
  if (!bytes.ok()) {
    return file_error(std::string("key file field \"") + name + "\" is not hex");
  }
  if (bytes->size() < min_bytes) {
    return file_error(std::string("key file field \"") + name + "\" is shorter than " +
                      std::to_string(min_bytes) + " bytes");
  }
  return std::move(bytes).value();
}

Result<void> write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t written = ::write(fd, text.data(), text.size());
    if (written < 0) {
      if (errno == EINTR) {
        continue;
      }
      return make_error(Errc::internal, std::string("writing a key file: ") + std::strerror(errno));
    }
    text.remove_prefix(static_cast<std::size_t>(written));
  }
  return {};
}

}  // namespace

// ---------------------------------------------------------------------------
// Sealing

Result<std::string> new_key_serial() {
  Bytes serial(kKeySerialBytes);
  RPED_TRY(crypto::random_bytes(serial));
  return to_hex(serial);
}

Result<PedKeyRecord> seal_key(const KeyContents& contents, const SecretBytes& pin,
                              std::string key_serial) {
  RPED_TRY(check_contents(contents));
  RPED_TRY(check_pin_digits(pin));
  if (key_serial.empty()) {
    return make_error(Errc::invalid_argument, "a PED key has a serial");
  }
  PedKeyRecord record;
  record.serial = std::move(key_serial);
  record.label = contents.label;
  record.type = contents.type;
  record.keyset_id = contents.keyset_id;
  record.m = contents.m;
  record.n = contents.n;
  record.split_index = contents.split_index;
  record.has_pin = !pin.empty();
  record.pin_salt.resize(kPinSaltBytes);
  RPED_TRY(crypto::random_bytes(record.pin_salt));
  record.pin_kdf_iterations = kPinKdfIterations;
  RPED_TRY_ASSIGN(const auto kek,
                  derive_pin_kek(pin.reveal(), record.pin_salt, record.pin_kdf_iterations));
  RPED_TRY_ASSIGN(record.wrapped_split,
                  crypto::aes_kwp_wrap(kek.reveal(), contents.split.reveal()));
  if (contents.rpk) {
    record.hsm_serial = contents.rpk->hsm_serial;
    record.rpk_serial = contents.rpk->rpk_serial;
    RPED_TRY_ASSIGN(record.wrapped_rpk_private,
                    crypto::aes_kwp_wrap(kek.reveal(), contents.rpk->rpk_private.reveal()));
    record.rpk_certificate = contents.rpk->rpk_certificate;
  }
  return record;
}

Result<UnsealedKey> unseal_key(const PedKeyRecord& record, const SecretBytes& pin) {
  if (record.is_blank()) {
    return make_error(Errc::invalid_argument, "a blank key holds no secret");
  }
  RPED_TRY_ASSIGN(const auto kek,
                  derive_pin_kek(pin.reveal(), record.pin_salt, record.pin_kdf_iterations));
  UnsealedKey key;
  // SP 800-38F §6.3: the unwrap checks the integrity block; a wrong PIN gives
  // a wrong KEK, so this check is the PIN verifier.
  RPED_TRY_ASSIGN(key.split, crypto::aes_kwp_unwrap(kek.reveal(), record.wrapped_split));
  if (record.type == ped::KeyType::orange) {
    RPED_TRY_ASSIGN(key.rpk_private,
                    crypto::aes_kwp_unwrap(kek.reveal(), record.wrapped_rpk_private));
    if (key.rpk_private.size() != crypto::kP521FieldBytes) {
      return make_error(Errc::unwrap_failed, "the RPK private scalar on the key is not 66 bytes");
    }
  }
  return key;
}

Result<PedKeyRecord> blank_key_record(std::string label) {
  PedKeyRecord record;
  RPED_TRY_ASSIGN(record.serial, new_key_serial());
  record.label = std::move(label);
  return record;
}

PedKeyRecord duplicate_key_record(const PedKeyRecord& original, std::string target_serial) {
  PedKeyRecord copy = original;
  copy.serial = std::move(target_serial);
  return copy;
}

std::string default_label(ped::KeyType type, std::uint8_t split_index, std::uint8_t n) {
  return std::string(ped::key_type_holder(type)) + " " + std::to_string(split_index) + " of " +
         std::to_string(n);
}

// ---------------------------------------------------------------------------
// JSON

std::string key_record_to_json(const PedKeyRecord& r) {
  Json doc;
  doc["format"] = kKeyFileFormat;
  doc["serial"] = r.serial;
  doc["label"] = r.label;
  doc["type"] = ped::key_type_name(r.type);
  if (!r.is_blank()) {
    doc["keyset_id"] = to_hex(r.keyset_id);
    doc["m"] = r.m;
    doc["n"] = r.n;
    doc["split_index"] = r.split_index;
    doc["has_pin"] = r.has_pin;
    doc["pin_kdf"] = Json{{"algorithm", kPinKdfName},
                          {"iterations", r.pin_kdf_iterations},
                          {"salt", to_hex(r.pin_salt)}};
    doc["wrapped_split"] = to_hex(r.wrapped_split);
  }
  if (r.type == ped::KeyType::orange) {
    doc["hsm_serial"] = r.hsm_serial;
    doc["rpk_serial"] = r.rpk_serial;
    doc["wrapped_rpk_private"] = to_hex(r.wrapped_rpk_private);
    doc["rpk_certificate"] = to_hex(r.rpk_certificate);
  }
  return doc.dump(2);
}

Result<PedKeyRecord> parse_key_record(std::string_view json) {
  if (json.size() > kMaxKeyFileBytes) {
    return file_error("key file is larger than " + std::to_string(kMaxKeyFileBytes) + " bytes");
  }
  const Json doc = Json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return file_error("key file is not a JSON object");
  }
  RPED_TRY_ASSIGN(const std::string format, string_field(doc, "format", 64));
  if (format != kKeyFileFormat) {
    return file_error("key file format \"" + format + "\" is not " + std::string(kKeyFileFormat));
  }
  PedKeyRecord r;
  RPED_TRY_ASSIGN(r.serial, string_field(doc, "serial", 32));
  if (r.serial.empty()) {
    return file_error("key file has an empty serial");
  }
  RPED_TRY_ASSIGN(r.label, string_field(doc, "label", kMaxLabelChars));
  RPED_TRY_ASSIGN(const std::string type, string_field(doc, "type", 16));
  const auto key_type = ped::key_type_from_name(type);
  if (!key_type) {
    return file_error("key type \"" + type + "\" is not blank, blue, red, orange, white or black");
  }
  r.type = *key_type;
  if (r.is_blank()) {
    return r;
  }
  RPED_TRY_ASSIGN(r.keyset_id,
                  hex_field(doc, "keyset_id", ped::kKeysetIdBytes, ped::kKeysetIdBytes));
  RPED_TRY_ASSIGN(const std::uint64_t n, number_field(doc, "n", 1, ped::kMaxQuorum));
  RPED_TRY_ASSIGN(const std::uint64_t m, number_field(doc, "m", 1, n));
  RPED_TRY_ASSIGN(const std::uint64_t index, number_field(doc, "split_index", 1, n));
  r.n = static_cast<std::uint8_t>(n);
  r.m = static_cast<std::uint8_t>(m);
  r.split_index = static_cast<std::uint8_t>(index);
  RPED_TRY_ASSIGN(r.has_pin, bool_field(doc, "has_pin"));
  RPED_TRY_ASSIGN(const Json* kdf, field(doc, "pin_kdf"));
  if (!kdf->is_object()) {
    return file_error("key file field \"pin_kdf\" is not an object");
  }
  RPED_TRY_ASSIGN(const std::string algorithm, string_field(*kdf, "algorithm", 32));
  if (algorithm != kPinKdfName) {
    return file_error("PIN KDF \"" + algorithm + "\" is not " + std::string(kPinKdfName));
  }
  RPED_TRY_ASSIGN(const std::uint64_t iterations,
                  number_field(*kdf, "iterations", kMinPinKdfIterations, kMaxPinKdfIterations));
  r.pin_kdf_iterations = static_cast<std::uint32_t>(iterations);
  RPED_TRY_ASSIGN(r.pin_salt, hex_field(*kdf, "salt", kPinSaltBytes, 64));
  RPED_TRY_ASSIGN(r.wrapped_split, hex_field(doc, "wrapped_split", 16, kMaxWrappedBytes));
  if (r.type == ped::KeyType::orange) {
    RPED_TRY_ASSIGN(r.hsm_serial, number_field(doc, "hsm_serial", 0, UINT64_MAX));
    RPED_TRY_ASSIGN(r.rpk_serial, number_field(doc, "rpk_serial", 1, UINT64_MAX));
    RPED_TRY_ASSIGN(r.wrapped_rpk_private,
                    hex_field(doc, "wrapped_rpk_private", 16, kMaxWrappedBytes));
    RPED_TRY_ASSIGN(r.rpk_certificate,
                    hex_field(doc, "rpk_certificate", 1, ped::kMaxCertificateBytes));
  }
  return r;
}

Result<PedKeyRecord> load_key_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return make_error(Errc::invalid_argument, "cannot open key file " + file.string());
  }
  std::string text;
  text.resize(kMaxKeyFileBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  auto record = parse_key_record(text);
  if (!record.ok()) {
    return make_error(record.error().code, file.string() + ": " + record.error().message);
  }
  return record;
}

// ---------------------------------------------------------------------------
// The directory

Result<KeyDirectory> KeyDirectory::open(std::filesystem::path directory) {
  std::error_code ec;
  if (!std::filesystem::is_directory(directory, ec)) {
    return make_error(Errc::invalid_argument,
                      "key directory " + directory.string() + " does not exist");
  }
  return KeyDirectory(std::move(directory));
}

Result<void> KeyDirectory::check_key_name(std::string_view name) {
  const bool allowed = std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
  if (name.empty() || name.size() > kMaxKeyNameChars || !allowed || name.front() == '.') {
    return make_error(Errc::invalid_argument,
                      "key name \"" + std::string(name.substr(0, kMaxKeyNameChars)) +
                          "\" is not 1-64 of A-Z a-z 0-9 . _ - (not starting with .)");
  }
  return {};
}

std::filesystem::path KeyDirectory::file_of(std::string_view name) const {
  return directory_ / (std::string(name) + std::string(kKeyFileSuffix));
}

bool KeyDirectory::contains(std::string_view name) const {
  std::error_code ec;
  return check_key_name(name).ok() && std::filesystem::is_regular_file(file_of(name), ec);
}

Result<PedKeyRecord> KeyDirectory::load(std::string_view name) const {
  RPED_TRY(check_key_name(name));
  return load_key_file(file_of(name));
}

Result<void> KeyDirectory::store(std::string_view name, const PedKeyRecord& record) const {
  RPED_TRY(check_key_name(name));
  const std::string text = key_record_to_json(record) + "\n";
  Bytes nonce(4);
  RPED_TRY(crypto::random_bytes(nonce));
  const std::filesystem::path final_path = file_of(name);
  std::string temp_name(".");  // hidden, so names() never lists a half-written key
  temp_name.append(name)
      .append(".tmp-")
      .append(std::to_string(::getpid()))
      .append("-")
      .append(to_hex(nonce));
  const std::filesystem::path temp_path = directory_ / temp_name;
  const int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return make_error(Errc::internal,
                      "cannot create " + temp_path.string() + ": " + std::strerror(errno));
  }
  auto written = write_all(fd, text);
  if (written.ok() && ::fsync(fd) != 0) {
    written =
        make_error(Errc::internal, std::string("fsync of a key file: ") + std::strerror(errno));
  }
  ::close(fd);
  if (written.ok() && ::rename(temp_path.c_str(), final_path.c_str()) != 0) {
    written = make_error(Errc::internal,
                         "cannot rename onto " + final_path.string() + ": " + std::strerror(errno));
  }
  if (!written.ok()) {
    ::unlink(temp_path.c_str());
    return written;
  }
  // The rename is durable once the directory entry is.
  const int dir_fd = ::open(directory_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return {};
}

std::vector<std::string> KeyDirectory::names() const {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(directory_, ec)) {
    const auto& file = entry.path();
    if (file.extension() == kKeyFileSuffix && check_key_name(file.stem().string()).ok()) {
      names.push_back(file.stem().string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

// ---------------------------------------------------------------------------
// Keysets written directly (mint-demo-keys, tests)

Result<WrittenKeyset> write_keyset(const KeyDirectory& directory, const KeysetSpec& spec) {
  WrittenKeyset written;
  written.keyset_id.resize(ped::kKeysetIdBytes);
  RPED_TRY(crypto::random_bytes(written.keyset_id));
  RPED_TRY_ASSIGN(const auto shares, shamir_split(spec.secret, spec.m, spec.n));
  for (const ShamirShare& share : shares) {
    KeyContents contents;
    contents.type = spec.type;
    contents.label = default_label(spec.type, share.x, spec.n);
    contents.keyset_id = written.keyset_id;
    contents.m = spec.m;
    contents.n = spec.n;
    contents.split_index = share.x;
    contents.split = share.y.clone();
    if (spec.rpk) {
      contents.rpk = RpkMaterial{spec.rpk->hsm_serial, spec.rpk->rpk_serial,
                                 spec.rpk->rpk_private.clone(), spec.rpk->rpk_certificate};
    }
    const std::size_t slot = share.x - 1u;
    const std::string pin_text = slot < spec.pins.size() ? spec.pins[slot] : std::string();
    const SecretBytes pin = SecretBytes::copy_of(
        ByteView(reinterpret_cast<const std::uint8_t*>(pin_text.data()), pin_text.size()));
    RPED_TRY_ASSIGN(std::string serial, new_key_serial());
    RPED_TRY_ASSIGN(const PedKeyRecord record, seal_key(contents, pin, std::move(serial)));
    const std::string name = spec.name_prefix + std::to_string(share.x);
    RPED_TRY(directory.store(name, record));
    written.names.push_back(name);
  }
  return written;
}

Result<void> write_blank_key(const KeyDirectory& directory, std::string_view name) {
  RPED_TRY_ASSIGN(const PedKeyRecord record, blank_key_record("blank"));
  return directory.store(name, record);
}

}  // namespace rped::pedsim
