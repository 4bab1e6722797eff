#include "key_commands.h"

#include <string>
#include <vector>

#include "rped/crypto/symmetric.h"
#include "rped/crypto/x509.h"
#include "rped/pedsim/key_store.h"

namespace rped::pedsim {

namespace {

constexpr std::size_t kDemoSecretBytes = 32;
constexpr int kDemoBlankKeys = 8;

struct DemoKeyset {
  ped::KeyType type;
  std::string prefix;
  std::uint8_t m;
  std::uint8_t n;
  std::vector<std::string> pins;
};

// PINs are printed on purpose: these are demo keys.
const std::vector<DemoKeyset>& demo_keysets() {
  static const std::vector<DemoKeyset> sets = {
      {ped::KeyType::blue, "blue", 3, 5, {"1111", "2222", "3333", "4444", "5555"}},
      {ped::KeyType::black, "black", 1, 1, {"1234"}},
      {ped::KeyType::white, "white", 1, 1, {}},
      {ped::KeyType::red, "red", 1, 1, {}},
  };
  return sets;
}

std::vector<std::string> demo_names() {
  std::vector<std::string> names;
  for (const DemoKeyset& set : demo_keysets()) {
    for (int i = 1; i <= set.n; ++i) {
      names.push_back(set.prefix + std::to_string(i));
    }
  }
  for (int i = 1; i <= kDemoBlankKeys; ++i) {
    names.push_back("blank" + std::to_string(i));
  }
  return names;
}

}  // namespace

Result<void> mint_demo_keys(const std::filesystem::path& directory, std::FILE* out) {
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  if (ec) {
    return make_error(Errc::invalid_argument,
                      "cannot create key directory " + directory.string() + ": " + ec.message());
  }
  std::filesystem::permissions(directory, std::filesystem::perms::owner_all, ec);
  RPED_TRY_ASSIGN(const KeyDirectory keys, KeyDirectory::open(directory));
  for (const std::string& name : demo_names()) {
    if (keys.contains(name)) {
      return make_error(Errc::invalid_argument,
                        keys.file_of(name).string() +
                            " exists; mint-demo-keys writes into an empty key directory");
    }
  }
  std::fprintf(out, "Demo PED keys in %s:\n", directory.c_str());
  for (const DemoKeyset& set : demo_keysets()) {
    KeysetSpec spec;
    spec.type = set.type;
    spec.name_prefix = set.prefix;
    spec.m = set.m;
    spec.n = set.n;
    spec.pins = set.pins;
    RPED_TRY_ASSIGN(spec.secret, crypto::random_secret(kDemoSecretBytes));
    RPED_TRY_ASSIGN(const WrittenKeyset written, write_keyset(keys, spec));
    for (std::size_t i = 0; i < written.names.size(); ++i) {
      const std::string pin = i < set.pins.size() ? "PIN " + set.pins[i] : "no PIN";
      std::fprintf(out, "  %-8s %-6s %-20s split %zu of %u (M = %u)  %s  keyset %s\n",
                   written.names[i].c_str(), std::string(ped::key_type_name(set.type)).c_str(),
                   std::string(ped::key_type_holder(set.type)).c_str(), i + 1,
                   static_cast<unsigned>(set.n), static_cast<unsigned>(set.m), pin.c_str(),
                   to_hex(written.keyset_id).substr(0, 8).c_str());
    }
  }
  for (int i = 1; i <= kDemoBlankKeys; ++i) {
    const std::string name = "blank" + std::to_string(i);
    RPED_TRY(write_blank_key(keys, name));
    std::fprintf(out, "  %-8s blank\n", name.c_str());
  }
  return {};
}

Result<void> show_key(const std::filesystem::path& file, std::FILE* out) {
  RPED_TRY_ASSIGN(const PedKeyRecord record, load_key_file(file));
  std::fprintf(out, "file:        %s\n", file.c_str());
  std::fprintf(out, "serial:      %s\n", record.serial.c_str());
  std::fprintf(out, "label:       %s\n", record.label.c_str());
  std::fprintf(out, "type:        %s (%s)\n", std::string(ped::key_type_name(record.type)).c_str(),
               std::string(ped::key_type_holder(record.type)).c_str());
  if (record.is_blank()) {
    return {};
  }
  std::fprintf(out, "keyset:      %s\n", to_hex(record.keyset_id).c_str());
  std::fprintf(out, "split:       %u of %u (M = %u)\n", static_cast<unsigned>(record.split_index),
               static_cast<unsigned>(record.n), static_cast<unsigned>(record.m));
  std::fprintf(out, "PIN:         %s\n", record.has_pin ? "yes" : "no");
  if (record.type == ped::KeyType::orange) {
    std::fprintf(out, "HSM serial:  %llu\n", static_cast<unsigned long long>(record.hsm_serial));
    std::fprintf(out, "RPK serial:  %llu\n", static_cast<unsigned long long>(record.rpk_serial));
    if (auto certificate = crypto::Certificate::from_der(record.rpk_certificate);
        certificate.ok()) {
      std::fprintf(out, "RPK cert:    %s (SHA-256 %s)\n", certificate->subject().c_str(),
                   to_hex(certificate->sha256_fingerprint()).c_str());
    } else {
      std::fprintf(out, "RPK cert:    %zu bytes, does not parse\n", record.rpk_certificate.size());
    }
  }
  return {};
}

}  // namespace rped::pedsim
