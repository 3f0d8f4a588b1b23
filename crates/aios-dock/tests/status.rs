//! The dock's Wi-Fi, battery and volume items against real services: NetworkManager
//! and UPower from python-dbusmock on a private system bus, a headless PipeWire with
//! WirePlumber. Missing services hide their items.

#[allow(dead_code)]
#[path = "../../aios-mcp/tests/support/mod.rs"]
mod support;

use std::time::Duration;

use aios_dock::app::{Bar, Message};
use aios_dock::status::{Battery, Sources, Volume, Wifi};
use iced::futures::StreamExt;
use iced_test::simulator;

const NM: &str = "org.freedesktop.NetworkManager";
const MOCK: &str = "org.freedesktop.DBus.Mock";

/// A method of dbusmock's control interface on `dest`'s mock object.
async fn mock<B>(conn: &zbus::Connection, dest: &str, method: &str, body: &B) -> zbus::Message
where
    B: serde::Serialize + zbus::zvariant::DynamicType,
{
    let path = if dest == NM {
        "/org/freedesktop"
    } else {
        "/org/freedesktop/UPower"
    };
    conn.call_method(Some(dest), path, Some(MOCK), method, body)
        .await
        .unwrap_or_else(|e| panic!("dbusmock {method}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wifi_and_battery_come_from_networkmanager_and_upower_and_follow_their_signals() {
    let bus =
        support::MockBus::start(&[("networkmanager", NM), ("upower", "org.freedesktop.UPower")])
            .await;
    let conn = support::MockBus::connect(&bus.address).await;
    let sources = Sources {
        system_bus: Some(bus.address.clone()),
        wpctl_env: Vec::new(),
    };

    // NetworkManager with no Wi-Fi device (a desktop on a cable): hidden.
    assert_eq!(aios_dock::status::wifi(&conn).await, None);
    // UPower with no battery: hidden.
    assert_eq!(aios_dock::status::battery(&conn).await, None);

    let dev: String = mock(&conn, NM, "AddWiFiDevice", &("wlan0", "wlan0", 100u32))
        .await
        .body()
        .deserialize()
        .expect("device path");
    let ap: String = mock(
        &conn,
        NM,
        "AddAccessPoint",
        &(
            dev.as_str(),
            "ap1",
            "HomeNet",
            "00:11:22:33:44:55",
            2u32,
            2437u32,
            5400u32,
            72u8,
            0x100u32,
        ),
    )
    .await
    .body()
    .deserialize()
    .expect("access point path");
    assert_eq!(
        aios_dock::status::wifi(&conn).await,
        Some(Wifi::Disconnected)
    );

    // What the dock's subscription sees from here on, change by change.
    let mut watched = Box::pin(aios_dock::status::watch(&sources));
    let first = watched.next().await.expect("a first status");
    assert_eq!(first.wifi, Some(Wifi::Disconnected));

    let connection: String = mock(
        &conn,
        NM,
        "AddWiFiConnection",
        &(dev.as_str(), "home", "HomeNet", "wpa-psk"),
    )
    .await
    .body()
    .deserialize()
    .expect("connection path");
    mock(
        &conn,
        NM,
        "AddActiveConnection",
        &(
            vec![dev.as_str()],
            connection.as_str(),
            ap.as_str(),
            "0",
            2u32,
        ),
    )
    .await;
    mock(
        &conn,
        "org.freedesktop.UPower",
        "SetupDisplayDevice",
        &(
            2u32, 1u32, 57.0f64, 30.0f64, 52.0f64, 10.0f64, 0i64, 3600i64, true, "battery", 1u32,
        ),
    )
    .await;
    // Both changed by signals; the dock reads again at once or within 5 s.
    let mut now = first;
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    while now.battery.is_none() || now.wifi == Some(Wifi::Disconnected) {
        now = tokio::time::timeout_at(until, watched.next())
            .await
            .expect("the dock saw the change")
            .expect("status");
    }
    assert_eq!(
        now.wifi,
        Some(Wifi::Connected {
            ssid: "HomeNet".into(),
            strength: 72
        })
    );
    assert_eq!(
        now.battery,
        Some(Battery {
            percent: 57,
            charging: true
        })
    );

    // Wireless switched off.
    let off: zbus::zvariant::Value<'_> = false.into();
    mock(
        &conn,
        NM,
        "SetProperty",
        &(
            "/org/freedesktop/NetworkManager",
            NM,
            "WirelessEnabled",
            off,
        ),
    )
    .await;
    while now.wifi != Some(Wifi::Off) {
        now = tokio::time::timeout_at(until, watched.next())
            .await
            .expect("the dock saw Wi-Fi go off")
            .expect("status");
    }

    // Drawn on the bar, beside the clock.
    let mut bar = Bar::new(
        "/nonexistent/aios.sock".into(),
        aios_common::config::PttMode::Hold,
        Vec::new(),
    );
    let _ = bar.update(Message::Status(now));
    let mut ui = simulator(bar.view());
    assert!(ui.find("Wi-Fi off").is_ok() && ui.find("Battery 57% charging").is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_system_bus_and_no_pipewire_every_item_is_hidden() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sources = Sources {
        system_bus: Some(format!("unix:path={}", dir.path().join("none").display())),
        wpctl_env: vec![
            ("XDG_RUNTIME_DIR".into(), dir.path().display().to_string()),
            (
                "DBUS_SESSION_BUS_ADDRESS".into(),
                format!("unix:path={}", dir.path().join("none").display()),
            ),
        ],
    };
    let bus = sources.system_bus().await;
    assert!(bus.is_none());
    let status = sources.read(bus.as_ref()).await;
    assert_eq!(status, aios_dock::status::Status::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_volume_is_pipewires_and_the_wheel_and_a_click_change_it() {
    let pw = support::PipeWire::start();
    let sources = Sources {
        system_bus: None,
        wpctl_env: pw.env.clone(),
    };
    let mut ok = false;
    for _ in 0..100 {
        if sources.volume().await.is_some() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "PipeWire's default sink never appeared");
    sources.change_volume(-100).await;
    sources.change_volume(8).await;
    assert_eq!(
        sources.volume().await,
        Some(Volume {
            percent: 40,
            muted: false
        })
    );
    assert_eq!(pw.volume(), "Volume: 0.40");

    // On the bar: the wheel over the volume asks for a step up, a click for mute.
    let mut bar = Bar::new(
        "/nonexistent/aios.sock".into(),
        aios_common::config::PttMode::Hold,
        Vec::new(),
    )
    .with_sources(sources.clone());
    let _ = bar.update(Message::Volume(sources.volume().await));
    let asked: Vec<Message> = {
        let mut ui = simulator(bar.view());
        let item = ui.find("Vol 40%").expect("the volume item");
        ui.point_at(item.bounds().center());
        let _ = ui.simulate([iced::Event::Mouse(iced::mouse::Event::WheelScrolled {
            delta: iced::mouse::ScrollDelta::Lines { x: 0.0, y: 1.0 },
        })]);
        let _ = ui.click("Vol 40%");
        ui.into_messages().collect()
    };
    assert!(
        matches!(
            asked.as_slice(),
            [Message::Scroll(1), Message::ToggleMute, ..]
        ),
        "{asked:?}"
    );
    // What those messages run (the update hands it to Iced as a task).
    sources.change_volume(1).await;
    sources.toggle_mute().await;
    let _ = bar.update(Message::Volume(sources.volume().await));
    assert!(simulator(bar.view()).find("Muted (45%)").is_ok());
    assert_eq!(pw.volume(), "Volume: 0.45 [MUTED]");
    // Never past 100%.
    sources.change_volume(40).await;
    assert_eq!(sources.volume().await.map(|v| v.percent), Some(100));
}
