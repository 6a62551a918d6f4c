//! Go's duration syntax (`time.ParseDuration`), which snapd uses for `restart-delay`,
//! `stop-timeout`, `start-timeout` and `watchdog-timeout`: a sequence of decimal numbers with
//! a unit each (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`), such as `10s`, `1.5s` or `1m30s`; a bare
//! number other than `0` is refused, as Go refuses it.

use std::time::Duration;

/// Parses a Go duration; the error says what is wrong with `text`.
pub fn parse_go_duration(text: &str) -> Result<Duration, String> {
    if text.starts_with('-') {
        return Err(format!("{text:?} is negative"));
    }
    let body = text.strip_prefix('+').unwrap_or(text);
    if body == "0" {
        return Ok(Duration::ZERO);
    }
    if body.is_empty() {
        return Err("empty duration".into());
    }
    let mut rest = body;
    let mut nanos: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        if number.is_empty() || number == "." {
            return Err(format!("{text:?} is not a Go duration (like 10s or 1m30s)"));
        }
        let value: f64 = number
            .parse()
            .map_err(|_| format!("{text:?}: bad number {number:?}"))?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => {
                return Err(format!(
                    "{text:?}: missing unit (Go durations need one: 10s)"
                ));
            }
            other => return Err(format!("{text:?}: unknown unit {other:?}")),
        };
        nanos += value * scale;
        rest = next;
    }
    if !nanos.is_finite() || nanos > u64::MAX as f64 {
        return Err(format!("{text:?} is too large"));
    }
    // Whole nanoseconds, as Go keeps them.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(Duration::from_nanos(nanos.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_go_accepts() {
        let d = |s| parse_go_duration(s).unwrap();
        assert_eq!(d("10s"), Duration::from_secs(10));
        assert_eq!(d("1.5s"), Duration::from_millis(1500));
        assert_eq!(d("1m30s"), Duration::from_secs(90));
        assert_eq!(d("250ms"), Duration::from_millis(250));
        assert_eq!(d("2h"), Duration::from_secs(7200));
        assert_eq!(d("0"), Duration::ZERO);
        assert_eq!(d("+3s"), Duration::from_secs(3));
    }

    #[test]
    fn refuses_what_go_refuses() {
        for bad in ["10", "", "s", "-1s", "1x", "1.s2", ".s", "1 s"] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(
            parse_go_duration("10")
                .unwrap_err()
                .contains("missing unit")
        );
        assert!(parse_go_duration("-5s").unwrap_err().contains("negative"));
    }
}
