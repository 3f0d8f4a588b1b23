#!/usr/bin/python3
"""A private D-Bus "system bus" for the voice-to-voice bench, as a laptop has one:
NetworkManager with a Wi-Fi device and three networks around, UPower with a battery
at 87% (python-dbusmock templates, as the tool tests use). Prints the bus address
on its first line, then runs until its standard input closes.

  /usr/bin/python3 benches/mock-system-bus.py   (python3-dbusmock: `make setup`)
"""
import os, subprocess, sys, tempfile, time

import dbus


def main():
    tmp = tempfile.mkdtemp(prefix="aios-bench-bus.")
    daemon = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1", f"--address=unix:path={tmp}/bus"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    address = daemon.stdout.readline().strip()
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=address)
    mocks = [subprocess.Popen([sys.executable, "-m", "dbusmock", "--system", "--template", t],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for t in ("networkmanager", "upower")]
    try:
        bus = dbus.bus.BusConnection(address)
        for name in ("org.freedesktop.NetworkManager", "org.freedesktop.UPower"):
            deadline = time.monotonic() + 20
            while not bus.name_has_owner(name):
                if time.monotonic() > deadline:
                    sys.exit(f"mock-system-bus: {name} did not appear (python3-dbusmock: `make setup`)")
                time.sleep(0.05)
        nm = dbus.Interface(bus.get_object("org.freedesktop.NetworkManager", "/org/freedesktop"),
                            "org.freedesktop.DBus.Mock")
        dev = nm.AddWiFiDevice("wlan0", "wlan0", dbus.UInt32(100))
        for name, ssid, strength, security in (("ap1", "HomeNet", 80, 0x100), ("ap2", "CafeFree", 45, 0),
                                               ("ap3", "Neighbour", 20, 0x100)):
            nm.AddAccessPoint(dev, name, ssid, "00:11:22:33:44:55", dbus.UInt32(2), dbus.UInt32(2437),
                              dbus.UInt32(5400), dbus.Byte(strength), dbus.UInt32(security))
        up = dbus.Interface(bus.get_object("org.freedesktop.UPower", "/org/freedesktop/UPower"),
                            "org.freedesktop.DBus.Mock")
        # type 2 = battery, state 2 = discharging, 87%, 40 of 46 Wh, 10 W, an hour left.
        up.SetupDisplayDevice(dbus.UInt32(2), dbus.UInt32(2), 87.0, 40.0, 46.0, 10.0, dbus.Int64(3600),
                              dbus.Int64(0), True, "battery-good", dbus.UInt32(1))
        print(address, flush=True)
        sys.stdin.read()
    finally:
        for p in mocks + [daemon]:
            p.terminate()
        for p in mocks + [daemon]:
            p.wait()
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
