//! The simulator's ground truth as exposition samples, and the comparison with a scrape.

use std::collections::BTreeMap;

use iadvize_exporter::simulator;

use super::{Exposition, key};

/// Floats equal to a relative 1e-9 (sums added in another order).
pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// The business samples a ground truth pins down, keyed as [`Exposition`] keys them.
pub fn expected_from_truth(truth: &simulator::Truth) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let pc = |p: &str, c: &str| vec![("project_id", p.to_owned()), ("channel", c.to_owned())];
    let mut put = |name: &str, labels: &[(&str, String)], value: f64| {
        let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        out.insert(key(name, &labels), value);
    };
    for r in truth.conversations.iter().filter(|r| r.count > 0) {
        put(
            "iadvize_conversations_closed_total",
            &pc(&r.project_id, &r.channel),
            r.count as f64,
        );
    }
    for r in truth.duration.iter().filter(|r| r.count > 0) {
        let l = pc(&r.project_id, &r.channel);
        put(
            "iadvize_conversation_duration_seconds_count",
            &l,
            r.count as f64,
        );
        put("iadvize_conversation_duration_seconds_sum", &l, r.sum);
    }
    for r in truth.csat.iter().filter(|r| r.count > 0) {
        let l = pc(&r.project_id, &r.channel);
        put("iadvize_csat_score_count", &l, r.count as f64);
        put("iadvize_csat_score_sum", &l, r.sum);
        let mut cumulative = 0;
        for v in 1..=5 {
            cumulative += r.buckets.get(&v.to_string()).copied().unwrap_or(0);
            let mut lb = l.clone();
            lb.push(("le", v.to_string()));
            put("iadvize_csat_score_bucket", &lb, cumulative as f64);
        }
    }
    for r in truth.nps.iter().filter(|r| r.count > 0) {
        let l = pc(&r.project_id, &r.channel);
        put("iadvize_nps_score_count", &l, r.count as f64);
        put("iadvize_nps_score_sum", &l, r.sum);
        for (le, v) in [
            ("6", r.detractors),
            ("8", r.detractors + r.passives),
            ("10", r.detractors + r.passives + r.promoters),
        ] {
            let mut lb = l.clone();
            lb.push(("le", le.to_owned()));
            put("iadvize_nps_score_bucket", &lb, v as f64);
        }
    }
    for r in truth.conversions.iter().filter(|r| r.count > 0) {
        put(
            "iadvize_conversions_total",
            &pc(&r.project_id, &r.channel),
            r.count as f64,
        );
    }
    for r in truth.transactions.iter().filter(|r| r.count > 0) {
        let mut l = pc(&r.project_id, &r.channel);
        l.push(("currency", r.currency.clone()));
        put("iadvize_transaction_amount_count", &l, r.count as f64);
        put("iadvize_transaction_amount_sum", &l, r.sum);
    }
    out
}

/// The samples of a scrape that [`expected_from_truth`] covers, with zero-valued
/// conversion series left out (the truth lists only conversations that converted).
pub fn business_view(e: &Exposition) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for (k, v) in &e.samples {
        let name = k.split('{').next().unwrap_or("");
        let keep = match name {
            "iadvize_conversations_closed_total"
            | "iadvize_conversation_duration_seconds_count"
            | "iadvize_conversation_duration_seconds_sum"
            | "iadvize_csat_score_count"
            | "iadvize_csat_score_sum"
            | "iadvize_nps_score_count"
            | "iadvize_nps_score_sum"
            | "iadvize_transaction_amount_count"
            | "iadvize_transaction_amount_sum" => true,
            "iadvize_conversions_total" => *v != 0.0,
            "iadvize_csat_score_bucket" => !k.contains("le=\"+Inf\""),
            "iadvize_nps_score_bucket" => {
                k.contains("le=\"6\"") || k.contains("le=\"8\"") || k.contains("le=\"10\"")
            }
            _ => false,
        };
        if keep {
            out.insert(k.clone(), *v);
        }
    }
    out
}

/// Differences between what the exporter shows and what the truth says, one per line;
/// empty when they agree.
pub fn diff(actual: &BTreeMap<String, f64>, expected: &BTreeMap<String, f64>) -> String {
    let mut lines = Vec::new();
    for (k, want) in expected {
        match actual.get(k) {
            None => lines.push(format!("missing   {k} (want {want})")),
            Some(got) if !close(*got, *want) => {
                lines.push(format!("wrong     {k} = {got}, want {want}"))
            }
            Some(_) => {}
        }
    }
    for (k, got) in actual {
        if !expected.contains_key(k) {
            lines.push(format!("unexpected {k} = {got}"));
        }
    }
    lines.join("\n")
}

/// `Ok` when the business samples of `scrape` are `expected`, else the differences.
pub fn agrees(scrape: &Exposition, expected: &BTreeMap<String, f64>) -> Result<(), String> {
    let d = diff(&business_view(scrape), expected);
    if d.is_empty() { Ok(()) } else { Err(d) }
}

/// How many conversations closed, by the `iadvize_conversations_closed_total` samples.
pub fn conversations_closed(samples: &BTreeMap<String, f64>) -> f64 {
    samples
        .iter()
        .filter(|(k, _)| k.starts_with("iadvize_conversations_closed_total"))
        .map(|(_, v)| v)
        .sum()
}
