#include "appliances.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <system_error>

#include <nlohmann/json.hpp>

#include "rped/config/atomic_file.h"
#include "rped/config/paths.h"
#include "rped/config/pedserver_options.h"
#include "rped/crypto/ec.h"
#include "rped/crypto/symmetric.h"
#include "version.h"

namespace rped::pedserver {
namespace {

namespace opt = config::pedserver::opt;

constexpr std::size_t kMaxCertificateFileBytes = 64 * 1024;
constexpr std::int64_t kSecondsPerDay = 24 * 60 * 60;

std::filesystem::path registry_path(const std::filesystem::path& state_dir) {
  return state_dir / "appliances.json";
}

Result<void> check_name(const std::string& name) {
  const bool valid_chars = std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
  if (name.empty() || name.size() > kMaxApplianceNameChars || !valid_chars || name.front() == '.') {
    return make_error(Errc::invalid_argument,
                      "-name '" + name +
                          "': an appliance name is 1 to 64 of A-Z a-z 0-9 . _ - "
                          "(not starting with '.')");
  }
  return {};
}

Result<std::string> read_text_file(const std::filesystem::path& file, std::size_t limit) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return make_error(Errc::invalid_argument, "cannot read " + file.string());
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > limit) {
    return make_error(Errc::invalid_argument,
                      file.string() + " is too large for a certificate file");
  }
  return text.str();
}

Result<void> save_appliances(const std::filesystem::path& state_dir,
                             const std::vector<Appliance>& appliances) {
  nlohmann::json list = nlohmann::json::array();
  for (const Appliance& a : appliances) {
    list.push_back({{"name", a.name},
                    {"host", a.host},
                    {"port", a.port},
                    {"fingerprint_sha256", a.fingerprint}});
  }
  const nlohmann::json document = {{"format", "pedserver-appliances/1"}, {"appliances", list}};
  return config::write_file_atomically(registry_path(state_dir), document.dump(2) + "\n");
}

// Asks on the terminal; without one, the caller says to add -force.
bool confirmed(const std::string& question) {
  if (::isatty(STDIN_FILENO) == 0) {
    return false;
  }
  std::printf("%s (y/n) ", question.c_str());
  std::fflush(stdout);
  std::string answer;
  std::getline(std::cin, answer);
  return answer == "y" || answer == "Y" || answer == "yes";
}

int fail(const std::string& message) {
  std::fprintf(stderr, "pedserver: %s\n", message.c_str());
  return kExitFailure;
}

struct X509Deleter {
  void operator()(X509* x) const noexcept { X509_free(x); }
};
struct BioDeleter {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  return length > 0 ? std::string(data, static_cast<std::size_t>(length)) : std::string();
}

bool add_extension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  X509_EXTENSION* const extension = X509V3_EXT_nconf_nid(nullptr, ctx, nid, value);
  if (extension == nullptr) {
    return false;
  }
  const int added = X509_add_ext(cert, extension, -1);
  X509_EXTENSION_free(extension);
  return added == 1;
}

// A self-signed X.509 v3 certificate for this host's TLS identity: P-521,
// ECDSA with SHA-512, digitalSignature (TLS 1.3 CertificateVerify), client
// and server authentication.
Result<std::pair<std::string, std::string>> make_host_identity(const std::string& common_name) {
  RPED_TRY_ASSIGN(const crypto::EcKeyPair key, crypto::EcKeyPair::generate(crypto::Curve::p521));
  std::unique_ptr<X509, X509Deleter> cert(X509_new());
  std::array<std::uint8_t, 16> serial{};
  if (!cert || !crypto::random_bytes(serial).ok()) {
    return make_error(Errc::internal, "cannot create a certificate");
  }
  serial[0] &= 0x7f;  // a positive INTEGER
  BIGNUM* const serial_number = BN_bin2bn(serial.data(), static_cast<int>(serial.size()), nullptr);
  const std::time_t now = std::time(nullptr);
  X509_NAME* const subject = X509_get_subject_name(cert.get());
  bool ok = serial_number != nullptr && X509_set_version(cert.get(), X509_VERSION_3) == 1 &&
            BN_to_ASN1_INTEGER(serial_number, X509_get_serialNumber(cert.get())) != nullptr &&
            ASN1_TIME_set(X509_getm_notBefore(cert.get()), now - kSecondsPerDay) != nullptr &&
            ASN1_TIME_set(X509_getm_notAfter(cert.get()),
                          now + kHostCertificateValidityDays * kSecondsPerDay) != nullptr &&
            X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                       reinterpret_cast<const unsigned char*>(common_name.c_str()),
                                       -1, -1, 0) == 1 &&
            X509_set_issuer_name(cert.get(), subject) == 1 &&
            X509_set_pubkey(cert.get(), key.native()) == 1;
  BN_free(serial_number);
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, cert.get(), cert.get(), nullptr, nullptr, 0);
  ok = ok && add_extension(cert.get(), &context, NID_basic_constraints, "critical,CA:FALSE") &&
       add_extension(cert.get(), &context, NID_key_usage, "critical,digitalSignature") &&
       add_extension(cert.get(), &context, NID_ext_key_usage, "serverAuth,clientAuth") &&
       add_extension(cert.get(), &context, NID_subject_key_identifier, "hash") &&
       X509_sign(cert.get(), key.native(), EVP_sha512()) > 0;
  std::unique_ptr<BIO, BioDeleter> cert_pem(BIO_new(BIO_s_mem()));
  std::unique_ptr<BIO, BioDeleter> key_pem(BIO_new(BIO_s_mem()));
  ok = ok && cert_pem && key_pem && PEM_write_bio_X509(cert_pem.get(), cert.get()) == 1 &&
       PEM_write_bio_PrivateKey(key_pem.get(), key.native(), nullptr, nullptr, 0, nullptr,
                                nullptr) == 1;
  if (!ok) {
    return make_error(Errc::internal, "cannot create the certificate (OpenSSL failed)");
  }
  std::string key_text = bio_text(key_pem.get());
  std::string cert_text = bio_text(cert_pem.get());
  return std::pair{std::move(cert_text), std::move(key_text)};
}

}  // namespace

std::filesystem::path host_certificate_path(const std::filesystem::path& state_dir) {
  return state_dir / "tls" / "pedserver.crt";
}
std::filesystem::path host_key_path(const std::filesystem::path& state_dir) {
  return state_dir / "tls" / "pedserver.key";
}
std::filesystem::path appliance_certificate_path(const std::filesystem::path& state_dir,
                                                 const std::string& name) {
  return state_dir / "appliances" / (name + ".pem");
}

Result<std::vector<Appliance>> load_appliances(const std::filesystem::path& state_dir) {
  const std::filesystem::path file = registry_path(state_dir);
  std::error_code missing;
  if (!std::filesystem::exists(file, missing)) {
    return std::vector<Appliance>{};
  }
  RPED_TRY_ASSIGN(const std::string text, read_text_file(file, 1U << 20U));
  const nlohmann::json document = nlohmann::json::parse(text, nullptr, false);
  const auto bad = [&file](const std::string& why) {
    return make_error(Errc::invalid_encoding, file.string() + ": " + why);
  };
  if (!document.is_object() || !document.contains("appliances") ||
      !document["appliances"].is_array()) {
    return bad("not a pedserver appliance registry");
  }
  std::vector<Appliance> appliances;
  for (const nlohmann::json& entry : document["appliances"]) {
    if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string() ||
        !entry.contains("host") || !entry["host"].is_string() || !entry.contains("port") ||
        !entry["port"].is_number_unsigned() || entry["port"].get<std::uint64_t>() == 0 ||
        entry["port"].get<std::uint64_t>() > 65535 || !entry.contains("fingerprint_sha256") ||
        !entry["fingerprint_sha256"].is_string()) {
      return bad("an entry lacks name, host, port or fingerprint_sha256");
    }
    appliances.push_back(Appliance{
        entry["name"].get<std::string>(), entry["host"].get<std::string>(),
        entry["port"].get<std::uint16_t>(), entry["fingerprint_sha256"].get<std::string>()});
    RPED_TRY(check_name(appliances.back().name));
  }
  return appliances;
}

Result<const Appliance*> find_appliance(const std::vector<Appliance>& appliances,
                                        const std::string& name) {
  for (const Appliance& appliance : appliances) {
    if (appliance.name == name) {
      return &appliance;
    }
  }
  return make_error(
      Errc::invalid_argument,
      "no appliance named '" + name + "' is registered (see 'pedserver -appliance list')");
}

Result<crypto::Certificate> load_single_p521_certificate(const std::filesystem::path& file) {
  RPED_TRY_ASSIGN(const std::string text, read_text_file(file, kMaxCertificateFileBytes));
  auto certificates = crypto::Certificate::from_pem(text);
  if (!certificates.ok()) {
    return make_error(Errc::invalid_argument, file.string() + ": " + certificates.error().message);
  }
  if (certificates->size() != 1) {
    return make_error(Errc::invalid_argument, file.string() + " holds " +
                                                  std::to_string(certificates->size()) +
                                                  " certificates; exactly one is pinned");
  }
  crypto::Certificate certificate = certificates->front();
  auto key = certificate.ec_public_key();
  if (!key.ok() || key->curve() != crypto::Curve::p521) {
    return make_error(Errc::invalid_argument,
                      file.string() + ": the certificate's key is not a P-521 key");
  }
  return certificate;
}

int run_register_appliance(const config::Invocation& invocation,
                           const std::filesystem::path& state_dir) {
  const config::Settings& settings = invocation.settings;
  const std::string name = settings.text(opt::name);
  if (auto checked = check_name(name); !checked.ok()) {
    return fail(checked.error().message);
  }
  // -port here is the appliance's port; the server's own -port (default or file) does not apply.
  const bool port_given = invocation.command_line.values.contains(opt::port);
  const std::uint16_t port = port_given ? settings.port(opt::port) : kDefaultAppliancePort;
  const std::filesystem::path certificate_file = settings.path(opt::certificate);
  auto certificate = load_single_p521_certificate(certificate_file);
  if (!certificate.ok()) {
    return fail("-certificate " + certificate.error().message);
  }
  auto appliances = load_appliances(state_dir);
  if (!appliances.ok()) {
    return fail(appliances.error().message);
  }
  const auto existing = std::find_if(appliances->begin(), appliances->end(),
                                     [&name](const Appliance& a) { return a.name == name; });
  const bool force = settings.boolean(opt::force);
  if (existing != appliances->end()) {
    if (!force && !confirmed("Appliance '" + name + "' is registered; replace it?")) {
      return fail("-appliance register: '" + name +
                  "' is already registered; add -force to replace it");
    }
    appliances->erase(existing);
  }
  if (appliances->size() >= kMaxAppliances) {
    return fail("-appliance register: at most " + std::to_string(kMaxAppliances) + " appliances");
  }
  const Appliance appliance{name, settings.text(opt::ip), port,
                            to_hex(certificate->sha256_fingerprint())};
  appliances->push_back(appliance);
  if (auto made = config::ensure_private_directory(state_dir / "appliances"); !made.ok()) {
    return fail(made.error().message);
  }
  if (auto written = config::write_file_atomically(appliance_certificate_path(state_dir, name),
                                                   certificate->pem());
      !written.ok()) {
    return fail(written.error().message);
  }
  if (auto saved = save_appliances(state_dir, appliances.value()); !saved.ok()) {
    return fail(saved.error().message);
  }
  std::printf("Appliance '%s' registered: %s port %u\n", name.c_str(), appliance.host.c_str(),
              static_cast<unsigned>(port));
  std::printf("  certificate subject: %s\n", certificate->subject().c_str());
  std::printf("  SHA-256 fingerprint: %s\n", appliance.fingerprint.c_str());
  std::printf("Connect with: pedserver -mode connect -name %s\n", name.c_str());
  return kExitOk;
}

int run_list_appliances(const config::Invocation& invocation,
                        const std::filesystem::path& state_dir) {
  auto appliances = load_appliances(state_dir);
  if (!appliances.ok()) {
    return fail(appliances.error().message);
  }
  if (invocation.settings.text(opt::format) == "json") {
    nlohmann::json list = nlohmann::json::array();
    for (const Appliance& a : appliances.value()) {
      list.push_back({{"name", a.name},
                      {"host", a.host},
                      {"port", a.port},
                      {"fingerprint_sha256", a.fingerprint}});
    }
    std::printf("%s\n", nlohmann::json{{"appliances", list}}.dump(2).c_str());
    return kExitOk;
  }
  if (appliances->empty()) {
    std::printf("No appliances are registered.\n");
    return kExitOk;
  }
  std::printf("%-24s %-40s %-6s %s\n", "Name", "Address", "Port", "Certificate SHA-256");
  for (const Appliance& a : appliances.value()) {
    std::printf("%-24s %-40s %-6u %s\n", a.name.c_str(), a.host.c_str(),
                static_cast<unsigned>(a.port), a.fingerprint.c_str());
  }
  return kExitOk;
}

int run_delete_appliance(const config::Invocation& invocation,
                         const std::filesystem::path& state_dir) {
  const std::string name = invocation.settings.text(opt::name);
  auto appliances = load_appliances(state_dir);
  if (!appliances.ok()) {
    return fail(appliances.error().message);
  }
  if (auto found = find_appliance(appliances.value(), name); !found.ok()) {
    return fail(found.error().message);
  }
  if (!invocation.settings.boolean(opt::force) && !confirmed("Delete appliance '" + name + "'?")) {
    return fail("-appliance delete: add -force to delete '" + name + "' without confirmation");
  }
  std::erase_if(appliances.value(), [&name](const Appliance& a) { return a.name == name; });
  if (auto saved = save_appliances(state_dir, appliances.value()); !saved.ok()) {
    return fail(saved.error().message);
  }
  std::error_code ignored;
  std::filesystem::remove(appliance_certificate_path(state_dir, name), ignored);
  std::printf("Appliance '%s' deleted.\n", name.c_str());
  return kExitOk;
}

int run_regen(const config::Invocation& invocation, const std::filesystem::path& state_dir) {
  const std::string common_name = invocation.settings.text(opt::commonname);
  const std::filesystem::path certificate_file = host_certificate_path(state_dir);
  const std::filesystem::path key_file = host_key_path(state_dir);
  std::error_code missing;
  if (std::filesystem::exists(certificate_file, missing) &&
      !invocation.settings.boolean(opt::force) &&
      !confirmed("Replace this host's certificate? Appliances that pinned the old one must be "
                 "given the new one.")) {
    return fail("-regen: " + certificate_file.string() + " exists; add -force to replace it");
  }
  auto identity = make_host_identity(common_name);
  if (!identity.ok()) {
    return fail(identity.error().message);
  }
  if (auto made = config::ensure_private_directory(certificate_file.parent_path()); !made.ok()) {
    return fail(made.error().message);
  }
  auto key_written = config::write_file_atomically(key_file, identity->second);  // new files: 0600
  secure_wipe(identity->second.data(), identity->second.size());
  if (!key_written.ok()) {
    return fail(key_written.error().message);
  }
  if (auto written = config::write_file_atomically(certificate_file, identity->first);
      !written.ok()) {
    return fail(written.error().message);
  }
  auto certificate = load_single_p521_certificate(certificate_file);
  if (!certificate.ok()) {
    return fail(certificate.error().message);
  }
  std::printf("Generated a P-521 key and a self-signed certificate for CN=%s\n",
              common_name.c_str());
  std::printf("  certificate: %s\n", certificate_file.c_str());
  std::printf("  private key: %s\n", key_file.c_str());
  std::printf("  SHA-256 fingerprint: %s\n", to_hex(certificate->sha256_fingerprint()).c_str());
  std::printf(
      "Give the certificate to every appliance that accepts PED-initiated connections from this "
      "host.\n");
  return kExitOk;
}

}  // namespace rped::pedserver
