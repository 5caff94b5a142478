//! The cache of resolved Client ID Metadata Documents: how long a fetched
//! document may be reused, from its HTTP cache headers (RFC 9111), and a
//! map bounded in size that drops expired entries first.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant, SystemTime};

use http::{HeaderMap, header};

/// Bounds on how long a document is reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheBounds {
    /// Minimum reuse of a document whose headers allow caching.
    pub min_ttl: Duration,
    /// Maximum reuse of any document.
    pub max_ttl: Duration,
    /// Reuse of a document whose response has no `Cache-Control` lifetime
    /// and no `Expires`.
    pub default_ttl: Duration,
}

/// Returns how long a response may be reused, or `None` when it must not be
/// stored.
///
/// `Cache-Control: no-store` and `no-cache` are honoured exactly, so the
/// document is fetched again on the next resolution. Sluice does not
/// revalidate with `ETag`, so `no-cache` means the same as `no-store` here.
/// Otherwise `max-age`, then `Expires` measured from `Date` (or from `now`
/// when `Date` is missing), then `default_ttl` give the lifetime, which is
/// raised to `min_ttl` and capped at `max_ttl`. An `Expires` that is not a
/// valid HTTP date counts as already expired, as RFC 9111 section 5.3
/// requires, and so gets `min_ttl`.
pub fn cache_lifetime(
    headers: &HeaderMap,
    now: SystemTime,
    bounds: CacheBounds,
) -> Option<Duration> {
    let mut max_age = None;
    for value in headers.get_all(header::CACHE_CONTROL) {
        let Ok(text) = value.to_str() else {
            continue;
        };
        for directive in text.split(',') {
            let directive = directive.trim();
            let (name, argument) = match directive.split_once('=') {
                Some((name, argument)) => (name.trim(), Some(argument.trim().trim_matches('"'))),
                None => (directive, None),
            };
            if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
                return None;
            }
            if name.eq_ignore_ascii_case("max-age")
                && let Some(seconds) = argument.and_then(|text| text.parse::<u64>().ok())
            {
                // RFC 9111 section 4.2.1: with several max-age directives, the
                // response is treated as stale, which the minimum below covers.
                max_age = Some(max_age.map_or(seconds, |earlier: u64| earlier.min(seconds)));
            }
        }
    }
    let lifetime = match max_age {
        Some(seconds) => Duration::from_secs(seconds),
        None => match headers.get(header::EXPIRES) {
            Some(expires) => expires_lifetime(headers, expires, now),
            None => bounds.default_ttl,
        },
    };
    Some(lifetime.clamp(bounds.min_ttl, bounds.max_ttl.max(bounds.min_ttl)))
}

/// Returns the time from `Date` (or `now`) to `Expires`, zero when that is in
/// the past or the header is invalid.
fn expires_lifetime(headers: &HeaderMap, expires: &http::HeaderValue, now: SystemTime) -> Duration {
    let Some(expires) = expires
        .to_str()
        .ok()
        .and_then(|text| httpdate::parse_http_date(text).ok())
    else {
        return Duration::ZERO;
    };
    let date = headers
        .get(header::DATE)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| httpdate::parse_http_date(text).ok())
        .unwrap_or(now);
    expires.duration_since(date).unwrap_or(Duration::ZERO)
}

/// A map whose entries expire, holding at most `max_entries` of them. When
/// it is full, an insert drops the expired entries, and if none expired,
/// the entry closest to expiry.
#[derive(Debug)]
pub struct ExpiringMap<K, V> {
    entries: HashMap<K, (V, Instant)>,
    max_entries: usize,
}

impl<K: Eq + Hash + Clone, V: Clone> ExpiringMap<K, V> {
    /// Creates an empty map for at most `max_entries` entries (at least one).
    pub fn new(max_entries: usize) -> Self {
        Self {
            entries: HashMap::new(),
            max_entries: max_entries.max(1),
        }
    }

    /// Returns the value of `key` if it has not expired at `now`.
    pub fn get(&self, key: &K, now: Instant) -> Option<V> {
        self.entries
            .get(key)
            .filter(|(_, expires)| *expires > now)
            .map(|(value, _)| value.clone())
    }

    /// Stores `value` under `key` until `expires`.
    pub fn insert(&mut self, key: K, value: V, expires: Instant, now: Instant) {
        if !self.entries.contains_key(&key) && self.entries.len() >= self.max_entries {
            self.entries
                .retain(|_, (_, entry_expires)| *entry_expires > now);
            if self.entries.len() >= self.max_entries {
                let soonest = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (_, entry_expires))| *entry_expires)
                    .map(|(soonest_key, _)| soonest_key.clone());
                if let Some(soonest_key) = soonest {
                    self.entries.remove(&soonest_key);
                }
            }
        }
        self.entries.insert(key, (value, expires));
    }

    /// Removes the entry of `key`.
    pub fn remove(&mut self, key: &K) {
        self.entries.remove(key);
    }

    /// Returns the number of stored entries, expired ones included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Returns whether the map stores no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: CacheBounds = CacheBounds {
        min_ttl: Duration::from_secs(60),
        max_ttl: Duration::from_secs(86_400),
        default_ttl: Duration::from_secs(300),
    };

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().expect("header value"));
        }
        map
    }

    fn lifetime(pairs: &[(&'static str, &str)]) -> Option<Duration> {
        let now = httpdate::parse_http_date("Sat, 05 Dec 2026 02:00:00 GMT").expect("date");
        cache_lifetime(&headers(pairs), now, BOUNDS)
    }

    #[test]
    fn max_age_within_bounds() {
        assert_eq!(
            lifetime(&[("cache-control", "public, max-age=600")]),
            Some(Duration::from_secs(600))
        );
        assert_eq!(
            lifetime(&[("cache-control", "max-age=\"900\"")]),
            Some(Duration::from_secs(900))
        );
    }

    #[test]
    fn max_age_clamped() {
        assert_eq!(
            lifetime(&[("cache-control", "max-age=5")]),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            lifetime(&[("cache-control", "max-age=0")]),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            lifetime(&[("cache-control", "max-age=9999999")]),
            Some(Duration::from_secs(86_400))
        );
    }

    #[test]
    fn no_store_and_no_cache_not_stored() {
        assert_eq!(lifetime(&[("cache-control", "no-store")]), None);
        assert_eq!(
            lifetime(&[("cache-control", "max-age=600, No-Cache")]),
            None
        );
        assert_eq!(
            lifetime(&[
                ("cache-control", "max-age=600"),
                ("cache-control", "no-store")
            ]),
            None
        );
    }

    #[test]
    fn smallest_max_age_wins() {
        assert_eq!(
            lifetime(&[("cache-control", "max-age=7200, max-age=600")]),
            Some(Duration::from_secs(600))
        );
    }

    #[test]
    fn expires_from_date() {
        let pairs = [
            ("date", "Sat, 05 Dec 2026 01:00:00 GMT"),
            ("expires", "Sat, 05 Dec 2026 02:00:00 GMT"),
        ];
        assert_eq!(lifetime(&pairs), Some(Duration::from_secs(3_600)));
    }

    #[test]
    fn expires_from_now_without_date() {
        assert_eq!(
            lifetime(&[("expires", "Sat, 05 Dec 2026 02:30:00 GMT")]),
            Some(Duration::from_secs(1_800))
        );
    }

    #[test]
    fn max_age_overrides_expires() {
        let pairs = [
            ("cache-control", "max-age=120"),
            ("expires", "Sat, 05 Dec 2026 12:00:00 GMT"),
        ];
        assert_eq!(lifetime(&pairs), Some(Duration::from_secs(120)));
    }

    #[test]
    fn invalid_or_past_expires_gets_minimum() {
        assert_eq!(lifetime(&[("expires", "0")]), Some(Duration::from_secs(60)));
        assert_eq!(
            lifetime(&[("expires", "Fri, 04 Dec 2026 02:00:00 GMT")]),
            Some(Duration::from_secs(60))
        );
    }

    #[test]
    fn no_headers_gets_default() {
        assert_eq!(lifetime(&[]), Some(Duration::from_secs(300)));
    }

    #[test]
    fn map_entries_expire() {
        let start = Instant::now();
        let mut map = ExpiringMap::new(4);
        map.insert("a", 1, start + Duration::from_secs(10), start);
        assert_eq!(map.get(&"a", start), Some(1));
        assert_eq!(map.get(&"a", start + Duration::from_secs(10)), None);
        map.remove(&"a");
        assert!(map.is_empty());
    }

    #[test]
    fn full_map_drops_expired_then_soonest() {
        let start = Instant::now();
        let later = start + Duration::from_secs(20);
        let mut map = ExpiringMap::new(2);
        map.insert("short", 1, start + Duration::from_secs(5), start);
        map.insert("long", 2, start + Duration::from_secs(100), start);
        map.insert("new", 3, start + Duration::from_secs(50), later);
        assert_eq!(map.len(), 2);
        assert_eq!(
            map.get(&"short", start),
            None,
            "the expired entry is dropped first"
        );
        assert_eq!(map.get(&"long", later), Some(2));

        map.insert("newest", 4, start + Duration::from_secs(200), later);
        assert_eq!(map.len(), 2);
        assert_eq!(
            map.get(&"new", later),
            None,
            "the entry closest to expiry is dropped"
        );
        assert_eq!(map.get(&"long", later), Some(2));
        assert_eq!(map.get(&"newest", later), Some(4));
    }

    #[test]
    fn replacing_key_in_full_map_keeps_others() {
        let start = Instant::now();
        let mut map = ExpiringMap::new(2);
        map.insert("a", 1, start + Duration::from_secs(5), start);
        map.insert("b", 2, start + Duration::from_secs(100), start);
        map.insert("a", 3, start + Duration::from_secs(50), start);
        assert_eq!(map.get(&"a", start), Some(3));
        assert_eq!(map.get(&"b", start), Some(2));
    }
}
