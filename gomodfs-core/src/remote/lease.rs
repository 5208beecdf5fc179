//! Leases: across hosts, one of them downloads a module from upstream while
//! the others wait for its object.
//!
//! A lease is an object created with `If-None-Match: *` holding who took it
//! and when it expires. Whoever creates it downloads; the others see it
//! exists and wait. An expired lease (its holder crashed or is very slow)
//! is deleted and taken again, so a crashed host blocks the others for at
//! most the lease's lifetime.

use super::client::{Put, Remote};
use crate::error::Result;
use bytes::Bytes;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Default lifetime of a lease.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// The contents of a lease object.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct LeaseBody {
    /// Host name and process id of the holder, for people reading the bucket.
    holder: String,
    /// Seconds since the Unix epoch when the lease ends.
    expires: u64,
}

/// The outcome of [`acquire`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lease {
    /// This process holds the lease: download, upload, then [`release`].
    Acquired,
    /// Another process holds it until `expires` (Unix seconds).
    HeldElsewhere {
        /// Who holds it.
        holder: String,
        /// When it ends (Unix seconds).
        expires: u64,
    },
}

/// Tries to take the lease at `key` for `ttl`. An expired lease is deleted
/// and taken again (once per call).
pub async fn acquire(remote: &Remote, key: &str, ttl: Duration) -> Result<Lease> {
    for _ in 0..2 {
        let now = unix_now();
        let body = LeaseBody {
            holder: holder(),
            expires: now + ttl.as_secs().max(1),
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        if remote.put_if_absent(key, Bytes::from(json)).await? == Put::Created {
            return Ok(Lease::Acquired);
        }
        let Some(data) = remote.get(key).await? else {
            continue; // released meanwhile: try again
        };
        match serde_json::from_slice::<LeaseBody>(&data) {
            Ok(other) if other.expires > now => {
                return Ok(Lease::HeldElsewhere {
                    holder: other.holder,
                    expires: other.expires,
                });
            }
            // Expired, or not a lease we can read: take it over.
            _ => {
                tracing::info!(key, "taking over an expired lease");
                remote.delete(key).await?;
            }
        }
    }
    // Lost two races in a row: count it as held for one more lifetime.
    Ok(Lease::HeldElsewhere {
        holder: "unknown".to_owned(),
        expires: unix_now() + ttl.as_secs().max(1),
    })
}

/// Ends a lease this process holds.
pub async fn release(remote: &Remote, key: &str) -> Result<()> {
    remote.delete(key).await
}

fn holder() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_owned());
    format!("{}/{}", host.trim(), std::process::id())
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn one_holder_at_a_time_and_expired_leases_are_taken_over() {
        let r = Remote::in_memory();
        let ttl = Duration::from_secs(30);
        assert_eq!(acquire(&r, "l", ttl).await.unwrap(), Lease::Acquired);
        assert!(matches!(
            acquire(&r, "l", ttl).await.unwrap(),
            Lease::HeldElsewhere { .. }
        ));
        release(&r, "l").await.unwrap();
        assert_eq!(acquire(&r, "l", ttl).await.unwrap(), Lease::Acquired);
        // An expired lease left by a crashed holder.
        release(&r, "l").await.unwrap();
        let stale = serde_json::to_vec(&LeaseBody {
            holder: "gone/1".into(),
            expires: unix_now() - 1,
        })
        .unwrap();
        r.put_if_absent("l", Bytes::from(stale)).await.unwrap();
        assert_eq!(acquire(&r, "l", ttl).await.unwrap(), Lease::Acquired);
    }
}
