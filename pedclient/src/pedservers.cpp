#include "pedservers.h"

#include <algorithm>
#include <cstdio>
#include <system_error>

#include <nlohmann/json.hpp>

#include "rped/config/atomic_file.h"
#include "rped/config/paths.h"
#include "rped/config/pedclient_options.h"
#include "rped/service/console.h"
#include "rped/service/launcher.h"
#include "rped/service/peer_tls.h"

namespace rped::pedclient {
namespace {

namespace opt = config::pedclient::opt;

int fail(const std::string& message) {
  std::fprintf(stderr, "pedclient: %s\n", message.c_str());
  return service::kExitFailure;
}

constexpr std::string_view kPedserverName = "a PED server name";

}  // namespace

std::filesystem::path peer_certificate_path(const std::filesystem::path& state_dir) {
  return state_dir / "tls" / "pedclient.crt";
}
std::filesystem::path peer_key_path(const std::filesystem::path& state_dir) {
  return state_dir / "tls" / "pedclient.key";
}
std::filesystem::path pinned_pedserver_path(const std::filesystem::path& state_dir,
                                            const std::string& name) {
  return state_dir / "pedservers" / (name + ".pem");
}

Result<std::vector<PinnedPedserver>> load_pinned_pedservers(
    const std::filesystem::path& state_dir) {
  std::vector<PinnedPedserver> pinned;
  const std::filesystem::path directory = state_dir / "pedservers";
  std::error_code error;
  if (!std::filesystem::is_directory(directory, error)) {
    return pinned;
  }
  for (const auto& entry : std::filesystem::directory_iterator(directory, error)) {
    const std::filesystem::path& file = entry.path();
    if (file.extension() != ".pem" || !entry.is_regular_file(error)) {
      continue;  // the atomic writer's temporary files, anything else
    }
    const std::string name = file.stem().string();
    if (!service::check_peer_name(name, kPedserverName).ok()) {
      continue;
    }
    if (pinned.size() >= kMaxPinnedPedservers) {
      return make_error(Errc::invalid_argument,
                        directory.string() + ": more than " +
                            std::to_string(kMaxPinnedPedservers) + " pinned PED servers");
    }
    RPED_TRY_ASSIGN(const crypto::Certificate certificate,
                    service::load_single_p521_certificate(file));
    pinned.push_back(PinnedPedserver{name, certificate.der(),
                                     to_hex(certificate.sha256_fingerprint()),
                                     certificate.subject()});
  }
  if (error) {
    return make_error(Errc::internal, "cannot read " + directory.string() + ": " + error.message());
  }
  std::sort(pinned.begin(), pinned.end(),
            [](const PinnedPedserver& a, const PinnedPedserver& b) { return a.name < b.name; });
  return pinned;
}

int run_regen(const config::Invocation& invocation, const std::filesystem::path& state_dir) {
  const std::string common_name = invocation.settings.text(opt::commonname);
  const std::filesystem::path certificate_file = peer_certificate_path(state_dir);
  const std::filesystem::path key_file = peer_key_path(state_dir);
  std::error_code missing;
  if (std::filesystem::exists(certificate_file, missing) &&
      !invocation.settings.boolean(opt::force) &&
      !service::confirmed(
          "Replace this client's certificate? PED servers that pinned the old one must be "
          "given the new one.")) {
    return fail("-mode regen: " + certificate_file.string() + " exists; add -force to replace it");
  }
  if (auto made = service::regenerate_peer_identity(common_name, certificate_file, key_file);
      !made.ok()) {
    return fail(made.error().message);
  }
  std::printf(
      "Register the certificate on every PED server that dials this client "
      "(pedserver -appliance register -certificate FILE ...). A running client uses the new "
      "certificate after a restart.\n");
  return service::kExitOk;
}

int run_register_pedserver(const config::Invocation& invocation,
                           const std::filesystem::path& state_dir) {
  const config::Settings& settings = invocation.settings;
  const std::string name = settings.text(opt::name);
  if (auto checked = service::check_peer_name(name, kPedserverName); !checked.ok()) {
    return fail(checked.error().message);
  }
  auto certificate = service::load_single_p521_certificate(settings.path(opt::certificate));
  if (!certificate.ok()) {
    return fail("-certificate " + certificate.error().message);
  }
  auto pinned = load_pinned_pedservers(state_dir);
  if (!pinned.ok()) {
    return fail(pinned.error().message);
  }
  const bool exists = std::any_of(pinned->begin(), pinned->end(),
                                  [&name](const PinnedPedserver& p) { return p.name == name; });
  if (exists && !settings.boolean(opt::force) &&
      !service::confirmed("PED server '" + name + "' is pinned; replace its certificate?")) {
    return fail("-pedserver register: '" + name + "' is already registered; add -force to replace it");
  }
  if (!exists && pinned->size() >= kMaxPinnedPedservers) {
    return fail("-pedserver register: at most " + std::to_string(kMaxPinnedPedservers) +
                " PED servers");
  }
  const std::string fingerprint = to_hex(certificate->sha256_fingerprint());
  for (const PinnedPedserver& other : pinned.value()) {
    if (other.name != name && other.fingerprint == fingerprint) {
      return fail("-pedserver register: this certificate is pinned already as '" + other.name +
                  "'");
    }
  }
  if (auto made = config::ensure_private_directory(state_dir); !made.ok()) {
    return fail(made.error().message);
  }
  if (auto made = config::ensure_private_directory(state_dir / "pedservers"); !made.ok()) {
    return fail(made.error().message);
  }
  if (auto written = config::write_file_atomically(pinned_pedserver_path(state_dir, name),
                                                   certificate->pem());
      !written.ok()) {
    return fail(written.error().message);
  }
  std::printf("PED server '%s' registered: it may dial this client (PED-initiated mode).\n",
              name.c_str());
  std::printf("  certificate subject: %s\n", certificate->subject().c_str());
  std::printf("  SHA-256 fingerprint: %s\n", fingerprint.c_str());
  return service::kExitOk;
}

int run_list_pedservers(const config::Invocation& invocation,
                        const std::filesystem::path& state_dir) {
  auto pinned = load_pinned_pedservers(state_dir);
  if (!pinned.ok()) {
    return fail(pinned.error().message);
  }
  if (invocation.settings.text(opt::format) == "json") {
    nlohmann::json list = nlohmann::json::array();
    for (const PinnedPedserver& p : pinned.value()) {
      list.push_back({{"name", p.name}, {"subject", p.subject}, {"fingerprint_sha256", p.fingerprint}});
    }
    std::printf("%s\n", nlohmann::json{{"pedservers", list}}.dump(2).c_str());
    return service::kExitOk;
  }
  if (pinned->empty()) {
    std::printf("No PED servers are registered.\n");
    return service::kExitOk;
  }
  std::printf("%-24s %-32s %s\n", "Name", "Subject", "Certificate SHA-256");
  for (const PinnedPedserver& p : pinned.value()) {
    std::printf("%-24s %-32s %s\n", p.name.c_str(), p.subject.c_str(), p.fingerprint.c_str());
  }
  return service::kExitOk;
}

int run_delete_pedserver(const config::Invocation& invocation,
                         const std::filesystem::path& state_dir) {
  const std::string name = invocation.settings.text(opt::name);
  if (auto checked = service::check_peer_name(name, kPedserverName); !checked.ok()) {
    return fail(checked.error().message);
  }
  const std::filesystem::path file = pinned_pedserver_path(state_dir, name);
  std::error_code error;
  if (!std::filesystem::exists(file, error)) {
    return fail("no PED server named '" + name +
                "' is registered (see 'pedclient -pedserver list')");
  }
  if (!invocation.settings.boolean(opt::force) &&
      !service::confirmed("Delete PED server '" + name + "'?")) {
    return fail("-pedserver delete: add -force to delete '" + name + "' without confirmation");
  }
  if (!std::filesystem::remove(file, error) || error) {
    return fail("cannot delete " + file.string() + ": " + error.message());
  }
  std::printf("PED server '%s' deleted; it can no longer dial this client.\n", name.c_str());
  return service::kExitOk;
}

}  // namespace rped::pedclient
