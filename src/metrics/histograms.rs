//! The four business histograms in OpenMetrics, with their exemplars.
//!
//! prometheus-client writes exemplars only for its own live histograms and offers no way
//! to hand it one, so in OpenMetrics these families are written here: line for line as
//! prometheus-client writes a histogram (a test holds the two to the same text), each
//! bucket that has an exemplar followed by ` # {conversation_id="…"} value time`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::ledger::{Exemplar, Histogram, Slots};

/// One histogram family: its series, their label sets already written
/// (`project_id="1001",channel="chat"`), and their exemplars.
pub(super) struct Family<'a, K> {
    pub name: &'static str,
    pub help: &'static str,
    pub bounds: &'a [f64],
    pub series: &'a BTreeMap<K, Histogram>,
    pub exemplars: &'a BTreeMap<K, Slots>,
    pub labels: &'a dyn Fn(&K) -> String,
}

/// Writes `family` in OpenMetrics, without `# EOF`; nothing when it has no series.
pub(super) fn write<K: Ord>(out: &mut String, family: &Family<'_, K>) -> std::fmt::Result {
    if family.series.is_empty() {
        return Ok(());
    }
    let name = family.name;
    writeln!(out, "# HELP {name} {}", family.help)?;
    writeln!(out, "# TYPE {name} histogram")?;
    let mut number = dtoa::Buffer::new();
    for (key, histogram) in family.series {
        let labels = (family.labels)(key);
        writeln!(
            out,
            "{name}_sum{{{labels}}} {}",
            number.format(histogram.sum)
        )?;
        writeln!(out, "{name}_count{{{labels}}} {}", histogram.count)?;
        let slots = family.exemplars.get(key);
        let mut cumulative = 0u64;
        for (slot, count) in histogram.counts.iter().enumerate() {
            cumulative += count;
            let le = match family.bounds.get(slot) {
                Some(bound) => number.format(*bound).to_owned(),
                None => "+Inf".to_owned(),
            };
            write!(out, "{name}_bucket{{le=\"{le}\",{labels}}} {cumulative}")?;
            if let Some(exemplar) = slots.and_then(|s| s.get(slot)).and_then(Option::as_ref) {
                write_exemplar(out, exemplar)?;
            }
            out.push('\n');
        }
    }
    Ok(())
}

fn write_exemplar(out: &mut String, e: &Exemplar) -> std::fmt::Result {
    let id = super::business::escape_label_value(&e.conversation.text());
    let mut number = dtoa::Buffer::new();
    write!(
        out,
        " # {{conversation_id=\"{id}\"}} {} {}.{:03}",
        number.format(e.value),
        e.counted_at.div_euclid(1000),
        e.counted_at.rem_euclid(1000)
    )
}
