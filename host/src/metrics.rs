//! Prometheus metrics of one gateway instance: names, labels and the text encoder for `/metrics`.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// All metrics of one gateway. Each `App` owns one registry, so several gateways in one
/// process (tests) never mix their figures.
pub struct Metrics {
    registry: Registry,
    /// Requests served, by route template and status code.
    pub requests: IntCounterVec,
    pub request_duration: HistogramVec,
    /// Fresh plugin instances created (one per request or admin call).
    pub plugin_instantiations: IntCounterVec,
    /// Plugin calls that ended abnormally, by plugin and kind
    /// (`trap`, `cpu_deadline`, `memory`, `output_limit`, `timeout`).
    pub plugin_traps: IntCounterVec,
    pub plugin_cpu_deadline_hits: IntCounterVec,
    /// Hot reloads by plugin and result (`ok`, `failed`, `removed`).
    pub plugin_reloads: IntCounterVec,
    pub plugin_reload_failures: IntCounterVec,
    pub plugin_instances_active: IntGaugeVec,
    /// Outbound requests by plugin and status (`2xx` … `5xx`, `error`).
    pub outbound_requests: IntCounterVec,
    /// Outbound destinations refused by grants, by plugin and transport (`http`, `ws`).
    pub outbound_denied: IntCounterVec,
    /// Upstream bodies cut off at the plugin's byte cap, by plugin.
    pub outbound_too_large: IntCounterVec,
    /// KV writes refused by quota, by plugin.
    pub kv_denied: IntCounterVec,
    /// Requests moved to another account after an upstream failure, by channel.
    pub pool_failovers: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry.register(Box::new(c.clone())).expect("unique metric");
            c
        };
        let requests = counter(
            "gateway_requests_total",
            "HTTP requests served.",
            &["route", "status"],
        );
        let plugin_instantiations = counter(
            "gateway_plugin_instantiations_total",
            "Plugin instances created.",
            &["plugin"],
        );
        let plugin_traps = counter(
            "gateway_plugin_traps_total",
            "Plugin calls ended by a trap or limit.",
            &["plugin", "kind"],
        );
        let plugin_cpu_deadline_hits = counter(
            "gateway_plugin_cpu_deadline_hits_total",
            "Plugin calls stopped for exceeding their CPU budget.",
            &["plugin"],
        );
        let plugin_reloads = counter(
            "gateway_plugin_reloads_total",
            "Plugin (re)loads by result.",
            &["plugin", "result"],
        );
        let plugin_reload_failures = counter(
            "gateway_plugin_reload_failures_total",
            "Plugin components rejected at (re)load.",
            &["plugin"],
        );
        let outbound_requests = counter(
            "gateway_outbound_requests_total",
            "Outbound requests made for plugins.",
            &["plugin", "status"],
        );
        let outbound_denied = counter(
            "gateway_outbound_denied_total",
            "Outbound destinations refused by grants.",
            &["plugin", "transport"],
        );
        let outbound_too_large = counter(
            "gateway_outbound_too_large_total",
            "Upstream bodies cut off at the byte cap.",
            &["plugin"],
        );
        let kv_denied = counter(
            "gateway_plugin_kv_denied_total",
            "KV writes refused by quota.",
            &["plugin"],
        );
        let pool_failovers = counter(
            "gateway_pool_failovers_total",
            "Requests retried on another account.",
            &["channel"],
        );
        let request_duration = HistogramVec::new(
            HistogramOpts::new("gateway_request_duration_seconds", "Time to response head."),
            &["route"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(request_duration.clone()))
            .expect("unique metric");
        let plugin_instances_active = IntGaugeVec::new(
            Opts::new("gateway_plugin_instances_active", "Live plugin instances."),
            &["plugin"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(plugin_instances_active.clone()))
            .expect("unique metric");
        Metrics {
            registry,
            requests,
            request_duration,
            plugin_instantiations,
            plugin_traps,
            plugin_cpu_deadline_hits,
            plugin_reloads,
            plugin_reload_failures,
            plugin_instances_active,
            outbound_requests,
            outbound_denied,
            outbound_too_large,
            kv_denied,
            pool_failovers,
        }
    }

    /// Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
