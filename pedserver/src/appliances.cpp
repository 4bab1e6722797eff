#include "appliances.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <system_error>

#include <nlohmann/json.hpp>

#include "rped/config/atomic_file.h"
#include "rped/config/paths.h"
#include "rped/config/pedserver_options.h"
#include "rped/service/console.h"
#include "rped/service/peer_tls.h"
#include "version.h"

namespace rped::pedserver {
namespace {

namespace opt = config::pedserver::opt;

constexpr std::string_view kApplianceName = "an appliance name";

std::filesystem::path registry_path(const std::filesystem::path& state_dir) {
  return state_dir / "appliances.json";
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

int fail(const std::string& message) {
  std::fprintf(stderr, "pedserver: %s\n", message.c_str());
  return kExitFailure;
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
    RPED_TRY(service::check_peer_name(appliances.back().name, kApplianceName));
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

int run_register_appliance(const config::Invocation& invocation,
                           const std::filesystem::path& state_dir) {
  const config::Settings& settings = invocation.settings;
  const std::string name = settings.text(opt::name);
  if (auto checked = service::check_peer_name(name, kApplianceName); !checked.ok()) {
    return fail(checked.error().message);
  }
  // -port here is the appliance's port; the server's own -port (default or file) does not apply.
  const bool port_given = invocation.command_line.values.contains(opt::port);
  const std::uint16_t port = port_given ? settings.port(opt::port) : kDefaultAppliancePort;
  const std::filesystem::path certificate_file = settings.path(opt::certificate);
  auto certificate = service::load_single_p521_certificate(certificate_file);
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
    if (!force && !service::confirmed("Appliance '" + name + "' is registered; replace it?")) {
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
  if (!invocation.settings.boolean(opt::force) &&
      !service::confirmed("Delete appliance '" + name + "'?")) {
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
      !service::confirmed(
          "Replace this host's certificate? Appliances that pinned the old one must be "
          "given the new one.")) {
    return fail("-regen: " + certificate_file.string() + " exists; add -force to replace it");
  }
  if (auto made = service::regenerate_peer_identity(common_name, certificate_file, key_file);
      !made.ok()) {
    return fail(made.error().message);
  }
  std::printf(
      "Give the certificate to every appliance that accepts PED-initiated connections from this "
      "host.\n");
  return kExitOk;
}

}  // namespace rped::pedserver
