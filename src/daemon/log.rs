//! One line per event on standard error. Under systemd (`JOURNAL_STREAM` set) the journal
//! stamps each line; elsewhere the line starts with the UTC time.

use crate::health::unix_now;
use std::io::Write;
use std::sync::OnceLock;

/// Writes the line with one `write`: standard error is unbuffered, and `eprintln!` writes
/// each piece of its format on its own.
pub fn say(line: String) {
    static JOURNAL: OnceLock<bool> = OnceLock::new();
    let journal = *JOURNAL.get_or_init(|| std::env::var_os("JOURNAL_STREAM").is_some());
    let text = if journal {
        let mut text = line;
        text.push('\n');
        text
    } else {
        format!("{} {line}\n", utc(unix_now()))
    };
    let _ = std::io::stderr().write_all(text.as_bytes());
}

/// `2026-12-05T12:00:00Z` for Unix seconds.
pub fn utc(secs: u64) -> String {
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The calendar date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_from_day_counts() {
        assert_eq!(super::civil_from_days(0), (1970, 1, 1));
        assert_eq!(super::civil_from_days(20_792), (2026, 12, 5));
        assert_eq!(super::civil_from_days(11_016), (2000, 2, 29));
    }
}
