//! JUnit XML for CI systems: one `<testcase>` per scenario, its failure message, and a pointer
//! to its serial log. Written by hand (a dozen lines of XML do not need a crate): every text
//! and attribute goes through [`escape`].

use std::fmt::Write;

/// One scenario's outcome as JUnit sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub name: String,
    pub seconds: f64,
    /// `None` when it passed.
    pub failure: Option<String>,
    /// Where the serial log is, shown as the case's `system-out`.
    pub log: Option<String>,
}

/// Escapes the five XML special characters and drops characters XML 1.0 cannot carry.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

/// The whole report: one `<testsuite>` named `suite`.
pub fn render(suite: &str, cases: &[Case]) -> String {
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let total: f64 = cases.iter().map(|c| c.seconds).sum();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites tests=\"{}\" failures=\"{failures}\" time=\"{total:.3}\">",
        cases.len()
    );
    let _ = writeln!(
        xml,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{total:.3}\">",
        escape(suite),
        cases.len()
    );
    for case in cases {
        let _ = write!(
            xml,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            escape(suite),
            escape(&case.name),
            case.seconds
        );
        if case.failure.is_none() && case.log.is_none() {
            xml.push_str("/>\n");
            continue;
        }
        xml.push_str(">\n");
        if let Some(msg) = &case.failure {
            let first = msg.lines().next().unwrap_or_default();
            let _ = writeln!(
                xml,
                "      <failure message=\"{}\">{}</failure>",
                escape(first),
                escape(msg)
            );
        }
        if let Some(log) = &case.log {
            let _ = writeln!(
                xml,
                "      <system-out>serial log: {}</system-out>",
                escape(log)
            );
        }
        xml.push_str("    </testcase>\n");
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_failures_and_escaping() {
        let xml = render(
            "validate",
            &[
                Case {
                    name: "first-boot".into(),
                    seconds: 9.5,
                    failure: None,
                    log: None,
                },
                Case {
                    name: "bad<kernel>".into(),
                    seconds: 1.25,
                    failure: Some("marker \"run\" & more\nsecond line\u{1}".into()),
                    log: Some("/w/bad.log".into()),
                },
            ],
        );
        assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
        assert!(
            xml.contains("name=\"first-boot\" time=\"9.500\"/>"),
            "{xml}"
        );
        assert!(xml.contains("name=\"bad&lt;kernel&gt;\""), "{xml}");
        assert!(
            xml.contains("message=\"marker &quot;run&quot; &amp; more\""),
            "{xml}"
        );
        assert!(!xml.contains('\u{1}'));
        assert!(xml.contains("<system-out>serial log: /w/bad.log</system-out>"));
        let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
        let names: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .map(|n| n.attribute("name").unwrap().to_string())
            .collect();
        assert_eq!(names, ["first-boot", "bad<kernel>"]);
        let failure = doc
            .descendants()
            .find(|n| n.has_tag_name("failure"))
            .unwrap();
        assert_eq!(failure.text(), Some("marker \"run\" & more\nsecond line"));
    }
}
