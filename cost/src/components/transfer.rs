//! Data transfer out: each response's body (measured, adjusted to the workload's text length)
//! and headers, and with push a frame for every entry.

use super::Tier;
use crate::format::{num, tiers_text};
use crate::inputs::tiered;
use crate::ledger::Ledger;
use crate::model::GB;

pub fn price(tier: &Tier<'_>, l: &mut Ledger) -> f64 {
    let (p, w, m) = (tier.pricing, tier.workload, tier.measured);
    let text_delta = tier.text_delta();
    let mut out_bytes = 0.0;
    for i in tier.invocations.iter().filter(|i| i.usage.response_bytes > 0 && i.kind.answers_in_response()) {
        let text = if i.kind.carries_text() { text_delta } else { 0.0 };
        out_bytes += i.count * (i.usage.response_bytes as f64 + text + w.response_header_bytes);
    }
    // Every frame of an entry, pushed or resumed: the measured resume of one entry (its frame and
    // `caught_up`) per entry, an upper bound.
    let frames = m.push.map_or(String::new(), |push| {
        out_bytes += tier.traffic.entries * (push.resume.response_bytes as f64 + text_delta);
        format!(" + {} entries × {} B frames", num(tier.traffic.entries), push.resume.response_bytes)
    });
    let out_gb = l.put(
        "data out",
        out_bytes / GB,
        "GB",
        format!(
            "Σ responses × (measured body: {} B empty poll, {} B poll with a message, {} B direct, {} B group; + {} B \
             headers){frames} / 2^30",
            m.empty_poll.response_bytes,
            m.poll_one.response_bytes,
            m.direct.response_bytes,
            m.group.response_bytes,
            num(w.response_header_bytes),
        ),
    );
    l.put(
        "Data transfer out",
        tiered((out_gb - tier.free(p.free_tier.data_transfer_gb)).max(0.0), &p.data_transfer_out.per_gb),
        "USD",
        format!("{} GB at {}", num(out_gb), tiers_text(&p.data_transfer_out.per_gb, "per GB")),
    )
}
