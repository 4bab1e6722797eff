#include "mock_usb_ped.h"

#include <sys/ioctl.h>
// sys/ioctl.h first: linux/usbdevice_fs.h uses _IOR/_IOW without including it.
#include <linux/usbdevice_fs.h>
#include <umockdev.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "rped/ped/device_protocol.h"

namespace rped::usbtest {

namespace {

std::string hex_of(const Bytes& bytes) {
  std::string out;
  char two[3];
  for (const std::uint8_t b : bytes) {
    std::snprintf(two, sizeof two, "%02x", b);
    out += two;
  }
  return out;
}

void put_u16(Bytes& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v & 0xff));
  out.push_back(static_cast<std::uint8_t>(v >> 8));
}

// USB 2.0 §9.6: device, configuration, interface and endpoint descriptors, as
// the kernel exposes them in the sysfs "descriptors" attribute.
Bytes descriptors_of(const MockUsbPedConfig& c) {
  Bytes d;
  // Device: bcdUSB 2.00, class per interface, EP0 64 bytes, strings 1/2/3, one configuration.
  d.insert(d.end(), {18, 1});
  put_u16(d, 0x0200);
  d.insert(d.end(), {0, 0, 0, 64});
  put_u16(d, c.vendor_id);
  put_u16(d, c.product_id);
  put_u16(d, 0x0100);
  d.insert(d.end(), {1, 2, 3, 1});
  // Configuration 1: one interface, bus powered, 100 mA.
  d.insert(d.end(), {9, 2});
  put_u16(d, 9 + 9 + 7 + 7);
  d.insert(d.end(), {1, 1, 0, 0x80, 50});
  // Interface 0: vendor specific (0xFF), two endpoints.
  d.insert(d.end(), {9, 4, 0, 0, 2, 0xff, 0, 0, 0});
  // Bulk OUT 0x01 and bulk IN 0x81.
  d.insert(d.end(), {7, 5, 0x01, 0x02});
  put_u16(d, c.max_packet);
  d.push_back(0);
  d.insert(d.end(), {7, 5, 0x81, 0x02});
  put_u16(d, c.max_packet);
  d.push_back(0);
  return d;
}

Bytes string_descriptor(std::uint8_t index, const MockUsbPedConfig& c) {
  if (index == 0) {
    return Bytes{4, 3, 0x09, 0x04};  // LANGID en-US
  }
  std::string text;
  switch (index) {
    case 1:
      text = "Remote PED test";
      break;
    case 2:
      text = "PED (emulated)";
      break;
    case 3:
      text = c.serial;
      break;
    default:
      return {};
  }
  Bytes d{static_cast<std::uint8_t>(2 + 2 * text.size()), 3};
  for (const char ch : text) {
    d.push_back(static_cast<std::uint8_t>(ch));
    d.push_back(0);
  }
  return d;
}

usbdevfs_urb* urb_of(UMockdevIoctlData* data) {
  return reinterpret_cast<usbdevfs_urb*>(data->data);
}

}  // namespace

bool running_under_umockdev() {
  const char* const preload = std::getenv("LD_PRELOAD");
  return preload != nullptr && std::strstr(preload, "umockdev-preload") != nullptr;
}

// ---------------------------------------------------------------------------
// MockUsbPed

MockUsbPed::MockUsbPed(UsbTestbed& testbed, MockUsbPedConfig config, DeviceLogic* logic)
    : testbed_(testbed), config_(std::move(config)), logic_(logic) {
  stats_.driver_bound = config_.kernel_driver_bound;
  handler_ = umockdev_ioctl_base_new();
  g_signal_connect(handler_, "handle-ioctl", G_CALLBACK(&MockUsbPed::on_ioctl), this);
}

MockUsbPed::~MockUsbPed() {
  {
    const std::lock_guard lock(mutex_);
    for (Urb& urb : pending_in_) {
      release(urb);
    }
    for (Urb& urb : reapable_) {
      release(urb);
    }
    pending_in_.clear();
    reapable_.clear();
  }
  g_object_unref(handler_);
}

std::string MockUsbPed::devnode() const {
  char path[64];
  std::snprintf(path, sizeof path, "/dev/bus/usb/%03u/%03u", config_.bus, config_.address);
  return path;
}

std::string MockUsbPed::syspath() const {
  return "/sys/devices/usb" + std::to_string(config_.bus) + "/" + config_.sysfs_name;
}

bool MockUsbPed::unplugged() const {
  const std::lock_guard lock(mutex_);
  return unplugged_;
}

MockUsbStats MockUsbPed::stats() const {
  const std::lock_guard lock(mutex_);
  return stats_;
}

void MockUsbPed::inject(Bytes bytes) {
  const std::lock_guard lock(mutex_);
  if (unplugged_) {
    return;
  }
  tx_.push_back(std::move(bytes));
  // The IN URB is filled on the next reap (libusb reaps continuously), so all
  // UMockdevIoctlData handling stays on umockdev's thread.
}

void MockUsbPed::release(Urb& urb) {
  if (urb.buffer != nullptr) {
    umockdev_ioctl_data_unref(urb.buffer);
    urb.buffer = nullptr;
  }
  if (urb.urb != nullptr) {
    umockdev_ioctl_data_unref(urb.urb);
    urb.urb = nullptr;
  }
}

int MockUsbPed::on_ioctl(UMockdevIoctlBase* /*handler*/, UMockdevIoctlClient* client, void* self) {
  return static_cast<MockUsbPed*>(self)->handle(client) ? TRUE : FALSE;
}

bool MockUsbPed::handle(UMockdevIoctlClient* client) {
  const gulong request = umockdev_ioctl_client_get_request(client);
  static const bool trace = std::getenv("RPED_MOCK_TRACE") != nullptr;
  if (trace && request != USBDEVFS_REAPURBNDELAY) {
    std::fprintf(stderr, "[mock %s] ioctl 0x%lx from client %p\n", devnode().c_str(), request,
                 static_cast<void*>(client));
  }
  UMockdevIoctlData* const arg = umockdev_ioctl_client_get_arg(client);
  switch (request) {
    case USBDEVFS_GET_CAPABILITIES: {
      UMockdevIoctlData* const caps =
          umockdev_ioctl_data_resolve(arg, 0, sizeof(std::uint32_t), nullptr);
      *reinterpret_cast<std::uint32_t*>(caps->data) =
          USBDEVFS_CAP_BULK_CONTINUATION | USBDEVFS_CAP_NO_PACKET_SIZE_LIM |
          USBDEVFS_CAP_REAP_AFTER_DISCONNECT | USBDEVFS_CAP_ZERO_PACKET;
      umockdev_ioctl_data_unref(caps);
      umockdev_ioctl_client_complete(client, 0, 0);
      return true;
    }
    case USBDEVFS_CLAIMINTERFACE:
    case USBDEVFS_RELEASEINTERFACE: {
      const std::lock_guard lock(mutex_);
      if (unplugged_) {
        umockdev_ioctl_client_complete(client, -1, ENODEV);
        return true;
      }
      if (request == USBDEVFS_CLAIMINTERFACE) {
        // usbfs: an interface claimed through another open file is busy.
        if (claimant_ != nullptr && claimant_ != client) {
          umockdev_ioctl_client_complete(client, -1, EBUSY);
          return true;
        }
        claimant_ = client;
        ++stats_.claims;
      } else {
        if (claimant_ == client) {
          claimant_ = nullptr;
        }
        ++stats_.releases;
      }
      umockdev_ioctl_client_complete(client, 0, 0);
      return true;
    }
    case USBDEVFS_SETINTERFACE:
    case USBDEVFS_CLEAR_HALT:
    case USBDEVFS_RESETEP:
    case USBDEVFS_RESET:
      umockdev_ioctl_client_complete(client, unplugged() ? -1 : 0, unplugged() ? ENODEV : 0);
      return true;
    case USBDEVFS_GETDRIVER: {
      UMockdevIoctlData* const data =
          umockdev_ioctl_data_resolve(arg, 0, sizeof(usbdevfs_getdriver), nullptr);
      auto* const get = reinterpret_cast<usbdevfs_getdriver*>(data->data);
      const std::lock_guard lock(mutex_);
      if (stats_.driver_bound) {
        std::snprintf(get->driver, sizeof get->driver, "%s", "rped-test-hid");
        umockdev_ioctl_client_complete(client, 0, 0);
      } else {
        umockdev_ioctl_client_complete(client, -1, ENODATA);
      }
      umockdev_ioctl_data_unref(data);
      return true;
    }
    case USBDEVFS_IOCTL: {
      UMockdevIoctlData* const data =
          umockdev_ioctl_data_resolve(arg, 0, sizeof(usbdevfs_ioctl), nullptr);
      const int code = reinterpret_cast<usbdevfs_ioctl*>(data->data)->ioctl_code;
      umockdev_ioctl_data_unref(data);
      const std::lock_guard lock(mutex_);
      if (code == static_cast<int>(USBDEVFS_DISCONNECT)) {
        if (!stats_.driver_bound) {
          umockdev_ioctl_client_complete(client, -1, ENODATA);
          return true;
        }
        stats_.driver_bound = false;
        stats_.driver_detached = true;
        umockdev_ioctl_client_complete(client, 0, 0);
        return true;
      }
      if (code == static_cast<int>(USBDEVFS_CONNECT)) {
        stats_.driver_bound = true;
        stats_.driver_reattached = true;
        umockdev_ioctl_client_complete(client, 0, 0);
        return true;
      }
      umockdev_ioctl_client_complete(client, -1, ENOTTY);
      return true;
    }
    case USBDEVFS_DISCONNECT_CLAIM: {
      const std::lock_guard lock(mutex_);
      stats_.driver_bound = false;
      claimant_ = client;
      ++stats_.claims;
      umockdev_ioctl_client_complete(client, 0, 0);
      return true;
    }
    case USBDEVFS_SUBMITURB:
      submit(client);
      return true;
    case USBDEVFS_DISCARDURB: {
      const gulong address = *reinterpret_cast<const gulong*>(arg->data);
      const std::lock_guard lock(mutex_);
      for (auto it = pending_in_.begin(); it != pending_in_.end(); ++it) {
        if (it->owner == client && it->urb->client_addr == address) {
          usbdevfs_urb* const urb = urb_of(it->urb);
          urb->status = -ENOENT;
          urb->actual_length = 0;
          reapable_.push_back(*it);
          pending_in_.erase(it);
          ++stats_.discards;
          umockdev_ioctl_client_complete(client, 0, 0);
          return true;
        }
      }
      umockdev_ioctl_client_complete(client, -1, EINVAL);
      return true;
    }
    case USBDEVFS_REAPURB:
    case USBDEVFS_REAPURBNDELAY:
      reap(client);
      return true;
    default:
      umockdev_ioctl_client_complete(client, -1, ENOTTY);
      return true;
  }
}

void MockUsbPed::submit(UMockdevIoctlClient* client) {
  UMockdevIoctlData* const arg = umockdev_ioctl_client_get_arg(client);
  Urb urb;
  urb.owner = client;
  urb.urb = umockdev_ioctl_data_resolve(arg, 0, sizeof(usbdevfs_urb), nullptr);
  usbdevfs_urb* const u = urb_of(urb.urb);
  if (u->buffer_length > 0) {
    urb.buffer = umockdev_ioctl_data_resolve(urb.urb, G_STRUCT_OFFSET(usbdevfs_urb, buffer),
                                             static_cast<gsize>(u->buffer_length), nullptr);
  }
  std::vector<Bytes> frames;  // to the device logic, outside the lock
  {
    const std::lock_guard lock(mutex_);
    if (unplugged_) {
      release(urb);
      umockdev_ioctl_client_complete(client, -1, ENODEV);
      return;
    }
    if (u->type == USBDEVFS_URB_TYPE_CONTROL) {
      ++stats_.control_urbs;
      complete_control_locked(urb);
      reapable_.push_back(urb);
    } else if (u->type == USBDEVFS_URB_TYPE_BULK && u->endpoint == 0x01) {
      ++stats_.out_urbs;
      stats_.out_urb_times.push_back(std::chrono::steady_clock::now());
      stats_.out_urb_lengths.push_back(u->buffer_length);
      if (urb.buffer != nullptr) {
        rx_.insert(rx_.end(), urb.buffer->data, urb.buffer->data + u->buffer_length);
      }
      u->actual_length = u->buffer_length;
      u->status = 0;
      reapable_.push_back(urb);
      // Device side: cut the host's byte stream into frames by their length prefix.
      while (rx_.size() >= 4) {
        const auto size = ped::device_frame_size(ByteView(rx_).first(4));
        if (!size.ok()) {
          rx_.clear();  // a real PED would resynchronize on reset; the tests never get here
          break;
        }
        if (rx_.size() < size.value()) {
          break;
        }
        frames.emplace_back(rx_.begin(), rx_.begin() + static_cast<std::ptrdiff_t>(size.value()));
        rx_.erase(rx_.begin(), rx_.begin() + static_cast<std::ptrdiff_t>(size.value()));
      }
    } else if (u->type == USBDEVFS_URB_TYPE_BULK && u->endpoint == 0x81) {
      ++stats_.in_urbs;
      pending_in_.push_back(urb);
      fill_pending_in_locked();
    } else {
      release(urb);
      umockdev_ioctl_client_complete(client, -1, EINVAL);
      return;
    }
  }
  umockdev_ioctl_client_complete(client, 0, 0);
  if (logic_ != nullptr) {
    for (const Bytes& frame : frames) {
      logic_->on_host_frame(frame);
    }
  }
}

void MockUsbPed::complete_control_locked(Urb& urb) {
  usbdevfs_urb* const u = urb_of(urb.urb);
  u->status = -EPIPE;  // stall anything but GET_DESCRIPTOR(STRING)
  u->actual_length = 0;
  if (urb.buffer == nullptr || u->buffer_length < 8) {
    return;
  }
  const std::uint8_t* const setup = urb.buffer->data;
  const std::uint8_t request_type = setup[0];
  const std::uint8_t request = setup[1];
  const auto value = static_cast<std::uint16_t>(setup[2] | (setup[3] << 8));
  const auto length = static_cast<std::uint16_t>(setup[6] | (setup[7] << 8));
  if (request_type != 0x80 || request != 0x06 || (value >> 8) != 3) {
    return;
  }
  const Bytes descriptor = string_descriptor(static_cast<std::uint8_t>(value & 0xff), config_);
  if (descriptor.empty()) {
    return;
  }
  const std::size_t room = static_cast<std::size_t>(u->buffer_length) - 8;
  const std::size_t n = std::min({descriptor.size(), static_cast<std::size_t>(length), room});
  std::memcpy(urb.buffer->data + 8, descriptor.data(), n);
  u->actual_length = static_cast<int>(n);
  u->status = 0;
}

void MockUsbPed::fill_pending_in_locked() {
  while (!pending_in_.empty() && !tx_.empty()) {
    Urb urb = pending_in_.front();
    usbdevfs_urb* const u = urb_of(urb.urb);
    const auto room = static_cast<std::size_t>(u->buffer_length);
    std::size_t filled = 0;
    while (filled < room && !tx_.empty()) {
      const Bytes& front = tx_.front();
      const std::size_t n = std::min(room - filled, front.size() - tx_offset_);
      std::memcpy(urb.buffer->data + filled, front.data() + tx_offset_, n);
      filled += n;
      tx_offset_ += n;
      if (tx_offset_ == front.size()) {
        tx_.pop_front();
        tx_offset_ = 0;
        if (!config_.stream_in) {
          break;  // the frame's last (short) packet ends the transfer
        }
      }
    }
    u->actual_length = static_cast<int>(filled);
    u->status = 0;
    pending_in_.pop_front();
    reapable_.push_back(urb);
  }
}

void MockUsbPed::reap(UMockdevIoctlClient* client) {
  UMockdevIoctlData* const arg = umockdev_ioctl_client_get_arg(client);
  const std::lock_guard lock(mutex_);
  fill_pending_in_locked();
  // usbfs reaps per open file: several handles on one PED never see each other's URBs.
  const auto mine = std::find_if(reapable_.begin(), reapable_.end(),
                                 [&](const Urb& u) { return u.owner == client; });
  if (mine == reapable_.end()) {
    umockdev_ioctl_client_complete(client, -1, unplugged_ ? ENODEV : EAGAIN);
    return;
  }
  Urb urb = *mine;
  reapable_.erase(mine);
  // The argument is where the kernel writes the reaped URB's address.
  UMockdevIoctlData* const slot = umockdev_ioctl_data_resolve(arg, 0, sizeof(void*), nullptr);
  umockdev_ioctl_data_set_ptr(slot, 0, urb.urb);
  umockdev_ioctl_data_unref(slot);
  release(urb);
  umockdev_ioctl_client_complete(client, 0, 0);
}

void MockUsbPed::mark_unplugged() {
  const std::lock_guard lock(mutex_);
  unplugged_ = true;
  // The host controller gives back every URB of a vanished device with -ESHUTDOWN.
  for (Urb& urb : pending_in_) {
    usbdevfs_urb* const u = urb_of(urb.urb);
    u->status = -ESHUTDOWN;
    u->actual_length = 0;
    reapable_.push_back(urb);
  }
  pending_in_.clear();
  tx_.clear();
  tx_offset_ = 0;
  rx_.clear();
}

// ---------------------------------------------------------------------------
// UsbTestbed

UsbTestbed::UsbTestbed() : testbed_(umockdev_testbed_new()) {
  if (testbed_ == nullptr) {
    throw std::runtime_error("umockdev_testbed_new failed");
  }
}

UsbTestbed::~UsbTestbed() {
  for (const auto& ped : peds_) {
    if (!ped->unplugged() && ped->logic_ != nullptr) {
      ped->logic_->detach_host();
    }
  }
  g_object_unref(testbed_);
  peds_.clear();
}

MockUsbPed& UsbTestbed::plug(MockUsbPedConfig config, DeviceLogic* logic) {
  auto ped = std::make_unique<MockUsbPed>(*this, std::move(config), logic);
  MockUsbPed& self = *ped;
  const MockUsbPedConfig& c = self.config();
  GError* error = nullptr;
  // The handler first, so the node answers as soon as libusb hears of the device.
  if (umockdev_testbed_attach_ioctl(testbed_, self.devnode().c_str(), self.handler_, &error) ==
      FALSE) {
    const std::string message = error != nullptr ? error->message : "unknown";
    g_clear_error(&error);
    throw std::runtime_error("umockdev_testbed_attach_ioctl: " + message);
  }
  char ids[64];
  std::snprintf(ids, sizeof ids, "%03u", c.bus);
  const std::string busnum = ids;
  std::snprintf(ids, sizeof ids, "%03u", c.address);
  const std::string devnum = ids;
  std::snprintf(ids, sizeof ids, "%04x", c.vendor_id);
  const std::string vendor = ids;
  std::snprintf(ids, sizeof ids, "%04x", c.product_id);
  const std::string product = ids;
  std::snprintf(ids, sizeof ids, "%x/%x/100", c.vendor_id, c.product_id);
  const std::string product_property = ids;
  const std::string record = "P: /devices/usb" + std::to_string(c.bus) + "/" + c.sysfs_name + "\n" +
                             "N: bus/usb/" + busnum + "/" + devnum +
                             "\n"
                             "E: SUBSYSTEM=usb\n"
                             "E: DEVTYPE=usb_device\n"
                             "E: DRIVER=usb\n"
                             "E: BUSNUM=" +
                             busnum +
                             "\n"
                             "E: DEVNUM=" +
                             devnum +
                             "\n"
                             "E: DEVNAME=/dev/bus/usb/" +
                             busnum + "/" + devnum +
                             "\n"
                             "E: PRODUCT=" +
                             product_property +
                             "\n"
                             "A: idVendor=" +
                             vendor +
                             "\\n\n"
                             "A: idProduct=" +
                             product +
                             "\\n\n"
                             "A: serial=" +
                             c.serial +
                             "\\n\n"
                             "A: manufacturer=Remote PED test\\n\n"
                             "A: product=PED (emulated)\\n\n"
                             "A: busnum=" +
                             std::to_string(c.bus) +
                             "\\n\n"
                             "A: devnum=" +
                             std::to_string(c.address) +
                             "\\n\n"
                             "A: speed=12\\n\n"
                             "A: bConfigurationValue=1\\n\n"
                             "A: bNumInterfaces= 1\\n\n"
                             "H: descriptors=" +
                             hex_of(descriptors_of(c)) + "\n";
  if (umockdev_testbed_add_from_string(testbed_, record.c_str(), &error) == FALSE) {
    const std::string message = error != nullptr ? error->message : "unknown";
    g_clear_error(&error);
    throw std::runtime_error("umockdev_testbed_add_from_string: " + message);
  }
  if (logic != nullptr) {
    logic->attach_host([&self](Bytes frame) { self.inject(std::move(frame)); });
  }
  umockdev_testbed_uevent(testbed_, self.syspath().c_str(), "add");
  peds_.push_back(std::move(ped));
  return self;
}

void UsbTestbed::unplug(MockUsbPed& ped) {
  ped.mark_unplugged();
  if (ped.logic_ != nullptr) {
    ped.logic_->detach_host();
  }
  // The uevent reads the device's properties from sysfs, so it goes before the removal.
  umockdev_testbed_uevent(testbed_, ped.syspath().c_str(), "remove");
  umockdev_testbed_remove_device(testbed_, ped.syspath().c_str());
}

}  // namespace rped::usbtest
