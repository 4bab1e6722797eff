#include "pkc_command.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <vector>

#include "rped/attestation/pkc.h"
#include "rped/config/paths.h"
#include "rped/crypto/x509.h"

namespace rped::pedtool {

namespace {

constexpr const char* kUsage =
    "usage: pedtool pkc verify -inputfile F [-root ROOT.pem] [-csr REQ.pem] [-pin SHA256]\n"
    "       pedtool pkc show   -inputfile F\n"
    "  -inputfile  the PKC: DER CMS SignedData (as `hsmsim cmd pkc get` writes), or PEM\n"
    "  -root       the manufacturer root certificate(s), PEM; default: every *.pem in\n"
    "              pedserver's trust directory (<pedserver state>/trust/)\n"
    "  -csr        a PKCS#10 request (PEM or DER) whose public key must be the attested key\n"
    "  -pin        trust the HSM's HOC by its SHA-256 fingerprint (hex); without -root\n"
    "              no root is needed (pinned-fingerprint mode)\n";

constexpr std::size_t kMaxInputBytes = 1 << 20;

struct Usage {
  std::string message;
};

std::string lower(std::string_view s) {
  std::string out;
  for (const char c : s) {
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

Result<std::string> read_file(const std::filesystem::path& file) {
  std::error_code error;
  const auto size = std::filesystem::file_size(file, error);
  if (error) {
    return make_error(Errc::not_found, "cannot read " + file.string() + ": " + error.message());
  }
  if (size > kMaxInputBytes) {
    return make_error(Errc::invalid_length, file.string() + " is larger than 1 MiB");
  }
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in.good() && !in.eof()) {
    return make_error(Errc::io_failed, "cannot read " + file.string());
  }
  return text.str();
}

bool is_pem(std::string_view text) { return text.find("-----BEGIN ") != std::string_view::npos; }

// DER as is, or the first PEM block whose label is one of `labels`.
Result<Bytes> der_of(const std::string& text, std::initializer_list<std::string_view> labels,
                     const std::string& what) {
  if (!is_pem(text)) {
    return Bytes(text.begin(), text.end());
  }
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(text.data(), static_cast<int>(text.size())), BIO_free);
  for (;;) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long len = 0;
    if (!bio || PEM_read_bio(bio.get(), &name, &header, &data, &len) != 1) {
      ERR_clear_error();
      std::string allowed;
      for (const std::string_view l : labels) {
        allowed += (allowed.empty() ? "" : ", ") + std::string(l);
      }
      return make_error(Errc::invalid_encoding,
                        what + " holds no PEM block labelled " + allowed);
    }
    const bool match = std::find(labels.begin(), labels.end(), std::string_view(name)) !=
                       labels.end();
    Bytes out(data, data + len);
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    if (match) {
      return out;
    }
  }
}

Result<std::vector<crypto::Certificate>> load_roots(const std::optional<std::string>& root) {
  std::vector<std::filesystem::path> files;
  if (root) {
    files.emplace_back(*root);
  } else {
    RPED_TRY_ASSIGN(const config::Environment env, config::Environment::from_process());
    RPED_TRY_ASSIGN(const config::DaemonPaths paths, config::default_paths("pedserver", env));
    const std::filesystem::path dir = paths.state_dir / "trust";
    std::error_code error;
    for (std::filesystem::directory_iterator it(dir, error), end; !error && it != end;
         it.increment(error)) {
      if (it->path().extension() == ".pem") {
        files.push_back(it->path());
      }
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) {
      return make_error(Errc::not_found, "no -root given and no manufacturer root in " +
                                             dir.string() +
                                             " (give -root ROOT.pem, or install it there)");
    }
  }
  std::vector<crypto::Certificate> roots;
  for (const std::filesystem::path& file : files) {
    RPED_TRY_ASSIGN(const std::string text, read_file(file));
    auto certs = is_pem(text) ? crypto::Certificate::from_pem(text)
                              : Result<std::vector<crypto::Certificate>>(make_error(
                                    Errc::certificate_invalid, "not PEM"));
    if (!certs.ok()) {
      auto der = crypto::Certificate::from_der(
          ByteView(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
      if (!der.ok()) {
        return make_error(Errc::certificate_invalid,
                          file.string() + " holds no certificate (PEM or DER)");
      }
      certs = std::vector<crypto::Certificate>{der.value()};
    }
    for (crypto::Certificate& c : certs.value()) {
      roots.push_back(std::move(c));
    }
  }
  return roots;
}

std::string colon_hex(ByteView bytes) {
  std::string hex = to_hex(bytes);
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    out += (i == 0 ? "" : ":") + hex.substr(i, 2);
  }
  for (char& c : out) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string describe_key(ByteView spki) {
  const unsigned char* cursor = spki.data();
  EVP_PKEY* key = d2i_PUBKEY(nullptr, &cursor, static_cast<long>(spki.size()));
  if (key == nullptr) {
    ERR_clear_error();
    return "(unreadable)";
  }
  std::string out = EVP_PKEY_get0_type_name(key) != nullptr ? EVP_PKEY_get0_type_name(key) : "?";
  char group[64];
  std::size_t len = 0;
  if (EVP_PKEY_get_group_name(key, group, sizeof group, &len) == 1) {
    out += " " + std::string(group, len);
  }
  out += ", " + std::to_string(EVP_PKEY_get_bits(key)) + " bits";
  EVP_PKEY_free(key);
  ERR_clear_error();
  return out;
}

Bytes sha256(ByteView data) {
  Bytes out(32);
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

void print_statement(const attestation::KeyAttestation& s) {
  const attestation::KeyAttributes& a = s.attributes;
  std::printf("Key attestation statement (RpedKeyAttestation v%lld)\n",
              static_cast<long long>(s.version));
  std::printf("  HSM serial:        %s\n", s.hsm.serial.c_str());
  std::printf("  HSM model:         %s\n", s.hsm.model.c_str());
  std::printf("  firmware:          %s\n", s.hsm.firmware_version.c_str());
  std::printf("  key handle:        %u\n", s.handle);
  std::printf("  key label:         \"%s\"\n", s.label.c_str());
  std::printf("  public key:        %s\n", describe_key(s.subject_public_key_info).c_str());
  std::printf("  SPKI SHA-256:      %s\n", colon_hex(sha256(s.subject_public_key_info)).c_str());
  std::printf("  generated on HSM:  %s (CKA_LOCAL)\n", a.local ? "yes" : "NO");
  std::printf("  extractable:       %s (CKA_EXTRACTABLE)\n", a.extractable ? "YES" : "no");
  std::printf("  never extractable: %s (CKA_NEVER_EXTRACTABLE)\n",
              a.never_extractable ? "yes" : "NO");
  std::printf("  key usage:         %s\n", attestation::key_usage_text(a.key_usage).c_str());
  std::printf("  attested at:       %s\n", attestation::generalized_time(s.attested_at).c_str());
}

int show(const Bytes& der) {
  auto parsed = attestation::parse_pkc(der);
  if (!parsed.ok()) {
    std::printf("not a PKC: %s\n", parsed.error().message.c_str());
    return 1;
  }
  const attestation::PkcContents& c = parsed.value();
  std::printf("PKC (CMS SignedData, %zu bytes) -- decoded, NOT verified (use 'pkc verify')\n",
              der.size());
  std::printf("  content type:      %s%s\n", c.content_type.c_str(),
              c.content_type == attestation::kKeyAttestationContentTypeOid
                  ? " (id-ct-rpedKeyAttestation)"
                  : " (not a key attestation)");
  std::printf("  digest:            %s\n", c.digest_algorithm.c_str());
  std::printf("  signature:         %s\n", c.signature_algorithm.c_str());
  if (c.signing_time) {
    std::printf("  signing time:      %s\n", attestation::generalized_time(*c.signing_time).c_str());
  }
  if (c.statement) {
    print_statement(*c.statement);
  } else {
    std::printf("Statement does not decode: %s\n", c.statement_error.c_str());
  }
  std::printf("Certificates (%zu)\n", c.certificates.size());
  for (std::size_t i = 0; i < c.certificates.size(); ++i) {
    const crypto::Certificate& cert = c.certificates[i];
    std::printf("  [%zu]%s\n", i, c.signer_index == i ? " signer" : "");
    std::printf("      subject:  %s\n", cert.subject().c_str());
    std::printf("      issuer:   %s\n", cert.issuer().c_str());
    std::printf("      serial:   %s\n", cert.serial_hex().c_str());
    std::printf("      SHA-256:  %s\n", colon_hex(cert.sha256_fingerprint()).c_str());
  }
  return c.statement ? 0 : 1;
}

int verify(const Bytes& der, const std::vector<crypto::Certificate>& roots,
           const attestation::VerifyOptions& options) {
  const attestation::PkcVerification v = attestation::verify_pkc(der, roots, options);
  for (const attestation::PkcCheck& check : v.checks) {
    std::printf("  %-16s %s  %s\n", check.name.c_str(), check.passed ? "PASS" : "FAIL",
                check.detail.c_str());
  }
  if (v.ok()) {
    const attestation::KeyAttestation& s = *v.statement;
    std::printf("verdict: VERIFIED -- HSM %s (%s, firmware %s), key handle %u \"%s\"; root: %s\n",
                s.hsm.serial.c_str(), s.hsm.model.c_str(), s.hsm.firmware_version.c_str(),
                s.handle, s.label.c_str(),
                roots.empty() ? "none (pinned HOC)" : v.root_common_name.c_str());
    return 0;
  }
  const auto failed = std::count_if(v.checks.begin(), v.checks.end(),
                                    [](const attestation::PkcCheck& c) { return !c.passed; });
  std::printf("verdict: REJECTED (%zu of %zu checks failed)\n", static_cast<std::size_t>(failed),
              v.checks.size());
  return 1;
}

}  // namespace

int run_pkc(std::span<const std::string> args) {
  if (args.empty() || (args[0] != "verify" && args[0] != "show")) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string verb = args[0];
  const std::vector<std::string> allowed =
      verb == "verify" ? std::vector<std::string>{"inputfile", "root", "csr", "pin"}
                       : std::vector<std::string>{"inputfile"};
  std::map<std::string, std::string> options;
  for (std::size_t i = 1; i < args.size(); i += 2) {
    const std::string name = lower(args[i].size() > 1 && args[i][0] == '-' ? args[i].substr(1) : "");
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end() || i + 1 >= args.size() ||
        options.contains(name)) {
      std::fprintf(stderr, "pedtool pkc %s: '%s' is not allowed here (each option once, with a value)\n%s",
                   verb.c_str(), args[i].c_str(), kUsage);
      return 2;
    }
    options[name] = args[i + 1];
  }
  if (!options.contains("inputfile")) {
    std::fprintf(stderr, "pedtool pkc %s: give -inputfile F\n%s", verb.c_str(), kUsage);
    return 2;
  }
  const auto fail = [](const Error& e) {
    std::fprintf(stderr, "pedtool pkc: %s\n", e.message.c_str());
    return 2;
  };
  auto text = read_file(options["inputfile"]);
  if (!text.ok()) {
    return fail(text.error());
  }
  auto der = der_of(text.value(), {"PKCS7", "CMS"}, options["inputfile"]);
  if (!der.ok()) {
    return fail(der.error());
  }
  if (verb == "show") {
    return show(der.value());
  }
  attestation::VerifyOptions verify_options;
  if (options.contains("csr")) {
    auto csr_text = read_file(options["csr"]);
    if (!csr_text.ok()) {
      return fail(csr_text.error());
    }
    auto csr =
        der_of(csr_text.value(), {"CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"}, options["csr"]);
    if (!csr.ok()) {
      return fail(csr.error());
    }
    verify_options.csr_der = std::move(csr).value();
  }
  if (options.contains("pin")) {
    std::string hex;
    for (const char c : options["pin"]) {
      if (c != ':') {
        hex.push_back(c);
      }
    }
    auto pin = from_hex(hex);
    if (!pin.ok() || pin.value().size() != 32) {
      std::fprintf(stderr, "pedtool pkc: -pin is a SHA-256 fingerprint: 32 bytes in hex\n");
      return 2;
    }
    verify_options.pinned_hoc_sha256 = std::move(pin).value();
  }
  std::vector<crypto::Certificate> roots;
  if (options.contains("root") || !verify_options.pinned_hoc_sha256) {
    auto loaded = load_roots(options.contains("root") ? std::optional(options["root"])
                                                      : std::nullopt);
    if (!loaded.ok()) {
      return fail(loaded.error());
    }
    roots = std::move(loaded).value();
  }
  std::printf("PKC verification of %s\n", options["inputfile"].c_str());
  return verify(der.value(), roots, verify_options);
}

}  // namespace rped::pedtool
