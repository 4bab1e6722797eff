// pedaudit: verifies an HSM audit log and exports it (docs/audit-log.md §5).
//
//   pedaudit verify (-dir D | -file F) -secret S [-from N] [-head SEQ:HEX] [-headfile F]
//   pedaudit export (-dir D | -file F) -csv OUT
//
// -secret: the file `audit secret export` wrote (64 hex digits). -head: the
// HSM's newest record and HMAC (`audit head`): the log must end exactly there
// (truncation, appended records). -headfile: a head the auditor kept outside
// the log (one SEQ:HEX line): the record at SEQ must reproduce it, which
// defeats re-sealing with a leaked secret. Exit: 0 verified / exported,
// 1 a fault (the first bad record, and why, on stdout), 2 usage.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "rped/audit/record.h"
#include "rped/secret.h"

namespace {

namespace fs = std::filesystem;
using namespace rped;

constexpr int kExitOk = 0;
constexpr int kExitFault = 1;
constexpr int kExitUsage = 2;

const char kUsage[] =
    "usage:\n"
    "  pedaudit verify (-dir D | -file F) -secret S [-from N] [-head SEQ:HEX] [-headfile F]\n"
    "  pedaudit export (-dir D | -file F) -csv OUT\n";

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "pedaudit: %s\n%s", why.c_str(), kUsage);
  std::exit(kExitUsage);
}

// The log files in log order: DIR/audit-<first seq>-<time>.log sorted by name
// (pedclient's store names them so, audit_store.h).
std::vector<fs::path> log_files(const std::map<std::string, std::string>& options) {
  if (options.count("file") != 0) {
    return {fs::path(options.at("file"))};
  }
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(options.at("dir"), ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && name.rfind("audit-", 0) == 0 && name.size() > 4 &&
        name.substr(name.size() - 4) == ".log") {
      files.push_back(entry.path());
    }
  }
  if (ec) {
    usage("cannot list " + options.at("dir") + ": " + ec.message());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Calls `line(text, location)` for every line, '\n' included when present.
template <typename Fn>
bool each_line(const std::vector<fs::path>& files, Fn&& line) {
  for (const fs::path& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "pedaudit: cannot read %s\n", file.string().c_str());
      return false;
    }
    std::string text;
    std::size_t number = 0;
    while (std::getline(in, text)) {
      ++number;
      if (!in.eof()) {
        text.push_back('\n');
      }
      if (!line(text, file.filename().string() + ":" + std::to_string(number))) {
        return true;
      }
    }
  }
  return true;
}

std::optional<audit::LogSecret> read_secret(const std::string& path) {
  std::ifstream in(path);
  std::string hex;
  in >> hex;
  auto bytes = from_hex(hex);
  secure_wipe(hex.data(), hex.size());
  if (!bytes.ok() || bytes.value().size() != audit::kLogSecretBytes) {
    return std::nullopt;
  }
  audit::LogSecret secret;
  std::copy(bytes.value().begin(), bytes.value().end(), secret.reveal_mutable().begin());
  secure_wipe(bytes.value().data(), bytes.value().size());
  return secret;
}

int verify(const std::map<std::string, std::string>& options) {
  if (options.count("secret") == 0) {
    usage("verify needs -secret (the file 'audit secret export' wrote)");
  }
  std::optional<audit::LogSecret> secret = read_secret(options.at("secret"));
  if (!secret) {
    usage("-secret " + options.at("secret") + " does not hold 64 hex digits");
  }
  audit::VerifyOptions verify_options;
  if (options.count("from") != 0) {
    char* end = nullptr;
    const unsigned long long from = std::strtoull(options.at("from").c_str(), &end, 10);
    if (end == nullptr || *end != '\0' || from == 0 || from > audit::kMaxSeq) {
      usage("-from must be a sequence number, 1 to 9999999999");
    }
    verify_options.from = from;
  }
  if (options.count("head") != 0) {
    auto head = audit::ChainHead::parse(options.at("head"));
    if (!head.ok()) {
      usage("-head: " + head.error().message);
    }
    verify_options.hsm_head = head.value();
  }
  if (options.count("headfile") != 0) {
    std::ifstream in(options.at("headfile"));
    std::string text;
    std::getline(in, text);
    auto head = audit::ChainHead::parse(text);
    if (!head.ok()) {
      usage("-headfile " + options.at("headfile") + ": " + head.error().message);
    }
    verify_options.external_head = head.value();
  }
  audit::ChainVerifier verifier(std::move(*secret), verify_options);
  const std::vector<fs::path> files = log_files(options);
  if (!each_line(files, [&](const std::string& line, const std::string& where) {
        verifier.feed(line, where);
        return true;
      })) {
    return kExitFault;
  }
  const audit::VerifyVerdict v = verifier.finish();
  if (!v.ok()) {
    std::printf("FAILED: %s: record %llu (%s): %s\n", std::string(audit::fault_name(v.fault)).c_str(),
                static_cast<unsigned long long>(v.bad_seq), v.location.c_str(), v.why.c_str());
    std::printf("  verified before it: %llu records\n", static_cast<unsigned long long>(v.records));
    return kExitFault;
  }
  std::printf("VERIFIED: %llu records (%llu .. %llu) in %zu file(s); chain head %s\n",
              static_cast<unsigned long long>(v.records),
              static_cast<unsigned long long>(v.first_seq),
              static_cast<unsigned long long>(v.last_seq), files.size(),
              audit::ChainHead{v.last_seq, v.last_hmac}.to_string().c_str());
  if (!verify_options.hsm_head) {
    std::printf("  note: without -head (the HSM's newest) truncation is not detected\n");
  }
  return kExitOk;
}

std::string csv_field(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    out += c == '"' ? std::string("\"\"") : std::string(1, c);
  }
  return out + "\"";
}

int export_csv(const std::map<std::string, std::string>& options) {
  if (options.count("csv") == 0) {
    usage("export needs -csv OUT");
  }
  std::ofstream out(options.at("csv"), std::ios::binary | std::ios::trunc);
  if (!out) {
    usage("cannot write " + options.at("csv"));
  }
  out << "sequence,time_utc,message,previous_hmac,raw_data\n";
  std::size_t records = 0;
  bool bad = false;
  each_line(log_files(options), [&](const std::string& line, const std::string& where) {
    auto rec = audit::AuditRecord::parse(line);
    if (!rec.ok()) {
      std::printf("FAILED: %s is not an audit record: %s\n", where.c_str(), rec.error().message.c_str());
      bad = true;
      return false;
    }
    const std::time_t t = static_cast<std::time_t>(rec.value().unix_time);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char when[32];
    std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    out << rec.value().seq << ',' << when << ',' << csv_field(rec.value().text) << ','
        << line.substr(audit::kPrevHmacOffset, audit::kHmacHexChars) << ','
        << line.substr(audit::kRawOffset, audit::kRawHexChars) << '\n';
    ++records;
    return true;
  });
  out.close();
  if (bad || !out) {
    return kExitFault;
  }
  std::printf("exported %zu records to %s (not verified: use pedaudit verify)\n", records,
              options.at("csv").c_str());
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage("give a command");
  }
  const std::string command = argv[1];
  if (command == "-help" || command == "--help" || command == "help") {
    std::printf("%s", kUsage);
    return kExitOk;
  }
  static const std::map<std::string, std::vector<std::string>> kAllowed = {
      {"verify", {"dir", "file", "secret", "from", "head", "headfile"}},
      {"export", {"dir", "file", "csv"}}};
  const auto allowed = kAllowed.find(command);
  if (allowed == kAllowed.end()) {
    usage("unknown command '" + command + "'");
  }
  std::map<std::string, std::string> options;
  for (int i = 2; i < argc; ++i) {
    std::string name = argv[i];
    if (name.size() < 2 || name[0] != '-') {
      usage("unexpected argument '" + name + "'");
    }
    name = name.substr(name[1] == '-' ? 2 : 1);
    if (std::find(allowed->second.begin(), allowed->second.end(), name) == allowed->second.end()) {
      usage("unknown option -" + name + " for " + command);
    }
    if (i + 1 >= argc) {
      usage("-" + name + " needs a value");
    }
    if (!options.emplace(name, argv[++i]).second) {
      usage("-" + name + " is given twice");
    }
  }
  if ((options.count("dir") != 0) == (options.count("file") != 0)) {
    usage("give exactly one of -dir and -file");
  }
  return command == "verify" ? verify(options) : export_csv(options);
}
