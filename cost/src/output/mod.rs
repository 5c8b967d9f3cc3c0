//! The report for people (tables), for scripts (JSON, CSV), and one tier explained line by line.

pub mod chart;

use std::fmt::Write as _;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, Table};

use crate::CostReport;
use crate::format::{dollars, num};
use crate::model::Component;

fn users_label(users: u64) -> String {
    match users {
        u if u >= 1_000_000 && u % 1_000_000 == 0 => format!("{}M users", u / 1_000_000),
        u if u >= 1_000 && u % 1_000 == 0 => format!("{}K users", u / 1_000),
        u => format!("{u} users"),
    }
}

fn table(header: Vec<String>) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(header);
    table
}

fn right_align(table: &mut Table) {
    for column in table.column_iter_mut().skip(1) {
        column.set_cell_alignment(CellAlignment::Right);
    }
}

pub fn text(report: &CostReport) -> String {
    let mut header = vec!["USD per month".to_owned()];
    header.extend(report.tiers.iter().map(|t| users_label(t.users)));
    let mut costs = table(header.clone());
    costs.add_row(
        std::iter::once("requests/s (average)".to_owned())
            .chain(report.tiers.iter().map(|t| num((t.requests_per_second * 10.0).round() / 10.0))),
    );
    costs.add_row(
        std::iter::once(format!("requests/s (peak ×{})", num(report.workload.peak_factor)))
            .chain(report.tiers.iter().map(|t| num(t.peak_requests_per_second.round()))),
    );
    for component in Component::ALL {
        costs.add_row(
            std::iter::once(component.label().to_owned())
                .chain(report.tiers.iter().map(|t| dollars(t.cost(component)))),
        );
    }
    costs.add_row(std::iter::once("total".to_owned()).chain(report.tiers.iter().map(|t| dollars(t.total))));
    costs.add_row(
        std::iter::once("per user".to_owned()).chain(report.tiers.iter().map(|t| format!("${:.4}", t.per_user))),
    );
    right_align(&mut costs);

    let mut alternatives = table(
        std::iter::once("alternative: total (saving)".to_owned()).chain(header.iter().skip(1).cloned()).collect(),
    );
    for alternative in &report.alternatives {
        let cells = alternative.totals.iter().zip(&alternative.savings).map(|(total, saving)| {
            let base = total + saving;
            let share = if base > 0.0 { saving / base * 100.0 } else { 0.0 };
            format!("{} ({}{:.0}%)", dollars(*total), if *saving >= 0.0 { "−" } else { "+" }, share.abs())
        });
        alternatives.add_row(std::iter::once(alternative.name.to_owned()).chain(cells));
    }
    right_align(&mut alternatives);

    let c = &report.push;
    let mut push = table(std::iter::once("push vs polling".to_owned()).chain(header.iter().skip(1).cloned()).collect());
    let money = |name: String, totals: &[f64]| {
        std::iter::once(name).chain(totals.iter().map(|t| dollars(*t))).collect::<Vec<_>>()
    };
    push.add_row(money("polling, HTTP API".into(), &c.polling_http_api));
    push.add_row(money("polling, function URL".into(), &c.polling_function_url));
    push.add_row(money(format!("push, {}% online", num(c.online_share * 100.0)), &c.push));
    let share = |name: &str, shares: &[Option<f64>]| {
        std::iter::once(name.to_owned())
            .chain(
                shares
                    .iter()
                    .map(|s| s.map_or("none".to_owned(), |s| format!("{}%", num((s * 1000.0).round() / 10.0)))),
            )
            .collect::<Vec<_>>()
    };
    push.add_row(share("break-even online share vs HTTP API", &c.break_even_http_api));
    push.add_row(share("break-even online share vs function URL", &c.break_even_function_url));
    right_align(&mut push);

    let mut out = String::new();
    let w = &report.workload;
    let d = &report.deployment;
    let _ = writeln!(
        out,
        "Monthly AWS bill, us-east-1 list prices (730-hour month). Workload: {} poll/user/min, {} messages/user/day \
         ({}% to groups of {}), {}-byte texts, {} days of retention. Deployment: {} MB x86_64 Lambda, PITR {}, \
         logs kept {} days{}. Usage measured {}.\n",
        num(w.polls_per_user_per_minute),
        num(w.messages_per_user_per_day),
        num(w.group_share * 100.0),
        num(w.group_size),
        num(w.text_bytes),
        num(w.retention_days),
        num(d.memory_mb),
        if d.point_in_time_recovery { "on" } else { "off" },
        num(d.log_retention_days),
        if d.free_tier { ", free tier subtracted" } else { "" },
        report.usage_measured_on,
    );
    let _ = writeln!(out, "{costs}\n\n{alternatives}\n\n{push}");
    let _ = writeln!(
        out,
        "Push: below the break-even share of users online at once, push costs less than polling once a minute \
         (\"none\": less even with everyone online all the time)."
    );
    for alternative in report.alternatives.iter().filter(|a| a.note.is_some()) {
        let _ = writeln!(out, "{}: {}", alternative.name, alternative.note.unwrap_or_default());
    }
    for tier in &report.tiers {
        for warning in &tier.warnings {
            let _ = writeln!(out, "warning, {}: {warning}", users_label(tier.users));
        }
    }
    out
}

pub fn csv(report: &CostReport) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(["users", "item", "usd_per_month"]).expect("writing to memory");
    for tier in &report.tiers {
        let users = tier.users.to_string();
        for (component, cost) in &tier.components {
            let name =
                serde_json::to_value(component).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            writer.write_record([users.as_str(), &name, &cost.to_string()]).expect("writing to memory");
        }
        writer.write_record([users.as_str(), "total", &tier.total.to_string()]).expect("writing to memory");
        writer.write_record([users.as_str(), "per_user", &tier.per_user.to_string()]).expect("writing to memory");
    }
    for alternative in &report.alternatives {
        for (tier, total) in report.tiers.iter().zip(&alternative.totals) {
            writer
                .write_record([
                    &tier.users.to_string(),
                    &format!("alternative: {}", alternative.name),
                    &total.to_string(),
                ])
                .expect("writing to memory");
        }
    }
    let c = &report.push;
    for (i, tier) in report.tiers.iter().enumerate() {
        let users = tier.users.to_string();
        for (item, value) in [
            ("push_vs_polling: polling_http_api", Some(c.polling_http_api[i])),
            ("push_vs_polling: polling_function_url", Some(c.polling_function_url[i])),
            ("push_vs_polling: push", Some(c.push[i])),
            ("push_vs_polling: break_even_online_share_http_api", c.break_even_http_api[i]),
            ("push_vs_polling: break_even_online_share_function_url", c.break_even_function_url[i]),
        ] {
            let value = value.map_or("none".to_owned(), |v| v.to_string());
            writer.write_record([users.as_str(), item, &value]).expect("writing to memory");
        }
    }
    String::from_utf8(writer.into_inner().expect("flushed")).expect("UTF-8")
}

pub fn explain(report: &CostReport, users: u64) -> String {
    let Some(tier) = report.tiers.iter().find(|t| t.users == users) else { return String::new() };
    let mut lines = table(vec!["figure".into(), "value".into(), "unit".into(), "formula and inputs".into()]);
    for line in &tier.explain {
        lines.add_row(vec![line.name.clone(), num(line.value), line.unit.to_owned(), line.formula.clone()]);
    }
    format!(
        "{} — every figure, with its formula (prices from config/pricing.toml, workload from config/workload.toml, \
             per-operation usage from config/usage.toml)\n{lines}\n",
        users_label(users)
    )
}
