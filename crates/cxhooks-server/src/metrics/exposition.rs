//! The two text formats `/metrics` speaks: Prometheus' classic text format 0.0.4 (the default)
//! and OpenMetrics 1.0 (when the scraper ranks it first in `Accept`, as Prometheus itself
//! does). The registry encodes OpenMetrics; the classic form is derived from it.

/// `Content-Type` of the classic format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `Content-Type` of OpenMetrics.
pub const OPENMETRICS_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Whether `accept` ranks OpenMetrics above the classic text format. Without an `Accept`
/// header, or with one that names neither (or both at the same weight), the classic format is
/// served: every Prometheus-compatible scraper reads it.
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    let Some(accept) = accept else {
        return false;
    };
    let (mut openmetrics, mut classic) = (0.0_f32, 0.0_f32);
    for range in accept.split(',') {
        let Ok(media) = range.trim().parse::<mime::Mime>() else {
            continue;
        };
        let q = media
            .get_param("q")
            .and_then(|q| q.as_str().parse::<f32>().ok())
            .unwrap_or(1.0);
        match (media.type_().as_str(), media.subtype().as_str()) {
            ("application", "openmetrics-text") => openmetrics = openmetrics.max(q),
            ("text", "plain") | ("text", "*") | ("*", "*") => classic = classic.max(q),
            _ => {}
        }
    }
    openmetrics > 0.0 && openmetrics > classic
}

/// The classic text format of an OpenMetrics exposition: a counter family is named after its
/// samples (`…_total`) in `# HELP` and `# TYPE`, so that a classic parser keeps its type;
/// `# UNIT` and `# EOF` are left out and `unknown` becomes `untyped`.
pub fn classic(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 16 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some((kind, rest)) = line
            .strip_prefix("# HELP ")
            .map(|r| ("HELP", r))
            .or_else(|| line.strip_prefix("# TYPE ").map(|r| ("TYPE", r)))
        {
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            let suffix = if counters.contains(name) {
                "_total"
            } else {
                ""
            };
            let tail = match (kind, tail) {
                ("TYPE", "unknown") => "untyped".to_owned(),
                // OpenMetrics escapes `"` in help texts; the classic format does not.
                ("HELP", help) => help.replace("\\\"", "\""),
                (_, other) => other.to_owned(),
            };
            out.push_str(&format!("# {kind} {name}{suffix} {tail}\n"));
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_asks_for_openmetrics_first_and_gets_it() {
        // Prometheus 2.x/3.x's scrape header.
        let prometheus = "application/openmetrics-text;version=1.0.0;q=0.5,\
            application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        assert!(wants_openmetrics(Some(prometheus)));
        assert!(wants_openmetrics(Some("application/openmetrics-text")));
    }

    #[test]
    fn the_classic_format_is_the_default() {
        assert!(!wants_openmetrics(None));
        assert!(!wants_openmetrics(Some("text/plain; version=0.0.4")));
        assert!(!wants_openmetrics(Some("*/*")));
        assert!(!wants_openmetrics(Some("application/json")));
        assert!(!wants_openmetrics(Some("garbage;;;,")));
        // Both at the same weight: the classic one.
        assert!(!wants_openmetrics(Some(
            "text/plain, application/openmetrics-text"
        )));
        assert!(!wants_openmetrics(Some(
            "application/openmetrics-text;q=0.2, text/plain;q=0.9"
        )));
    }

    #[test]
    fn counters_are_named_after_their_samples_in_the_classic_format() {
        let om = "# HELP cxhooks_changes_accepted Changes \\\"accepted\\\".\n\
            # TYPE cxhooks_changes_accepted counter\n\
            cxhooks_changes_accepted_total 3\n\
            # HELP cxhooks_queue_depth Depth.\n\
            # TYPE cxhooks_queue_depth gauge\n\
            # UNIT cxhooks_queue_depth deliveries\n\
            cxhooks_queue_depth 0\n\
            # TYPE cxhooks_other unknown\n\
            cxhooks_other 1\n\
            # EOF\n";
        assert_eq!(
            classic(om),
            "# HELP cxhooks_changes_accepted_total Changes \"accepted\".\n\
             # TYPE cxhooks_changes_accepted_total counter\n\
             cxhooks_changes_accepted_total 3\n\
             # HELP cxhooks_queue_depth Depth.\n\
             # TYPE cxhooks_queue_depth gauge\n\
             cxhooks_queue_depth 0\n\
             # TYPE cxhooks_other untyped\n\
             cxhooks_other 1\n"
        );
    }
}
