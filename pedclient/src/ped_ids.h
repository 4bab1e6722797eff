// PED id mappings (`pedclient -mode setid|assignid|releaseid|deleteid`): which
// PED server serves PED id N (1..65534; 0 is the HSM's local PED) and which
// HSM, if any, the id is assigned to. Stored as JSON in the state directory
// (ped-ids.json, written atomically, mode 0600), so the settings survive a
// restart and `setid` works whether the daemon runs or not.
//
// Thread-safety: values and file access; the daemon reads the file on demand.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "rped/result.h"

namespace rped::pedclient {

inline constexpr std::uint32_t kMaxPedId = 65534;
inline constexpr const char* kPedIdsFileName = "ped-ids.json";

struct PedIdMapping final {
  std::string host;  // IP literal or host name
  std::uint16_t port = 1503;
  std::optional<std::uint64_t> assigned_serial;  // the HSM the id is assigned to
};

class PedIdTable final {
 public:
  // A missing file is an empty table; a damaged one is an error naming the
  // file and what is wrong (nothing is overwritten then).
  static Result<PedIdTable> load(const std::filesystem::path& file);
  Result<void> save(const std::filesystem::path& file) const;

  // Errors name the id and what is allowed.
  Result<void> set(std::uint32_t id, std::string host, std::uint16_t port);
  Result<void> erase(std::uint32_t id);
  Result<const PedIdMapping*> find(std::uint32_t id) const;
  Result<void> assign(std::uint32_t id, std::uint64_t serial);
  // The id assigned to `serial`, if any.
  std::optional<std::uint32_t> id_of(std::uint64_t serial) const;
  void release(std::uint32_t id);

  const std::map<std::uint32_t, PedIdMapping>& entries() const noexcept { return entries_; }

 private:
  std::map<std::uint32_t, PedIdMapping> entries_;
};

// Parses an HSM serial number given on the command line (-id_serialnumber):
// 1..20 decimal digits, non-zero, at most 2^64-1.
Result<std::uint64_t> parse_hsm_serial(std::string_view text);

}  // namespace rped::pedclient
