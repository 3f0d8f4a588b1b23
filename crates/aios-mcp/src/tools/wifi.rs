//! Wi-Fi through NetworkManager on the D-Bus system bus.

use std::collections::HashMap;
use std::time::Duration;

use aios_common::types::{ToolDefinition, TrustRequirement};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use zbus::zvariant::{OwnedObjectPath, Value as DValue};

use crate::tool::{Tool, ToolContext, ToolError, definition_for, parse_args};

const NM: &str = "org.freedesktop.NetworkManager";
const NM_PATH: &str = "/org/freedesktop/NetworkManager";
const DEVICE: &str = "org.freedesktop.NetworkManager.Device";
const WIRELESS: &str = "org.freedesktop.NetworkManager.Device.Wireless";
const AP: &str = "org.freedesktop.NetworkManager.AccessPoint";
const ACTIVE: &str = "org.freedesktop.NetworkManager.Connection.Active";
/// `NM_DEVICE_TYPE_WIFI`.
const TYPE_WIFI: u32 = 2;
/// How long `wifi_connect` waits for NetworkManager to report the connection up.
const CONNECT_WAIT: Duration = Duration::from_secs(20);

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ConnectArgs {
    /// Network name
    #[schemars(length(min = 1, max = 32))]
    ssid: String,
    /// Password, if the network has one
    #[schemars(extend("x-secret" = true))]
    password: Option<String>,
}

/// One network in range.
#[derive(Debug, Clone)]
struct Network {
    ssid: String,
    strength: u8,
    secured: bool,
    ap: OwnedObjectPath,
    device: OwnedObjectPath,
}

fn dbus_err(what: &str) -> impl Fn(zbus::Error) -> ToolError + '_ {
    move |e| {
        let hint = if matches!(&e, zbus::Error::MethodError(n, ..) if n.as_str().ends_with("ServiceUnknown"))
        {
            " (is NetworkManager running?)"
        } else {
            ""
        };
        ToolError::failed(format!("NetworkManager: {what}: {e}{hint}"))
    }
}

async fn proxy<'a>(
    conn: &zbus::Connection,
    path: impl Into<String>,
    iface: &'a str,
) -> Result<zbus::Proxy<'a>, ToolError> {
    ToolContext::proxy(conn, NM, path.into(), iface)
        .await
        .map_err(dbus_err("connect"))
}

/// Every network seen by every Wi-Fi device, strongest first, one per name.
async fn networks(conn: &zbus::Connection) -> Result<Vec<Network>, ToolError> {
    let nm = proxy(conn, NM_PATH, NM).await?;
    let devices: Vec<OwnedObjectPath> = nm
        .call("GetDevices", &())
        .await
        .map_err(dbus_err("listing devices"))?;
    let mut found: Vec<Network> = Vec::new();
    let mut any_wifi = false;
    for dev in devices {
        let d = proxy(conn, dev.as_str(), DEVICE).await?;
        if d.get_property::<u32>("DeviceType")
            .await
            .map_err(dbus_err("device type"))?
            != TYPE_WIFI
        {
            continue;
        }
        any_wifi = true;
        let w = proxy(conn, dev.as_str(), WIRELESS).await?;
        let aps: Vec<OwnedObjectPath> = w
            .call("GetAllAccessPoints", &())
            .await
            .map_err(dbus_err("listing networks"))?;
        for ap in aps {
            let a = proxy(conn, ap.as_str(), AP).await?;
            let ssid: Vec<u8> = a
                .get_property("Ssid")
                .await
                .map_err(dbus_err("network name"))?;
            let strength: u8 = a.get_property("Strength").await.unwrap_or(0);
            let flags: u32 = a.get_property("Flags").await.unwrap_or(0);
            let wpa: u32 = a.get_property("WpaFlags").await.unwrap_or(0);
            let rsn: u32 = a.get_property("RsnFlags").await.unwrap_or(0);
            let ssid = String::from_utf8_lossy(&ssid).into_owned();
            if ssid.is_empty() {
                continue; // hidden network
            }
            found.push(Network {
                ssid,
                strength,
                secured: flags & 1 != 0 || wpa != 0 || rsn != 0,
                ap,
                device: dev.clone(),
            });
        }
    }
    if !any_wifi {
        return Err(ToolError::failed("this computer has no Wi-Fi device"));
    }
    found.sort_by(|a, b| b.strength.cmp(&a.strength).then(a.ssid.cmp(&b.ssid)));
    let mut seen = std::collections::HashSet::new();
    found.retain(|n| seen.insert(n.ssid.clone()));
    Ok(found)
}

/// `wifi_list`: networks in range with signal strength.
#[derive(Debug, Default)]
pub struct WifiList;

#[async_trait::async_trait]
impl Tool for WifiList {
    fn definition(&self) -> ToolDefinition {
        definition_for::<NoArgs>("wifi_list", "List the Wi-Fi networks in range.")
    }
    fn trust_requirement(&self) -> TrustRequirement {
        TrustRequirement::None
    }
    fn describe(&self, _args: &Value) -> String {
        "List Wi-Fi networks".into()
    }
    fn spoken(&self, _request: &str, output: &str) -> Option<String> {
        if output == "no Wi-Fi networks in range" {
            return Some("There are no Wi-Fi networks in range.".into());
        }
        let (head, rest) = output.split_once(":\n")?;
        let n: usize = head.strip_suffix(" networks")?.parse().ok()?;
        // "Cafe (60%, open)": the name may hold " (" itself.
        let names: Vec<String> = rest
            .lines()
            .map(|l| l.rsplit_once(" (").map_or(l, |(name, _)| name).to_owned())
            .collect();
        Some(format!(
            "I can see {}: {}.",
            crate::tools::spoken::count(n, "network", "networks"),
            crate::tools::spoken::series(&names, 5)
        ))
    }
    async fn execute(&self, _args: Value, ctx: &ToolContext) -> Result<String, ToolError> {
        let conn = ctx.system_bus().await?;
        let nets = networks(&conn).await?;
        if nets.is_empty() {
            return Ok("no Wi-Fi networks in range".into());
        }
        let lines: Vec<String> = nets
            .iter()
            .map(|n| {
                format!(
                    "{} ({}%, {})",
                    n.ssid,
                    n.strength,
                    if n.secured { "password" } else { "open" }
                )
            })
            .collect();
        Ok(format!("{} networks:\n{}", lines.len(), lines.join("\n")))
    }
}

/// `wifi_connect`: joins a network by name; the password goes to NetworkManager only.
#[derive(Debug, Default)]
pub struct WifiConnect;

#[async_trait::async_trait]
impl Tool for WifiConnect {
    fn definition(&self) -> ToolDefinition {
        definition_for::<ConnectArgs>("wifi_connect", "Connect to a Wi-Fi network.")
    }
    fn trust_requirement(&self) -> TrustRequirement {
        TrustRequirement::Confirm
    }
    fn describe(&self, args: &Value) -> String {
        format!(
            "Connect to the Wi-Fi network \"{}\"",
            args["ssid"].as_str().unwrap_or("?")
        )
    }
    async fn execute(&self, args: Value, ctx: &ToolContext) -> Result<String, ToolError> {
        let a: ConnectArgs = parse_args("wifi_connect", args)?;
        let conn = ctx.system_bus().await?;
        let nets = networks(&conn).await?;
        let Some(net) = nets.into_iter().find(|n| n.ssid == a.ssid) else {
            return Err(ToolError::failed(format!(
                "no Wi-Fi network called \"{}\" is in range",
                a.ssid
            )));
        };
        if net.secured && a.password.as_deref().is_none_or(str::is_empty) {
            return Err(ToolError::failed(format!(
                "\"{}\" needs a password; ask the person for it",
                a.ssid
            )));
        }
        let mut settings: HashMap<&str, HashMap<&str, DValue<'_>>> = HashMap::new();
        settings.insert(
            "connection",
            HashMap::from([
                ("id", DValue::from(a.ssid.as_str())),
                ("type", DValue::from("802-11-wireless")),
            ]),
        );
        settings.insert(
            "802-11-wireless",
            HashMap::from([
                ("ssid", DValue::from(a.ssid.as_bytes().to_vec())),
                ("mode", DValue::from("infrastructure")),
            ]),
        );
        if let Some(pw) = a.password.as_deref().filter(|p| !p.is_empty()) {
            settings.insert(
                "802-11-wireless-security",
                HashMap::from([
                    ("key-mgmt", DValue::from("wpa-psk")),
                    ("psk", DValue::from(pw)),
                ]),
            );
        }
        let nm = proxy(&conn, NM_PATH, NM).await?;
        let (_conn_path, active): (OwnedObjectPath, OwnedObjectPath) = nm
            .call(
                "AddAndActivateConnection",
                &(settings, &net.device, &net.ap),
            )
            .await
            .map_err(dbus_err("connecting"))?;
        wait_activated(&conn, &active, &a.ssid).await
    }
}

/// Polls the active connection until it is up (2) or gone down (4).
async fn wait_activated(
    conn: &zbus::Connection,
    active: &OwnedObjectPath,
    ssid: &str,
) -> Result<String, ToolError> {
    let ac = proxy(conn, active.as_str(), ACTIVE).await?;
    let deadline = tokio::time::Instant::now() + CONNECT_WAIT;
    loop {
        match ac.get_property::<u32>("State").await {
            Ok(2) => return Ok(format!("Connected to \"{ssid}\"")),
            Ok(3 | 4) => {
                return Err(ToolError::failed(format!(
                    "could not connect to \"{ssid}\" (wrong password or out of range)"
                )));
            }
            Ok(_) | Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            _ => {
                return Err(ToolError::failed(format!(
                    "NetworkManager is still connecting to \"{ssid}\" after {} s",
                    CONNECT_WAIT.as_secs()
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_in_range_are_named_strongest_first() {
        assert_eq!(
            WifiList
                .spoken(
                    "",
                    "3 networks:\nHome (82%, password)\nCafe (open) (60%, open)\nLib (20%, open)"
                )
                .as_deref(),
            Some("I can see 3 networks: Home, Cafe (open) and Lib.")
        );
        assert_eq!(
            WifiList.spoken("", "no Wi-Fi networks in range").as_deref(),
            Some("There are no Wi-Fi networks in range.")
        );
    }
}
