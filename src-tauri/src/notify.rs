//! Desktop notifications through the session's notification server (notify-rust).

use pcmetrics_app::notices::{Notice, body_for_display};
use pcmetrics_app::service::Notifier;

pub struct DesktopNotifier;

impl Notifier for DesktopNotifier {
    fn notify(&self, notice: &Notice) {
        show(notice.title(), &notice.body());
    }
}

/// Shows a notification without blocking the caller (showing waits on D-Bus). The body
/// is escaped: servers render markup in bodies, and sync errors quote servers.
pub fn show(title: &str, body: &str) {
    tracing::info!(%title, "notification");
    let (title, body) = (title.to_owned(), body_for_display(body));
    std::thread::spawn(move || {
        if let Err(e) = notify_rust::Notification::new()
            .appname("pcmetrics")
            .summary(&title)
            .body(&body)
            .icon("pcmetrics")
            .show()
        {
            tracing::warn!("cannot show a notification (is a notification server running?): {e}");
        }
    });
}
