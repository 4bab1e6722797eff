#include "rped/hsmsim/command_line.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <optional>
#include <vector>

#include "rped/hsmsim/ped_ping.h"
#include "rped/hsmsim/pkc.h"

namespace rped::hsmsim {

namespace {

enum class Takes : std::uint8_t { nothing, value, optional_value };

struct OptionSpec {
  std::string_view name;
  Takes takes;
};

using Options = std::map<std::string, std::optional<std::string>>;

std::string lower(std::string_view text) {
  std::string out;
  for (const char c : text) {
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

CommandResult bad(std::string message) {
  return CommandResult{ResultCode::arguments_bad, std::move(message)};
}

std::string allowed_list(std::span<const OptionSpec> specs) {
  if (specs.empty()) {
    return "none";
  }
  std::string list;
  for (const OptionSpec& spec : specs) {
    list += (list.empty() ? "-" : ", -") + std::string(spec.name);
  }
  return list;
}

// Parses `-option [value]` words against `specs`; an option may be given by
// any unique prefix of its name.
std::variant<Options, CommandResult> parse_options(std::string_view command,
                                                   std::span<const std::string> words,
                                                   std::span<const OptionSpec> specs) {
  Options options;
  for (std::size_t i = 0; i < words.size(); ++i) {
    const std::string& word = words[i];
    if (word.size() < 2 || word[0] != '-') {
      return bad("'" + word + "' is not an option of '" + std::string(command) +
                 "'; options: " + allowed_list(specs));
    }
    const std::string name = lower(std::string_view(word).substr(1));
    const OptionSpec* match = nullptr;
    for (const OptionSpec& spec : specs) {
      if (spec.name == name) {
        match = &spec;
        break;
      }
      if (spec.name.substr(0, name.size()) == name) {
        if (match != nullptr) {
          return bad("option '" + word + "' is ambiguous for '" + std::string(command) + "'");
        }
        match = &spec;
      }
    }
    if (match == nullptr) {
      return bad("unknown option '" + word + "' for '" + std::string(command) +
                 "'; options: " + allowed_list(specs));
    }
    const std::string key(match->name);
    if (options.contains(key)) {
      return bad("option -" + key + " is given twice");
    }
    std::optional<std::string> value;
    const bool next_is_value =
        i + 1 < words.size() && !(words[i + 1].size() > 1 && words[i + 1][0] == '-');
    switch (match->takes) {
      case Takes::value:
        if (i + 1 >= words.size()) {
          return bad("option -" + key + " needs a value");
        }
        value = words[++i];
        break;
      case Takes::optional_value:
        if (next_is_value) {
          value = words[++i];
        }
        break;
      case Takes::nothing:
      default:
        break;
    }
    options.emplace(key, std::move(value));
  }
  return options;
}

std::optional<std::string> text(const Options& o, std::string_view name) {
  const auto it = o.find(std::string(name));
  return it == o.end() ? std::nullopt : it->second;
}

bool flag(const Options& o, std::string_view name) {
  return o.contains(std::string(name));
}

// An unsigned decimal in [min, max], or nullopt.
std::optional<std::uint64_t> number(std::string_view text, std::uint64_t min, std::uint64_t max) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || v < min || v > max) {
    return std::nullopt;
  }
  return v;
}

std::variant<std::optional<std::uint16_t>, CommandResult> port_option(const Options& o) {
  const std::optional<std::string> value = text(o, "port");
  if (!value) {
    return std::optional<std::uint16_t>{};
  }
  const auto port = number(*value, 1, 65535);
  if (!port) {
    return bad("-port must be a TCP port, 1 to 65535");
  }
  return std::optional<std::uint16_t>{static_cast<std::uint16_t>(*port)};
}

std::variant<Role, CommandResult> role_option(const Options& o, std::string_view allowed) {
  const std::optional<std::string> value = text(o, "name");
  if (!value) {
    return bad("give the role with -name (" + std::string(allowed) + ")");
  }
  const std::optional<Role> role = role_from_name(*value);
  if (!role) {
    return bad("unknown role '" + *value + "'; roles: " + std::string(allowed));
  }
  return *role;
}

constexpr OptionSpec kNone[] = {{"", Takes::nothing}};
constexpr std::span<const OptionSpec> kNoOptions(kNone, 0);
constexpr OptionSpec kConnect[] = {
    {"ip", Takes::value}, {"port", Takes::value}, {"password", Takes::optional_value}};
constexpr OptionSpec kSet[] = {{"ip", Takes::value}, {"port", Takes::value}};
constexpr OptionSpec kVectorInit[] = {
    {"ip", Takes::value}, {"port", Takes::value}, {"force", Takes::nothing}};
constexpr OptionSpec kCount[] = {{"count", Takes::value}};
constexpr OptionSpec kForce[] = {{"force", Takes::nothing}};
constexpr OptionSpec kLabel[] = {{"label", Takes::value}, {"force", Takes::nothing}};
constexpr OptionSpec kPolicy[] = {{"policy", Takes::value}, {"value", Takes::value}};
constexpr OptionSpec kName[] = {{"name", Takes::value}};
constexpr OptionSpec kPkcGet[] = {{"handle", Takes::value}, {"outputfile", Takes::value}};
constexpr OptionSpec kKeyGenerate[] = {
    {"label", Takes::value}, {"usage", Takes::value}, {"extractable", Takes::nothing}};
constexpr OptionSpec kAuditConfig[] = {{"parameter", Takes::value}, {"value", Takes::value}};
constexpr OptionSpec kFile[] = {{"file", Takes::value}};

CommandResult dispatch(Hsm& hsm, std::span<const std::string> words, Console& out) {
  if (words.empty()) {
    return bad("no command; type 'help'");
  }
  const std::string group = lower(words[0]);
  if (group == "help" || group == "?") {
    out.line(command_help());
    return {};
  }
  if (words.size() < 2) {
    return bad("'" + words[0] + "' needs a verb; type 'help'");
  }
  std::string verb = lower(words[1]);
  std::size_t first_option = 2;
  if (group == "audit" && verb == "secret") {
    if (words.size() < 3 || lower(words[2]) != "export") {
      return bad("'audit secret' needs export");
    }
    verb += " export";
    first_option = 3;
  }
  if (group == "ped" && verb == "vector") {
    if (words.size() < 3) {
      return bad("'ped vector' needs init or erase");
    }
    verb += " " + lower(words[2]);
    first_option = 3;
  }
  const std::string command = group + " " + verb;
  const std::span<const std::string> rest = words.subspan(first_option);
  const auto parse = [&](std::span<const OptionSpec> specs) {
    return parse_options(command, rest, specs);
  };

#define HSMSIM_OPTIONS(var, specs)                           \
  auto var##_parsed = parse(specs);                          \
  if (auto* e = std::get_if<CommandResult>(&var##_parsed)) { \
    return *e;                                               \
  }                                                          \
  const Options& var = std::get<Options>(var##_parsed)
#define HSMSIM_NO_OPTIONS()                                                         \
  if (auto none = parse(kNoOptions); std::holds_alternative<CommandResult>(none)) { \
    return std::get<CommandResult>(none);                                           \
  }

  if (command == "ped connect") {
    HSMSIM_OPTIONS(o, kConnect);
    PedConnectArgs args;
    args.host = text(o, "ip");
    auto port = port_option(o);
    if (auto* e = std::get_if<CommandResult>(&port)) {
      return *e;
    }
    args.port = std::get<std::optional<std::uint16_t>>(port);
    args.one_time_password = flag(o, "password");
    args.one_time_password_digits = text(o, "password");
    return hsm.ped_connect(args, out);
  }
  if (command == "ped disconnect") {
    HSMSIM_NO_OPTIONS();
    return hsm.ped_disconnect(out);
  }
  if (command == "ped set") {
    HSMSIM_OPTIONS(o, kSet);
    auto port = port_option(o);
    if (auto* e = std::get_if<CommandResult>(&port)) {
      return *e;
    }
    return hsm.ped_set(text(o, "ip"), std::get<std::optional<std::uint16_t>>(port), out);
  }
  if (command == "ped show") {
    HSMSIM_NO_OPTIONS();
    return hsm.ped_show(out);
  }
  if (command == "ped vector init") {
    HSMSIM_OPTIONS(o, kVectorInit);
    VectorInitArgs args;
    args.host = text(o, "ip");
    auto port = port_option(o);
    if (auto* e = std::get_if<CommandResult>(&port)) {
      return *e;
    }
    args.port = std::get<std::optional<std::uint16_t>>(port);
    args.force = flag(o, "force");
    return hsm.ped_vector_init(args, out);
  }
  if (command == "ped vector erase") {
    HSMSIM_OPTIONS(o, kForce);
    return hsm.ped_vector_erase(flag(o, "force"), out);
  }
  if (command == "ped ping") {
    HSMSIM_OPTIONS(o, kCount);
    const auto count = number(text(o, "count").value_or(std::to_string(kPedPingDefaultCount)), 1,
                              kPedPingMaxCount);
    if (!count) {
      return bad("-count must be 1 to " + std::to_string(kPedPingMaxCount));
    }
    return ped_ping(hsm, static_cast<std::uint32_t>(*count), out);
  }
  if (command == "hsm init") {
    HSMSIM_OPTIONS(o, kLabel);
    const std::optional<std::string> label = text(o, "label");
    if (!label) {
      return bad("give the HSM label with -label");
    }
    return hsm.hsm_init(*label, flag(o, "force"), out);
  }
  if (command == "hsm zeroize") {
    HSMSIM_OPTIONS(o, kForce);
    return hsm.hsm_zeroize(flag(o, "force"), out);
  }
  if (command == "hsm factoryreset") {
    HSMSIM_OPTIONS(o, kForce);
    return hsm.hsm_factory_reset(flag(o, "force"), out);
  }
  if (command == "hsm show") {
    HSMSIM_NO_OPTIONS();
    return hsm.hsm_show(out);
  }
  if (command == "hsm showpolicies") {
    HSMSIM_NO_OPTIONS();
    return hsm.hsm_show_policies(out);
  }
  if (command == "hsm changepolicy") {
    HSMSIM_OPTIONS(o, kPolicy);
    const auto policy = number(text(o, "policy").value_or(""), 0, 0xFFFF);
    const auto value = number(text(o, "value").value_or(""), 0, 0xFFFFFFFF);
    if (!policy || !value) {
      return bad("give -policy N and -value V");
    }
    return hsm.hsm_change_policy(static_cast<std::uint16_t>(*policy),
                                 static_cast<std::uint32_t>(*value), out);
  }
  if (command == "role init") {
    HSMSIM_OPTIONS(o, kName);
    auto role = role_option(o, "co, cu, au");
    if (auto* e = std::get_if<CommandResult>(&role)) {
      return *e;
    }
    return hsm.role_init(std::get<Role>(role), out);
  }
  if (command == "role login") {
    HSMSIM_OPTIONS(o, kName);
    auto role = role_option(o, "so, po, co, cu, au");
    if (auto* e = std::get_if<CommandResult>(&role)) {
      return *e;
    }
    return hsm.role_login(std::get<Role>(role), out);
  }
  if (command == "role changepw") {
    HSMSIM_OPTIONS(o, kName);
    auto role = role_option(o, "so, po, co, cu, au");
    if (auto* e = std::get_if<CommandResult>(&role)) {
      return *e;
    }
    return hsm.role_change_pw(std::get<Role>(role), out);
  }
  if (command == "role logout") {
    HSMSIM_NO_OPTIONS();
    return hsm.role_logout(out);
  }
  if (command == "role show" || command == "role list") {
    HSMSIM_NO_OPTIONS();
    return hsm.role_show(out);
  }
  if (command == "partition create") {
    HSMSIM_NO_OPTIONS();
    return hsm.partition_create(out);
  }
  if (command == "partition init") {
    HSMSIM_OPTIONS(o, kLabel);
    const std::optional<std::string> label = text(o, "label");
    if (!label) {
      return bad("give the partition label with -label");
    }
    return hsm.partition_init(*label, flag(o, "force"), out);
  }
  if (command == "partition show") {
    HSMSIM_NO_OPTIONS();
    return hsm.partition_show(out);
  }
  // docs/attestation.md §5 (pkc.h).
  if (command == "pkc get") {
    HSMSIM_OPTIONS(o, kPkcGet);
    const auto handle = number(text(o, "handle").value_or(""), 1, 0xFFFFFFFF);
    if (!handle || !text(o, "outputfile")) {
      return bad("give -handle N (1: the HSM static key) and -outputfile FILE");
    }
    return pkc_get(hsm, static_cast<std::uint32_t>(*handle), *text(o, "outputfile"), out);
  }
  if (command == "key generate") {
    HSMSIM_OPTIONS(o, kKeyGenerate);
    const std::string usage = lower(text(o, "usage").value_or("sign"));
    if (usage != "sign" && usage != "derive") {
      return bad("-usage is sign (digitalSignature) or derive (keyAgreement)");
    }
    return key_generate(hsm, text(o, "label").value_or(""),
                        usage == "sign" ? attestation::kDigitalSignature
                                        : attestation::kKeyAgreement,
                        flag(o, "extractable"), out);
  }
  if (command == "key list") {
    HSMSIM_NO_OPTIONS();
    return key_list(hsm, out);
  }
  if (command == "audit show") {
    HSMSIM_NO_OPTIONS();
    return hsm.audit_show(out);
  }
  if (command == "audit head") {
    HSMSIM_NO_OPTIONS();
    return hsm.audit_head(out);
  }
  if (command == "audit config") {
    HSMSIM_OPTIONS(o, kAuditConfig);
    const std::optional<std::string> parameter = text(o, "parameter");
    const std::optional<std::string> value = text(o, "value");
    if (!parameter || !value) {
      return bad("audit config needs -parameter and -value");
    }
    return hsm.audit_config(*parameter, *value, out);
  }
  if (command == "audit secret export") {
    HSMSIM_OPTIONS(o, kFile);
    const std::optional<std::string> file = text(o, "file");
    if (!file) {
      return bad("give the file with -file (an absolute path that does not exist yet)");
    }
    return hsm.audit_secret_export(*file, out);
  }
#undef HSMSIM_OPTIONS
#undef HSMSIM_NO_OPTIONS
  return bad("unknown command '" + command + "'; type 'help'");
}

}  // namespace

CommandResult run_command(Hsm& hsm, std::span<const std::string> words, Console& out) {
  const std::lock_guard lock(hsm.command_mutex());
  return dispatch(hsm, words, out);
}

std::vector<std::string> split_command_line(std::string_view line) {
  std::vector<std::string> words;
  std::string word;
  bool quoted = false;
  bool in_word = false;
  for (const char c : line) {
    if (c == '"') {
      quoted = !quoted;
      in_word = true;
      continue;
    }
    if (!quoted && std::isspace(static_cast<unsigned char>(c)) != 0) {
      if (in_word) {
        words.push_back(std::move(word));
        word.clear();
        in_word = false;
      }
      continue;
    }
    word.push_back(c);
    in_word = true;
  }
  if (in_word) {
    words.push_back(std::move(word));
  }
  return words;
}

std::string command_help() {
  return "Commands (LunaCM syntax; options may be abbreviated):\n"
         "  ped connect [-ip IP] [-port P] [-password [8 digits]]   open the Remote PED "
         "connection\n"
         "  ped disconnect                                         close it\n"
         "  ped set -ip IP -port P                                 store the default PED server\n"
         "  ped show                                               connection, pedclient and RPV "
         "state\n"
         "  ped vector init [-ip IP] [-port P] [-force]            create the RPV and the orange "
         "keys\n"
         "  ped vector erase [-force]                              erase the RPV\n"
         "  ped ping [-count N]                                    time N get_status round trips "
         "to the PED\n"
         "  hsm init -label L [-force]                             initialize (blue SO key, red "
         "domain key)\n"
         "  hsm zeroize [-force]                                   zeroize (the RPV and the "
         "Auditor remain)\n"
         "  hsm factoryreset [-force]                              reset, the RPV included\n"
         "  hsm show | hsm showpolicies | hsm changepolicy -policy N -value V\n"
         "  role init -name co|cu|au                               create a role's PED keys\n"
         "  role login -name so|po|co|cu|au                        log in with the role's PED "
         "keys\n"
         "  role changepw -name so|po|co|cu|au                     new PED keys for the logged-in "
         "role\n"
         "  role logout | role show\n"
         "  partition create | partition init -label L [-force] | partition show\n"
         "  pkc get -handle N -outputfile F                        the key's public key "
         "confirmation\n"
         "  key generate [-label L] [-usage sign|derive] [-extractable] | key list\n"
         "  audit show | audit head                                the audit log and its chain head\n"
         "  audit config -parameter P -value V                     (auditor) categories, rotation\n"
         "  audit secret export -file F                            (auditor) the log secret, 0600\n"
         "  help";
}

}  // namespace rped::hsmsim
