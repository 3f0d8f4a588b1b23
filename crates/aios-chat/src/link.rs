//! The chat's one socket subscription: [`aios_common::ipc::link`] as an Iced stream.

use std::path::PathBuf;

use aios_common::ipc::ClientKind;
use aios_common::ipc::link::{OUTBOX, run};
use iced::futures::Stream;

pub use aios_common::ipc::link::LinkEvent as Event;

/// The stream behind the subscription for the socket at `path`.
// `Subscription::run_with` hands its data over as `&PathBuf`.
#[allow(clippy::ptr_arg)]
pub fn connect(path: &PathBuf) -> impl Stream<Item = Event> + use<> {
    let path = path.clone();
    iced::stream::channel(OUTBOX, async move |out| {
        run(path, ClientKind::Chat, out).await
    })
}
