//! Times as lvsd writes them everywhere (API, audit log, store, reports):
//! RFC 3339 in UTC with milliseconds, `2026-12-08T10:00:00.250Z`, which sorts
//! as text in time order.

use std::time::SystemTime;

/// `at` in lvsd's one time format.
pub fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

/// Now, in lvsd's one time format.
pub fn now_rfc3339() -> String {
    rfc3339(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn times_are_utc_with_milliseconds_and_sort_as_text() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_796_726_400_250);
        assert_eq!(rfc3339(at), "2026-12-08T10:40:00.250Z");
        let later = rfc3339(at + Duration::from_millis(800));
        assert_eq!(later, "2026-12-08T10:40:01.050Z");
        assert!(rfc3339(at) < later);
    }
}
