//! Numbers for people, shared by the `--explain` formulas and the report.

use crate::inputs::Tier;

/// A number for people: thousands separated, at most four decimals, no trailing zeros.
pub fn num(x: f64) -> String {
    let decimals = if x.abs() >= 100.0 {
        2
    } else if x.abs() >= 1.0 {
        4
    } else {
        10
    };
    let text = format!("{x:.decimals$}");
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let (sign, digits) = int.strip_prefix('-').map_or(("", int), |d| ("-", d));
    let grouped: Vec<String> =
        digits.as_bytes().rchunks(3).rev().map(|c| String::from_utf8_lossy(c).into_owned()).collect();
    let frac = frac.trim_end_matches('0');
    let frac = if x.abs() < 1.0 {
        frac.get(..frac.find(|c| c != '0').map_or(0, |i| (i + 4).min(frac.len()))).unwrap_or(frac)
    } else {
        frac
    };
    if frac.is_empty() { format!("{sign}{}", grouped.join(",")) } else { format!("{sign}{}.{frac}", grouped.join(",")) }
}

/// Dollars: whole ones from $100 up, cents below.
pub fn dollars(x: f64) -> String {
    if x >= 100.0 { format!("${}", num(x.round())) } else { format!("${x:.2}") }
}

/// A tiered price in words: "$1 per million up to 300, $0.9 per million beyond".
pub fn tiers_text(tiers: &[Tier], unit: &str) -> String {
    let bands: Vec<String> = tiers
        .iter()
        .map(|t| match t.up_to {
            Some(top) => format!("${} {unit} up to {}", num(t.price), num(top)),
            None => format!("${} {unit} beyond", num(t.price)),
        })
        .collect();
    bands.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(num(43_800_000.0), "43,800,000");
        assert_eq!(num(1234.5678), "1,234.57");
        assert_eq!(num(13.8203125), "13.8203");
        assert_eq!(num(0.0000166667), "0.00001666");
        assert_eq!(num(0.0), "0");
    }
}
