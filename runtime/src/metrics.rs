//! Prometheus metrics, all defined here so their names and labels stay
//! consistent. Labels are low-cardinality: route templates, flow ids,
//! component references, outcomes.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::executor::{RunReport, RunStatus};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    flow: String,
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FlowLabels {
    flow: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepLabels {
    component: String,
    outcome: String,
}

/// The server's metrics registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    runs: Family<RunLabels, Counter>,
    run_duration: Family<RunLabels, Histogram>,
    step_duration: Family<StepLabels, Histogram>,
    triggered_runs: Family<TriggeredLabels, Counter>,
    trigger_latency: Histogram,
    low_priority_runs: Family<FlowLabels, Counter>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TriggeredLabels {
    flow: String,
    outcome: String,
}

/// Upper bounds of the trigger latency buckets, in seconds.
const TRIGGER_LATENCY_BUCKETS: [f64; 19] = [
    0.000_5, 0.001, 0.001_5, 0.002, 0.003, 0.004, 0.005, 0.007_5, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    10.0, 30.0,
];

/// Histogram buckets from 10 µs to about 10 s, in seconds.
fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_01, 4.0, 11))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates the registry with every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("sluice");
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests by method, route and status", http_requests.clone());
        let runs = Family::<RunLabels, Counter>::default();
        registry.register("flow_runs", "Flow runs by flow and outcome", runs.clone());
        let run_duration = Family::<RunLabels, Histogram>::new_with_constructor(duration_histogram as fn() -> Histogram);
        registry.register("flow_run_duration_seconds", "Duration of flow runs", run_duration.clone());
        let step_duration = Family::<StepLabels, Histogram>::new_with_constructor(duration_histogram as fn() -> Histogram);
        registry.register("step_duration_seconds", "Duration of steps by component and outcome", step_duration.clone());
        let triggered_runs = Family::<TriggeredLabels, Counter>::default();
        registry.register(
            "triggered_run_attempts",
            "Attempts of runs started by audit events, by flow and outcome (done, retry, dead)",
            triggered_runs.clone(),
        );
        // Fine steps around the 5 ms target, then coarse ones up to 30 s.
        let trigger_latency = Histogram::new(TRIGGER_LATENCY_BUCKETS);
        registry.register(
            "trigger_start_latency_seconds",
            "Time from an audit event's recording to the start of the first attempt of a run it triggered",
            trigger_latency.clone(),
        );
        let low_priority_runs = Family::<FlowLabels, Counter>::default();
        registry.register(
            "low_priority_runs",
            "Runs started on a low-priority thread because a recent run of their flow used more CPU than `low_priority_cpu_ms`",
            low_priority_runs.clone(),
        );
        Self {
            registry,
            http_requests,
            runs,
            run_duration,
            step_duration,
            triggered_runs,
            trigger_latency,
            low_priority_runs,
        }
    }

    /// Counts one HTTP response.
    pub fn record_http(&self, method: &str, route: &str, status: u16) {
        self.http_requests
            .get_or_create(&HttpLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
    }

    /// Counts a finished run and its steps.
    pub fn record_run(&self, report: &RunReport) {
        let labels = RunLabels {
            flow: report.flow_id.clone(),
            outcome: match report.status {
                RunStatus::Completed => "completed",
                RunStatus::Failed => "failed",
            }
            .to_owned(),
        };
        self.runs.get_or_create(&labels).inc();
        self.run_duration
            .get_or_create(&labels)
            .observe(seconds(report.duration_us));
        for step in &report.trace {
            let Some(component) = &step.component else {
                continue;
            };
            let outcome = step.error.as_ref().map_or("ok", |error| error.kind.as_str());
            self.step_duration
                .get_or_create(&StepLabels {
                    component: component.clone(),
                    outcome: outcome.to_owned(),
                })
                .observe(seconds(step.duration_us));
        }
    }

    /// Counts one run of `flow` started on a low-priority thread.
    pub fn record_low_priority_run(&self, flow: &str) {
        self.low_priority_runs
            .get_or_create(&FlowLabels { flow: flow.to_owned() })
            .inc();
    }

    /// Counts one finished attempt of a triggered run.
    pub fn record_triggered_attempt(&self, flow: &str, outcome: &str) {
        self.triggered_runs
            .get_or_create(&TriggeredLabels {
                flow: flow.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Records the time from an audit event to the start of a run it
    /// triggered. The event time has millisecond resolution and is rounded
    /// down, so a value can exceed the true time by up to 1 ms.
    pub fn record_trigger_latency(&self, micros: u64) {
        self.trigger_latency.observe(seconds(micros));
    }

    /// Returns every metric in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if let Err(err) = encode(&mut text, &self.registry) {
            tracing::error!(error = %err, "Failed to encode metrics");
        }
        text
    }
}

#[expect(clippy::cast_precision_loss, reason = "durations stay far below 2^52 microseconds")]
fn seconds(micros: u64) -> f64 {
    micros as f64 / 1e6
}
