//! The metrics of taskmaster(1), METRICS, as values and as the Prometheus text format (0.0.4):
//! a snapshot of every process and alert channel goes in, the text of one scrape comes out. The
//! format (names, HELP and TYPE lines, `_total`, the escaping of label values) is
//! `prometheus-client`'s: its registry is made for each scrape around one collector that owns the
//! snapshot, so nothing is shared between scrapes and nothing here needs a lock or a thread.
//! Pure: no socket, no clock (the uptimes come measured).

pub(crate) mod http;

use crate::process::StateName;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use std::time::Duration;

/// `Content-Type` of the answer.
pub(crate) const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// One process at the time of a scrape.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProcessSample {
    pub(crate) name: String,
    pub(crate) program: String,
    pub(crate) state: StateName,
    /// How long it has run (RUNNING or STARTING); zero otherwise.
    pub(crate) uptime: Duration,
    pub(crate) restarts: u64,
    pub(crate) unexpected_exits: u64,
    /// Bytes read from its stdout and its stderr.
    pub(crate) output_bytes: [u64; 2],
}

/// One alert channel's deliveries (taskmaster(1), ALERTS).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChannelSample {
    pub(crate) channel: &'static str,
    pub(crate) sent: u64,
    pub(crate) failed: u64,
}

/// Everything one scrape shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Snapshot {
    pub(crate) processes: Vec<ProcessSample>,
    pub(crate) channels: Vec<ChannelSample>,
}

/// The snapshot in the Prometheus text format.
pub(crate) fn encode(snapshot: Snapshot) -> String {
    let mut registry = Registry::with_prefix("taskmaster");
    registry.register_collector(Box::new(snapshot));
    let mut text = String::with_capacity(1024);
    // Writing to a String does not fail, and our collector never makes it.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &registry);
    text
}

const STREAMS: [&str; 2] = ["stdout", "stderr"];

/// A counter family of one kind of sample: its name, its help, its value in a sample.
type Family<T> = (&'static str, &'static str, fn(&T) -> u64);

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let procs = &self.processes;
        let labels = |p: &ProcessSample| [("name", p.name.clone()), ("program", p.program.clone())];

        let help = "The process's state: 1 for the state it is in, 0 for the others";
        let mut family = encoder.encode_descriptor("process_state", help, None, gauge(0).metric_type())?;
        for p in procs {
            for state in StateName::ALL {
                let set =
                    [("name", p.name.as_str()), ("program", p.program.as_str()), ("state", state.as_str())];
                gauge(i64::from(p.state == state)).encode(family.encode_family(&set)?)?;
            }
        }

        let help = "Seconds the process has run (RUNNING or STARTING), 0 otherwise";
        let mut family =
            encoder.encode_descriptor("process_uptime_seconds", help, None, gauge(0).metric_type())?;
        for p in procs {
            ConstGauge::new(p.uptime.as_secs_f64()).encode(family.encode_family(&labels(p))?)?;
        }

        let counters: [Family<ProcessSample>; 2] = [
            (
                "process_restarts",
                "Starts of the process after its first: autorestart, retries, health checks, commands, reloads",
                |p| p.restarts,
            ),
            (
                "process_unexpected_exits",
                "Exits the process was not asked for and its exitcodes do not expect, and deaths before starttime",
                |p| p.unexpected_exits,
            ),
        ];
        for (name, help, value) in counters {
            let mut family = encoder.encode_descriptor(name, help, None, counter(0).metric_type())?;
            for p in procs {
                counter(value(p)).encode(family.encode_family(&labels(p))?)?;
            }
        }

        let help = "Bytes the process wrote to its stdout or stderr";
        let mut family =
            encoder.encode_descriptor("process_output_bytes", help, None, counter(0).metric_type())?;
        for p in procs {
            for (stream, bytes) in STREAMS.iter().zip(p.output_bytes) {
                let set = [("name", p.name.as_str()), ("program", p.program.as_str()), ("stream", stream)];
                counter(bytes).encode(family.encode_family(&set)?)?;
            }
        }

        let channels: [Family<ChannelSample>; 2] = [
            ("alert_deliveries", "Alerts delivered through the channel", |c| c.sent),
            ("alert_failures", "Alert deliveries through the channel that failed", |c| c.failed),
        ];
        for (name, help, value) in channels {
            let mut family = encoder.encode_descriptor(name, help, None, counter(0).metric_type())?;
            for c in &self.channels {
                counter(value(c)).encode(family.encode_family(&[("channel", c.channel)])?)?;
            }
        }
        Ok(())
    }
}

fn gauge(value: i64) -> ConstGauge<i64> {
    ConstGauge::new(value)
}

fn counter(value: u64) -> ConstCounter<u64> {
    ConstCounter::new(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str, program: &str, state: StateName) -> ProcessSample {
        ProcessSample {
            name: name.into(),
            program: program.into(),
            state,
            uptime: Duration::from_millis(1500),
            restarts: 3,
            unexpected_exits: 2,
            output_bytes: [10, 0],
        }
    }

    #[test]
    fn every_family_has_its_help_type_and_samples() {
        let snapshot = Snapshot {
            processes: vec![sample("web:web_00", "web", StateName::Running)],
            channels: vec![ChannelSample { channel: "email", sent: 4, failed: 1 }],
        };
        let text = encode(snapshot);
        for line in [
            "# HELP taskmaster_process_state The process's state: 1 for the state it is in, 0 for the others",
            "# TYPE taskmaster_process_state gauge",
            r#"taskmaster_process_state{name="web:web_00",program="web",state="RUNNING"} 1"#,
            r#"taskmaster_process_state{name="web:web_00",program="web",state="FATAL"} 0"#,
            r#"taskmaster_process_uptime_seconds{name="web:web_00",program="web"} 1.5"#,
            "# TYPE taskmaster_process_restarts_total counter",
            r#"taskmaster_process_restarts_total{name="web:web_00",program="web"} 3"#,
            r#"taskmaster_process_unexpected_exits_total{name="web:web_00",program="web"} 2"#,
            r#"taskmaster_process_output_bytes_total{name="web:web_00",program="web",stream="stdout"} 10"#,
            r#"taskmaster_process_output_bytes_total{name="web:web_00",program="web",stream="stderr"} 0"#,
            r#"taskmaster_alert_deliveries_total{channel="email"} 4"#,
            r#"taskmaster_alert_failures_total{channel="email"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} missing from:\n{text}");
        }
        let states = text.lines().filter(|l| l.starts_with("taskmaster_process_state{")).count();
        assert_eq!(states, StateName::ALL.len(), "one gauge per state");
    }

    #[test]
    fn label_values_are_escaped() {
        let snapshot =
            Snapshot { processes: vec![sample("a\"b\\c\nd", "p", StateName::Stopped)], channels: Vec::new() };
        let text = encode(snapshot);
        let expected = r#"taskmaster_process_restarts_total{name="a\"b\\c\nd",program="p"} 3"#;
        assert!(text.lines().any(|l| l == expected), "{expected:?} missing from:\n{text}");
        assert!(text.lines().all(|l| !l.starts_with('d')), "a newline leaked:\n{text}");
    }

    #[test]
    fn nothing_to_show_is_still_valid() {
        let text = encode(Snapshot::default());
        assert!(text.lines().all(|l| l.starts_with('#')), "{text}");
    }
}
