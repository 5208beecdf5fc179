//! The status snapshot in the Prometheus text exposition format.

use super::{LATENCY_BUCKETS, StatusSnapshot};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// Renders `snapshot` as Prometheus text (metric names start `gomodfs_`).
pub fn prometheus_text(snapshot: &StatusSnapshot) -> String {
    let mut registry = Registry::with_prefix("gomodfs");
    registry.register_collector(Box::new(SnapshotCollector(snapshot.clone())));
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
        out.clear();
    }
    out
}

#[derive(Debug)]
struct SnapshotCollector(StatusSnapshot);

type Fmt = Result<(), std::fmt::Error>;

fn counter(enc: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> Fmt {
    ConstCounter::new(value).encode(enc.encode_descriptor(name, help, None, MetricType::Counter)?)
}

fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, value: f64) -> Fmt {
    ConstGauge::new(value).encode(enc.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

/// A counter family with one label.
fn labelled(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &str,
    values: &[(&str, u64)],
) -> Fmt {
    let mut family = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (value, n) in values {
        let labels = [(label, *value)];
        ConstCounter::new(*n).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Fmt {
        let s = &self.0;
        gauge(&mut enc, "uptime_seconds", "Seconds since start.", s.uptime)?;
        let ops: Vec<(&str, &super::OpSnapshot)> = s.ops.iter().map(|(k, v)| (*k, v)).collect();
        let per_op = |f: fn(&super::OpSnapshot) -> u64| -> Vec<(&str, u64)> {
            ops.iter().map(|(k, v)| (*k, f(v))).collect()
        };
        labelled(
            &mut enc,
            "operations_started",
            "Operations started.",
            "op",
            &per_op(|o| o.started),
        )?;
        labelled(
            &mut enc,
            "operations_ended",
            "Operations ended.",
            "op",
            &per_op(|o| o.ended),
        )?;
        labelled(
            &mut enc,
            "operation_errors",
            "Operations that failed (not counting not-found answers).",
            "op",
            &per_op(|o| o.errors),
        )?;
        labelled(
            &mut enc,
            "operation_not_found",
            "Operations answered not found (ENOENT, 404): routine probes, not failures.",
            "op",
            &per_op(|o| o.not_found),
        )?;
        labelled(
            &mut enc,
            "operations_cancelled",
            "Operations abandoned before a result.",
            "op",
            &per_op(|o| o.cancelled),
        )?;
        {
            let mut family = enc.encode_descriptor(
                "operation_duration_seconds",
                "Latency of operations.",
                None,
                MetricType::Histogram,
            )?;
            for (op, o) in &ops {
                let mut cumulative = 0;
                let mut buckets = Vec::with_capacity(o.latency_buckets.len());
                for (i, n) in o.latency_buckets.iter().enumerate() {
                    cumulative += n;
                    let le = LATENCY_BUCKETS.get(i).copied().unwrap_or(f64::INFINITY);
                    buckets.push((le, cumulative));
                }
                let labels = [("op", *op)];
                family
                    .encode_family(&labels)?
                    .encode_histogram::<[(&str, &str); 0]>(
                        o.total_seconds,
                        o.ended,
                        &buckets,
                        None,
                    )?;
            }
        }
        let caches = [("module", s.module_cache), ("blob", s.blob_cache)];
        let per_cache = |f: fn(&super::CacheSnapshot) -> u64| -> Vec<(&str, u64)> {
            caches.iter().map(|(k, v)| (*k, f(v))).collect()
        };
        labelled(
            &mut enc,
            "cache_hits",
            "Cache hits.",
            "cache",
            &per_cache(|c| c.hits),
        )?;
        labelled(
            &mut enc,
            "cache_misses",
            "Cache misses.",
            "cache",
            &per_cache(|c| c.misses),
        )?;
        labelled(
            &mut enc,
            "cache_evictions",
            "Cache evictions.",
            "cache",
            &per_cache(|c| c.evictions),
        )?;
        counter(
            &mut enc,
            "fetched_bytes",
            "Bytes downloaded from upstream.",
            s.bytes_fetched,
        )?;
        gauge(
            &mut enc,
            "downloads_in_flight",
            "Downloads running now.",
            s.downloads_in_flight as f64,
        )?;
        if let Some(store) = s.store {
            gauge(
                &mut enc,
                "store_modules",
                "Module versions stored.",
                store.modules as f64,
            )?;
            gauge(
                &mut enc,
                "store_bytes",
                "Bytes the store occupies.",
                store.bytes as f64,
            )?;
        }
        if let Some(u) = s.upstream {
            counter(
                &mut enc,
                "upstream_requests",
                "Requests sent upstream.",
                u.requests,
            )?;
            counter(
                &mut enc,
                "upstream_not_found",
                "Upstream 404/410 answers.",
                u.not_found,
            )?;
            counter(
                &mut enc,
                "upstream_errors",
                "Failed upstream requests.",
                u.errors,
            )?;
            counter(&mut enc, "upstream_retries", "Upstream retries.", u.retries)?;
        }
        if let Some(b) = s.build_cache {
            build_cache(&mut enc, &b)?;
        }
        if let Some(r) = &s.remote {
            remote_metrics(&mut enc, r)?;
        }
        frontends(&mut enc, &s.frontends)
    }
}

/// `gomodfs_frontend_info{kind,at,transport} 1` per frontend serving now
/// (the info-metric idiom: the labels are the information).
fn frontends(enc: &mut DescriptorEncoder, all: &[super::FrontendStatus]) -> Fmt {
    if all.is_empty() {
        return Ok(());
    }
    let mut family = enc.encode_descriptor(
        "frontend_info",
        "A frontend serving now: its kind, where, and for FUSE its transport.",
        None,
        MetricType::Gauge,
    )?;
    for f in all {
        let labels = [
            ("kind", f.kind.as_str()),
            ("at", f.at.as_str()),
            ("transport", f.transport.as_deref().unwrap_or("")),
        ];
        ConstGauge::new(1i64).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// The build cache helpers' counters (`gomodfs_build_cache_*_total`).
fn build_cache(enc: &mut DescriptorEncoder, b: &super::BuildCacheCounters) -> Fmt {
    for (name, help, value) in [
        ("build_cache_gets", "GOCACHEPROG get requests.", b.gets),
        (
            "build_cache_hits",
            "GOCACHEPROG gets answered with an object.",
            b.hits,
        ),
        (
            "build_cache_misses",
            "GOCACHEPROG gets answered with a miss.",
            b.misses,
        ),
        (
            "build_cache_remote_hits",
            "GOCACHEPROG hits from the remote tier.",
            b.remote_hits,
        ),
        (
            "build_cache_verify_failures",
            "Remote objects refused: body does not match its OutputID.",
            b.verify_failures,
        ),
        ("build_cache_puts", "GOCACHEPROG put requests.", b.puts),
        (
            "build_cache_put_bytes",
            "Bytes received in GOCACHEPROG puts.",
            b.put_bytes,
        ),
        (
            "build_cache_hit_bytes",
            "Bytes of objects served by GOCACHEPROG hits.",
            b.hit_bytes,
        ),
        (
            "build_cache_remote_bytes",
            "Bytes downloaded from the remote build cache.",
            b.remote_bytes,
        ),
        (
            "build_cache_errors",
            "GOCACHEPROG requests answered with an error.",
            b.errors,
        ),
        (
            "build_cache_trimmed",
            "Build cache objects removed by trimming.",
            b.trimmed,
        ),
    ] {
        counter(enc, name, help, value)?;
    }
    Ok(())
}

/// The fleet tier's counters (`gomodfs_remote_*`).
fn remote_metrics(enc: &mut DescriptorEncoder, r: &super::RemoteSnapshot) -> Fmt {
    for (name, help, value) in [
        ("remote_hits", "Modules read from the remote.", r.hits),
        (
            "remote_misses",
            "Local misses the remote lacked too.",
            r.misses,
        ),
        (
            "remote_meta_hits",
            ".info/.mod files read from the remote.",
            r.meta_hits,
        ),
        (
            "remote_validation_failures",
            "Remote objects refused by validation.",
            r.validation_failures,
        ),
        (
            "remote_errors",
            "Remote reads that failed or were skipped.",
            r.errors,
        ),
        (
            "remote_lease_waits",
            "Waits for another host's download.",
            r.lease_waits,
        ),
        (
            "remote_leases_taken",
            "Downloads done for the fleet.",
            r.leases_taken,
        ),
        ("remote_uploads_done", "Uploads completed.", r.uploads.done),
        (
            "remote_uploads_failed",
            "Failed upload attempts (retried).",
            r.uploads.failed,
        ),
        ("remote_upload_bytes", "Bytes uploaded.", r.uploads.bytes),
    ] {
        counter(enc, name, help, value)?;
    }
    gauge(
        enc,
        "remote_uploads_pending",
        "Uploads queued, not done yet.",
        r.uploads.pending as f64,
    )?;
    gauge(
        enc,
        "remote_down",
        "1 while the remote is skipped after a failure.",
        if r.down { 1.0 } else { 0.0 },
    )
}

#[cfg(test)]
mod tests {
    use super::super::{Op, Stats};
    use super::*;

    #[test]
    fn renders_counters_histograms_and_caches() {
        let stats = Stats::default();
        stats.start(Op::Lookup).finish(&Ok(()));
        stats
            .start(Op::Lookup)
            .finish::<()>(&Err(crate::Error::Config("boom".into())));
        stats
            .start(Op::Lookup)
            .finish::<()>(&Err(crate::Error::NotFound(".lock".into())));
        stats.cache_lookup(super::super::Cache::Blob, true);
        let text = prometheus_text(&stats.snapshot());
        for line in [
            "gomodfs_operations_started_total{op=\"lookup\"} 3",
            "gomodfs_operation_errors_total{op=\"lookup\"} 1",
            "gomodfs_operation_not_found_total{op=\"lookup\"} 1",
            "gomodfs_operation_duration_seconds_count{op=\"lookup\"} 3",
            "gomodfs_operation_duration_seconds_bucket{le=\"+Inf\",op=\"lookup\"} 3",
            "gomodfs_cache_hits_total{cache=\"blob\"} 1",
            "# TYPE gomodfs_operation_duration_seconds histogram",
        ] {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
    }

    #[test]
    fn renders_build_cache_counters_only_when_there_are_some() {
        let stats = Stats::default();
        assert!(!prometheus_text(&stats.snapshot()).contains("build_cache"));
        assert!(stats.snapshot().build_cache.is_none());
        stats.set_build_cache_source(std::sync::Arc::new(|| {
            Some(super::super::BuildCacheCounters {
                gets: 3,
                hits: 2,
                ..Default::default()
            })
        }));
        let text = prometheus_text(&stats.snapshot());
        assert!(text.contains("gomodfs_build_cache_hits_total 2"), "{text}");
        assert!(text.contains("gomodfs_build_cache_gets_total 3"), "{text}");
    }

    #[test]
    fn renders_one_info_gauge_per_frontend_while_it_serves() {
        let stats = Stats::default();
        assert!(!prometheus_text(&stats.snapshot()).contains("frontend_info"));
        let fuse = stats.add_frontend(super::super::FrontendStatus {
            kind: "fuse".into(),
            at: "/mnt/\"x\"".into(),
            transport: Some("io_uring".into()),
        });
        let text = prometheus_text(&stats.snapshot());
        let line = r#"gomodfs_frontend_info{kind="fuse",at="/mnt/\"x\"",transport="io_uring"} 1"#;
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
        drop(fuse);
        assert!(!prometheus_text(&stats.snapshot()).contains("frontend_info"));
    }
}
