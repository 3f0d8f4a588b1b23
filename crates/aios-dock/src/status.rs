//! The dock's right side: Wi-Fi (NetworkManager), volume (PipeWire) and battery
//! (UPower), read by the dock itself, not through the agent: they are the
//! computer's state, not the assistant's.
//!
//! Each item is `None` when its service is missing (no NetworkManager, no Wi-Fi
//! device, no PipeWire, a desktop without a battery): the item is hidden rather than
//! shown as an error. Everything is read again every 5 s, and at once when
//! NetworkManager or UPower signal a change.

use std::time::Duration;

use iced::futures::{SinkExt, Stream, StreamExt};
use tokio::process::Command;
use zbus::zvariant::OwnedObjectPath;

/// How often everything is read when no signal came.
pub const REFRESH: Duration = Duration::from_secs(5);

const NM: &str = "org.freedesktop.NetworkManager";
const NM_PATH: &str = "/org/freedesktop/NetworkManager";
const DEVICE: &str = "org.freedesktop.NetworkManager.Device";
const ACTIVE: &str = "org.freedesktop.NetworkManager.Connection.Active";
const WIRELESS: &str = "org.freedesktop.NetworkManager.Device.Wireless";
const AP: &str = "org.freedesktop.NetworkManager.AccessPoint";
const TYPE_WIFI: u32 = 2;
const UPOWER: &str = "org.freedesktop.UPower";
const DISPLAY_DEVICE: &str = "/org/freedesktop/UPower/devices/DisplayDevice";
const UPOWER_DEVICE: &str = "org.freedesktop.UPower.Device";
const TYPE_BATTERY: u32 = 2;
const SINK: &str = "@DEFAULT_AUDIO_SINK@";

/// What the right side shows besides the clock.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status {
    /// Wi-Fi, when NetworkManager has a Wi-Fi device.
    pub wifi: Option<Wifi>,
    /// The default output, when PipeWire answers.
    pub volume: Option<Volume>,
    /// The battery, when UPower reports one.
    pub battery: Option<Battery>,
}

/// The Wi-Fi device's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wifi {
    /// Wireless is switched off.
    Off,
    /// On, not connected.
    Disconnected,
    /// Connected to `ssid` with `strength` percent.
    Connected {
        /// The network's name.
        ssid: String,
        /// Signal, 0 to 100.
        strength: u8,
    },
}

/// The default output's level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Volume {
    /// Percent (PipeWire allows more than 100).
    pub percent: u16,
    /// Muted.
    pub muted: bool,
}

/// The battery's charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Battery {
    /// Percent.
    pub percent: u8,
    /// Charging (or full on the charger).
    pub charging: bool,
}

impl Status {
    /// The Wi-Fi item's words.
    pub fn wifi_label(&self) -> Option<String> {
        self.wifi.as_ref().map(|w| match w {
            Wifi::Off => "Wi-Fi off".to_owned(),
            Wifi::Disconnected => "Wi-Fi: not connected".to_owned(),
            Wifi::Connected { ssid, strength } => {
                format!(
                    "Wi-Fi {} {strength}%",
                    aios_common::text::cut_middle(ssid, 24)
                )
            }
        })
    }

    /// The volume item's words.
    pub fn volume_label(&self) -> Option<String> {
        self.volume.map(|v| {
            if v.muted {
                format!("Muted ({}%)", v.percent)
            } else {
                format!("Vol {}%", v.percent)
            }
        })
    }

    /// The battery item's words.
    pub fn battery_label(&self) -> Option<String> {
        self.battery.map(|b| {
            format!(
                "Battery {}%{}",
                b.percent,
                if b.charging { " charging" } else { "" }
            )
        })
    }
}

/// Where the services are: the system bus address (`None`: the standard one, or
/// `DBUS_SYSTEM_BUS_ADDRESS`) and the environment `wpctl` runs with (the session's
/// own when empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Sources {
    /// A system bus other than the standard one.
    pub system_bus: Option<String>,
    /// Extra environment for `wpctl` (a PipeWire of its own in tests).
    pub wpctl_env: Vec<(String, String)>,
}

impl Sources {
    /// Connects to the system bus; `None` when there is none.
    pub async fn system_bus(&self) -> Option<zbus::Connection> {
        let conn = match &self.system_bus {
            Some(addr) => match zbus::connection::Builder::address(addr.as_str()) {
                Ok(b) => b.build().await,
                Err(e) => Err(e),
            },
            None => zbus::Connection::system().await,
        };
        conn.map_err(|e| tracing::debug!("no system bus: {e}")).ok()
    }

    fn wpctl(&self) -> Command {
        let mut c = Command::new("wpctl");
        c.envs(self.wpctl_env.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        c
    }

    /// Everything, as it is now.
    pub async fn read(&self, bus: Option<&zbus::Connection>) -> Status {
        let (wifi, battery) = match bus {
            Some(bus) => (wifi(bus).await, battery(bus).await),
            None => (None, None),
        };
        Status {
            wifi,
            volume: self.volume().await,
            battery,
        }
    }

    /// The default output's level; `None` without PipeWire.
    pub async fn volume(&self) -> Option<Volume> {
        let out = self
            .wpctl()
            .args(["get-volume", SINK])
            .output()
            .await
            .ok()?;
        if !out.status.success() {
            return None;
        }
        parse_volume(&String::from_utf8_lossy(&out.stdout))
    }

    /// Turns the default output up (`steps` > 0) or down by 5% a step, at most
    /// 100%.
    pub async fn change_volume(&self, steps: i32) {
        if steps == 0 {
            return;
        }
        let change = format!(
            "{}%{}",
            5 * steps.unsigned_abs(),
            if steps > 0 { "+" } else { "-" }
        );
        self.run_wpctl(&["set-volume", "-l", "1.0", SINK, &change])
            .await;
    }

    /// Mutes or unmutes the default output.
    pub async fn toggle_mute(&self) {
        self.run_wpctl(&["set-mute", SINK, "toggle"]).await;
    }

    async fn run_wpctl(&self, args: &[&str]) {
        match self.wpctl().args(args).output().await {
            Ok(o) if o.status.success() => {}
            Ok(o) => tracing::warn!(
                "wpctl {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => tracing::warn!("cannot run wpctl ({e}); install wireplumber"),
        }
    }
}

/// `wpctl get-volume` output: `Volume: 0.40` or `Volume: 0.40 [MUTED]`.
pub fn parse_volume(out: &str) -> Option<Volume> {
    let rest = out.trim().strip_prefix("Volume:")?.trim();
    let level: f32 = rest.split_whitespace().next()?.parse().ok()?;
    Some(Volume {
        percent: (level * 100.0).round().clamp(0.0, 1000.0) as u16,
        muted: rest.contains("[MUTED]"),
    })
}

async fn proxy<'a>(
    bus: &zbus::Connection,
    dest: &'a str,
    path: impl Into<String>,
    iface: &'a str,
) -> zbus::Result<zbus::Proxy<'a>> {
    zbus::proxy::Builder::new(bus)
        .destination(dest)?
        .path(path.into())?
        .interface(iface)?
        // Read fresh each time: the dock reads every few seconds anyway.
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
}

/// The first Wi-Fi device's state; `None` without NetworkManager or Wi-Fi.
pub async fn wifi(bus: &zbus::Connection) -> Option<Wifi> {
    let nm = proxy(bus, NM, NM_PATH, NM).await.ok()?;
    let devices: Vec<OwnedObjectPath> = nm.call("GetDevices", &()).await.ok()?;
    for dev in devices {
        let d = proxy(bus, NM, dev.as_str(), DEVICE).await.ok()?;
        if d.get_property::<u32>("DeviceType").await.ok() != Some(TYPE_WIFI) {
            continue;
        }
        if !nm
            .get_property::<bool>("WirelessEnabled")
            .await
            .unwrap_or(true)
        {
            return Some(Wifi::Off);
        }
        return Some(match access_point(bus, &d, dev.as_str()).await {
            Some(ap) => connected(bus, ap).await.unwrap_or(Wifi::Disconnected),
            None => Wifi::Disconnected,
        });
    }
    None
}

/// The access point the device is connected through: its active connection's
/// specific object, else the device's `ActiveAccessPoint`.
async fn access_point(
    bus: &zbus::Connection,
    device: &zbus::Proxy<'_>,
    path: &str,
) -> Option<OwnedObjectPath> {
    let real = |p: &OwnedObjectPath| p.as_str() != "/";
    if let Ok(active) = device
        .get_property::<OwnedObjectPath>("ActiveConnection")
        .await
        && real(&active)
        && let Ok(a) = proxy(bus, NM, active.as_str(), ACTIVE).await
        && let Ok(ap) = a.get_property::<OwnedObjectPath>("SpecificObject").await
        && real(&ap)
    {
        return Some(ap);
    }
    let w = proxy(bus, NM, path, WIRELESS).await.ok()?;
    let ap: OwnedObjectPath = w.get_property("ActiveAccessPoint").await.ok()?;
    real(&ap).then_some(ap)
}

async fn connected(bus: &zbus::Connection, ap: OwnedObjectPath) -> Option<Wifi> {
    let a = proxy(bus, NM, ap.as_str(), AP).await.ok()?;
    let ssid: Vec<u8> = a.get_property("Ssid").await.ok()?;
    let strength: u8 = a.get_property("Strength").await.unwrap_or(0);
    Some(Wifi::Connected {
        ssid: String::from_utf8_lossy(&ssid).into_owned(),
        strength: strength.min(100),
    })
}

/// The battery UPower reports; `None` without UPower or a battery.
pub async fn battery(bus: &zbus::Connection) -> Option<Battery> {
    let d = proxy(bus, UPOWER, DISPLAY_DEVICE, UPOWER_DEVICE)
        .await
        .ok()?;
    if !d.get_property::<bool>("IsPresent").await.ok()?
        || d.get_property::<u32>("Type").await.ok()? != TYPE_BATTERY
    {
        return None;
    }
    let percent: f64 = d.get_property("Percentage").await.ok()?;
    // 1 charging, 4 fully charged (on the charger), 5 pending charge.
    let state: u32 = d.get_property("State").await.unwrap_or(0);
    Some(Battery {
        percent: percent.round().clamp(0.0, 100.0) as u8,
        charging: matches!(state, 1 | 4 | 5),
    })
}

/// The dock's status, read now and then again every [`REFRESH`] or as soon as
/// NetworkManager or UPower announce a change; only changes are sent.
pub fn watch(sources: &Sources) -> impl Stream<Item = Status> + use<> {
    let sources = sources.clone();
    iced::stream::channel(4, async move |mut out| {
        let bus = sources.system_bus().await;
        let mut changes = match &bus {
            Some(bus) => signals(bus).await,
            None => None,
        };
        let mut last = None;
        loop {
            let now = sources.read(bus.as_ref()).await;
            if last.as_ref() != Some(&now) {
                if out.send(now.clone()).await.is_err() {
                    return;
                }
                last = Some(now);
            }
            match &mut changes {
                Some(stream) => {
                    let _ = tokio::time::timeout(REFRESH, stream.next()).await;
                }
                None => tokio::time::sleep(REFRESH).await,
            }
        }
    })
}

/// `PropertiesChanged` from NetworkManager and UPower (device state, access point
/// strength, battery level).
async fn signals(bus: &zbus::Connection) -> Option<zbus::MessageStream> {
    let rule = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .interface("org.freedesktop.DBus.Properties")
        .ok()?
        .member("PropertiesChanged")
        .ok()?
        .build();
    zbus::MessageStream::for_match_rule(rule, bus, Some(32))
        .await
        .map_err(|e| tracing::debug!("no change signals ({e}); reading every 5 s"))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wpctl_output_is_read_with_its_mute_mark() {
        assert_eq!(
            parse_volume("Volume: 0.40\n"),
            Some(Volume {
                percent: 40,
                muted: false
            })
        );
        assert_eq!(
            parse_volume("Volume: 0.75 [MUTED]"),
            Some(Volume {
                percent: 75,
                muted: true
            })
        );
        assert_eq!(parse_volume("Error: no default sink"), None);
    }

    #[test]
    fn labels_say_what_a_person_needs_and_missing_items_stay_hidden() {
        let s = Status {
            wifi: Some(Wifi::Connected {
                ssid: "HomeNet".into(),
                strength: 80,
            }),
            volume: Some(Volume {
                percent: 40,
                muted: true,
            }),
            battery: Some(Battery {
                percent: 57,
                charging: true,
            }),
        };
        assert_eq!(s.wifi_label().as_deref(), Some("Wi-Fi HomeNet 80%"));
        assert_eq!(s.volume_label().as_deref(), Some("Muted (40%)"));
        assert_eq!(s.battery_label().as_deref(), Some("Battery 57% charging"));
        let none = Status::default();
        assert!(none.wifi_label().is_none() && none.battery_label().is_none());
    }
}
