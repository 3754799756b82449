//! When the app interrupts the user: a pure policy from pipeline events to notices.
//!
//! Rules (each notice fires once per episode, never once per retry or per sample):
//! - sync failing: after [`FAILURES_BEFORE_NOTICE`] failed syncs in a row; then
//!   "recovered" at the next successful sync;
//! - buffer close to its bound: pending passes `buffer_warn_pct` % of `max_pending`;
//!   re-armed once pending falls 10 points below; samples dropped: once per episode,
//!   re-armed by a successful sync;
//! - CPU: above `cpu_alert.above_pct` for `cpu_alert.hold` of sample time; re-armed when a
//!   sample comes in below the threshold.

use pcmetrics_core::config::NotifySettings;
use pcmetrics_core::pipeline::Event;

/// Failed syncs in a row before the user hears about it. The pipeline retries after 10,
/// 20, 40 s…, so this is about a minute of failing.
pub const FAILURES_BEFORE_NOTICE: u32 = 3;

#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    SyncFailing { failures: u32, message: String },
    SyncRecovered { rows: u64 },
    BufferFilling { pending: u64, max_pending: u64 },
    SamplesDropped { count: u64 },
    CpuHigh { pct: f32, minutes: u64 },
}

impl Notice {
    pub fn title(&self) -> &'static str {
        match self {
            Notice::SyncFailing { .. } => "pcmetrics: sync is failing",
            Notice::SyncRecovered { .. } => "pcmetrics: sync recovered",
            Notice::BufferFilling { .. } => "pcmetrics: buffer filling up",
            Notice::SamplesDropped { .. } => "pcmetrics: samples dropped",
            Notice::CpuHigh { .. } => "pcmetrics: CPU busy",
        }
    }

    pub fn body(&self) -> String {
        match self {
            Notice::SyncFailing { failures, message } => format!(
                "{failures} syncs in a row failed; samples stay safe in the buffer and go with the next sync that works.\n{message}"
            ),
            Notice::SyncRecovered { rows } => {
                format!("Syncing works again; {rows} pending samples delivered.")
            }
            Notice::BufferFilling {
                pending,
                max_pending,
            } => format!(
                "{pending} of at most {max_pending} samples are waiting to sync; past the bound the oldest are dropped. Check the sync panel."
            ),
            Notice::SamplesDropped { count } => format!(
                "The buffer reached buffer.max_pending: the {count} oldest unsynced samples were dropped. Fix syncing or raise the bound."
            ),
            Notice::CpuHigh { pct, minutes } => {
                format!("CPU use has stayed above {pct:.0} % for {minutes} min.")
            }
        }
    }
}

/// Longest body a notification shows; server messages can be pages of HTML.
pub const MAX_BODY_CHARS: usize = 400;

/// `body` as notification servers should show it: as text. The freedesktop spec lets
/// servers render a markup subset in bodies (`<a href>`, `<img src>`, `<b>`), and a sync
/// error carries text a server sent; escaped, a link or image in it stays inert text.
/// Long bodies are cut at [`MAX_BODY_CHARS`].
pub fn body_for_display(body: &str) -> String {
    let mut out = String::with_capacity(body.len().min(MAX_BODY_CHARS) + 16);
    for (i, c) in body.chars().enumerate() {
        if i == MAX_BODY_CHARS {
            out.push('…');
            break;
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The policy's memory of open episodes.
#[derive(Debug, Clone)]
pub struct NoticePolicy {
    settings: NotifySettings,
    max_pending: u64,
    failing_announced: bool,
    buffer_warned: bool,
    drops_announced: bool,
    cpu_above_since_us: Option<i64>,
    cpu_announced: bool,
}

impl NoticePolicy {
    pub fn new(settings: NotifySettings, max_pending: u64) -> Self {
        Self {
            settings,
            max_pending,
            failing_announced: false,
            buffer_warned: false,
            drops_announced: false,
            cpu_above_since_us: None,
            cpu_announced: false,
        }
    }

    /// New settings (after a save); open episodes stay open.
    pub fn reconfigure(&mut self, settings: NotifySettings, max_pending: u64) {
        self.settings = settings;
        self.max_pending = max_pending;
    }

    /// What to tell the user about `event`; `pending` is the buffer's pending count after
    /// it, when known.
    pub fn on_event(&mut self, event: &Event, pending: Option<u64>) -> Vec<Notice> {
        let mut out = Vec::new();
        match event {
            Event::SyncFailed {
                message,
                consecutive_failures,
                ..
            } if self.settings.sync_failures
                && !self.failing_announced
                && *consecutive_failures >= FAILURES_BEFORE_NOTICE =>
            {
                self.failing_announced = true;
                out.push(Notice::SyncFailing {
                    failures: *consecutive_failures,
                    message: message.clone(),
                });
            }
            Event::SyncFinished { report } => {
                if std::mem::take(&mut self.failing_announced) && self.settings.sync_failures {
                    out.push(Notice::SyncRecovered { rows: report.rows });
                }
                self.drops_announced = false;
            }
            Event::SamplesDropped { count } if !self.drops_announced => {
                self.drops_announced = true;
                out.push(Notice::SamplesDropped { count: *count });
            }
            Event::Sample { sample, .. } => {
                if let Some(alert) = self.settings.cpu_alert {
                    if sample.cpu_total_pct > alert.above_pct {
                        let since = *self.cpu_above_since_us.get_or_insert(sample.ts_us);
                        let held_us = sample.ts_us.saturating_sub(since);
                        if !self.cpu_announced && held_us >= alert.hold.as_micros() as i64 {
                            self.cpu_announced = true;
                            out.push(Notice::CpuHigh {
                                pct: alert.above_pct,
                                minutes: (held_us / 60_000_000) as u64,
                            });
                        }
                    } else {
                        self.cpu_above_since_us = None;
                        self.cpu_announced = false;
                    }
                }
            }
            _ => {}
        }
        if let Some(pending) = pending {
            let pct = pending.saturating_mul(100) / self.max_pending.max(1);
            let warn = u64::from(self.settings.buffer_warn_pct);
            if pct >= warn && !self.buffer_warned {
                self.buffer_warned = true;
                out.push(Notice::BufferFilling {
                    pending,
                    max_pending: self.max_pending,
                });
            } else if pct + 10 < warn {
                self.buffer_warned = false;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use pcmetrics_core::config::CpuAlert;
    use pcmetrics_core::sample::MetricSample;
    use pcmetrics_core::sync::SyncReport;

    use super::*;

    fn settings() -> NotifySettings {
        NotifySettings {
            sync_failures: true,
            buffer_warn_pct: 80,
            cpu_alert: Some(CpuAlert {
                above_pct: 90.0,
                hold: Duration::from_secs(120),
            }),
        }
    }

    fn failed(n: u32) -> Event {
        Event::SyncFailed {
            message: "catalog down".into(),
            consecutive_failures: n,
            retry_in_s: 10,
        }
    }

    fn finished(rows: u64) -> Event {
        Event::SyncFinished {
            report: SyncReport {
                rows,
                ..Default::default()
            },
        }
    }

    fn cpu(ts_s: i64, pct: f32) -> Event {
        Event::Sample {
            seq: ts_s,
            sample: Arc::new(MetricSample {
                ts_us: ts_s * 1_000_000,
                cpu_total_pct: pct,
                ..Default::default()
            }),
        }
    }

    #[test]
    fn sync_failing_is_announced_once_then_recovery_once() {
        let mut p = NoticePolicy::new(settings(), 1000);
        assert!(p.on_event(&failed(1), None).is_empty());
        assert!(p.on_event(&failed(2), None).is_empty());
        let n = p.on_event(&failed(3), None);
        assert!(
            matches!(&n[..], [Notice::SyncFailing { failures: 3, message }] if message == "catalog down")
        );
        for k in 4..20 {
            assert!(
                p.on_event(&failed(k), None).is_empty(),
                "retry {k} stays quiet"
            );
        }
        assert_eq!(
            p.on_event(&finished(42), None),
            vec![Notice::SyncRecovered { rows: 42 }]
        );
        assert!(p.on_event(&finished(1), None).is_empty());
        // A short blip (fewer failures than the threshold) is neither failing nor recovered.
        p.on_event(&failed(1), None);
        assert!(p.on_event(&finished(1), None).is_empty());
    }

    #[test]
    fn sync_failure_notices_can_be_turned_off() {
        let mut p = NoticePolicy::new(
            NotifySettings {
                sync_failures: false,
                ..settings()
            },
            1000,
        );
        for k in 1..10 {
            assert!(p.on_event(&failed(k), None).is_empty());
        }
        assert!(p.on_event(&finished(5), None).is_empty());
    }

    #[test]
    fn buffer_warning_fires_at_the_threshold_and_rearms_below_it() {
        let mut p = NoticePolicy::new(settings(), 1000);
        let e = Event::SyncStarted;
        assert!(p.on_event(&e, Some(799)).is_empty());
        assert_eq!(
            p.on_event(&e, Some(800)),
            vec![Notice::BufferFilling {
                pending: 800,
                max_pending: 1000
            }]
        );
        assert!(p.on_event(&e, Some(950)).is_empty());
        assert!(
            p.on_event(&e, Some(750)).is_empty(),
            "hysteresis: 75 % is not re-armed"
        );
        assert!(p.on_event(&e, Some(600)).is_empty());
        assert_eq!(
            p.on_event(&e, Some(810)).len(),
            1,
            "re-armed after falling below 70 %"
        );
    }

    #[test]
    fn drops_are_announced_once_per_episode() {
        let mut p = NoticePolicy::new(settings(), 1000);
        let d = Event::SamplesDropped { count: 5 };
        assert_eq!(
            p.on_event(&d, None),
            vec![Notice::SamplesDropped { count: 5 }]
        );
        assert!(p.on_event(&d, None).is_empty());
        p.on_event(&finished(10), None);
        assert_eq!(p.on_event(&d, None).len(), 1);
    }

    #[test]
    fn cpu_alert_needs_the_whole_hold_time_above_the_threshold() {
        let mut p = NoticePolicy::new(settings(), 1000);
        assert!(p.on_event(&cpu(0, 95.0), None).is_empty());
        assert!(p.on_event(&cpu(119, 99.0), None).is_empty());
        // One sample below resets the clock.
        assert!(p.on_event(&cpu(120, 50.0), None).is_empty());
        assert!(p.on_event(&cpu(121, 95.0), None).is_empty());
        assert!(p.on_event(&cpu(240, 95.0), None).is_empty());
        let n = p.on_event(&cpu(241, 95.0), None);
        assert_eq!(
            n,
            vec![Notice::CpuHigh {
                pct: 90.0,
                minutes: 2
            }]
        );
        assert!(
            p.on_event(&cpu(500, 95.0), None).is_empty(),
            "once per episode"
        );
        p.on_event(&cpu(501, 10.0), None);
        p.on_event(&cpu(502, 95.0), None);
        assert_eq!(p.on_event(&cpu(622, 95.0), None).len(), 1);
    }

    #[test]
    fn no_cpu_alert_when_unset() {
        let mut p = NoticePolicy::new(
            NotifySettings {
                cpu_alert: None,
                ..settings()
            },
            1000,
        );
        for t in 0..1000 {
            assert!(p.on_event(&cpu(t, 100.0), None).is_empty());
        }
    }

    #[test]
    fn server_text_in_a_body_is_shown_as_text() {
        let n = Notice::SyncFailing {
            failures: 3,
            message: "503 <a href=\"http://evil\">login</a><img src=\"http://evil/x.png\"> & more"
                .into(),
        };
        let shown = body_for_display(&n.body());
        assert!(!shown.contains('<') && !shown.contains('>'), "{shown}");
        assert!(
            shown.contains("&lt;a href=&quot;http://evil&quot;&gt;login&lt;/a&gt;"),
            "{shown}"
        );
        assert!(shown.contains("&amp; more"));
        let long = body_for_display(&"x".repeat(5000));
        assert_eq!(long.chars().count(), MAX_BODY_CHARS + 1);
    }

    #[test]
    fn bodies_name_the_problem_and_what_to_do() {
        let n = Notice::SyncFailing {
            failures: 3,
            message: "REST catalog http://x: connection refused".into(),
        };
        assert!(n.body().contains("stay safe in the buffer"));
        assert!(n.body().contains("connection refused"));
        assert!(
            Notice::SamplesDropped { count: 7 }
                .body()
                .contains("raise the bound")
        );
    }
}
