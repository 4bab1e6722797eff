// The result codes hsmsim's commands return: PKCS#11 CK_RV values, with the
// Luna vendor-defined ones (CKR_VENDOR_DEFINED = 0x80000000 + n) the Luna
// documentation names. docs/hsmsim.md lists when each is returned.
//
// Thread-safety: constant data and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rped::hsmsim {

enum class ResultCode : std::uint32_t {
  ok = 0x00000000,                              // CKR_OK
  general_error = 0x00000005,                   // CKR_GENERAL_ERROR
  function_failed = 0x00000006,                 // CKR_FUNCTION_FAILED
  arguments_bad = 0x00000007,                   // CKR_ARGUMENTS_BAD
  device_error = 0x00000030,                    // CKR_DEVICE_ERROR
  function_canceled = 0x00000050,               // CKR_FUNCTION_CANCELED
  pin_incorrect = 0x000000A0,                   // CKR_PIN_INCORRECT
  pin_locked = 0x000000A4,                      // CKR_PIN_LOCKED
  token_not_present = 0x000000E0,               // CKR_TOKEN_NOT_PRESENT
  user_already_logged_in = 0x00000100,          // CKR_USER_ALREADY_LOGGED_IN
  user_not_logged_in = 0x00000101,              // CKR_USER_NOT_LOGGED_IN
  user_pin_not_initialized = 0x00000102,        // CKR_USER_PIN_NOT_INITIALIZED
  user_type_invalid = 0x00000103,               // CKR_USER_TYPE_INVALID
  user_another_already_logged_in = 0x00000104,  // CKR_USER_ANOTHER_ALREADY_LOGGED_IN
  user_not_authorized = 0x8000001A,             // CKR_USER_NOT_AUTHORIZED
  so_login_failure_threshold = 0x8000001C,      // CKR_SO_LOGIN_FAILURE_THRESHOLD
  unable_to_connect = 0x8000001F,               // CKR_UNABLE_TO_CONNECT
  callback_error = 0x80000021,                  // CKR_CALLBACK_ERROR
  timeout = 0x80000024,                         // CKR_TIMEOUT
  ped_client_not_running = 0x8000002D,          // CKR_PED_CLIENT_NOT_RUNNING
  ped_unplugged = 0x8000002E,                   // CKR_PED_UNPLUGGED
  operation_not_allowed = 0x80000030,           // CKR_OPERATION_NOT_ALLOWED
  log_full = 0x80000035,                        // CKR_LOG_FULL (issue 7)
  audit_login_failure_threshold = 0x8000003C,   // CKR_AUDIT_LOGIN_FAILURE_THRESHOLD
};

// "CKR_PED_UNPLUGGED", ...
std::string_view result_name(ResultCode code) noexcept;
std::optional<ResultCode> result_from_name(std::string_view name) noexcept;
// LunaCM's last line: "Command Result : No Error" or
// "Command Result : 0x8000002e (CKR_PED_UNPLUGGED)".
std::string result_line(ResultCode code);

}  // namespace rped::hsmsim
