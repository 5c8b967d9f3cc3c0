//! DynamoDB's billing rules: the size of an item, and the read and write request units a request
//! is billed for. One implementation, used by the store's counters ([`super::metrics`]) and by
//! the cost report, and checked against items of known size in the tests below.
//!
//! Source: Amazon DynamoDB Developer Guide, "DynamoDB item sizes and formats" and "DynamoDB read
//! and write operations" (docs.aws.amazon.com/amazondynamodb/latest/developerguide/
//! CapacityUnitCalculations.html and read-write-operations.html):
//! - an item's size is the sum of its attribute names' UTF-8 bytes and its values' sizes: a string
//!   its UTF-8 bytes, a number about one byte per two significant digits plus one, a binary its raw
//!   bytes, a Boolean or null one byte, a list or map three bytes plus one byte per element plus
//!   the elements (a map's elements with their names);
//! - a read is billed per 4 KB of the items it reads, rounded up, and at least one 4 KB block even
//!   when nothing is found: one unit per block strongly consistent, half eventually consistent,
//!   two in a transaction; a `Query` adds up all the items it reads before rounding, a
//!   `BatchGetItem` rounds every item on its own;
//! - a write is billed per 1 KB of the larger of the item before and after it, rounded up, at least
//!   one block: one unit per block, two in a transaction (condition checks included).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Update};

/// An item, or a key, as the SDK holds it.
pub type Attributes = HashMap<String, AttributeValue>;

pub const READ_BLOCK: u64 = 4096;
pub const WRITE_BLOCK: u64 = 1024;

/// How a read is made: what one 4 KB block of it costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read {
    Eventual,
    Strong,
    Transactional,
}

/// The item's size in bytes, by DynamoDB's rules.
pub fn item_size(item: &Attributes) -> u64 {
    item.iter().map(|(name, value)| name.len() as u64 + value_size(value)).sum()
}

/// One attribute's value, by the same rules.
pub fn value_size(value: &AttributeValue) -> u64 {
    match value {
        AttributeValue::S(text) => text.len() as u64,
        AttributeValue::N(number) => number_size(number),
        AttributeValue::B(blob) => blob.as_ref().len() as u64,
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::L(list) => 3 + list.iter().map(|v| 1 + value_size(v)).sum::<u64>(),
        AttributeValue::M(map) => 3 + map.iter().map(|(k, v)| 1 + k.len() as u64 + value_size(v)).sum::<u64>(),
        AttributeValue::Ss(set) => set.iter().map(|s| s.len() as u64).sum(),
        AttributeValue::Ns(set) => set.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(set) => set.iter().map(|b| b.as_ref().len() as u64).sum(),
        _ => 0,
    }
}

/// One byte per two significant digits (leading and trailing zeros trimmed), plus one.
fn number_size(number: &str) -> u64 {
    let mantissa = number.split(['e', 'E']).next().unwrap_or_default();
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len().max(1) as u64;
    significant.div_ceil(2) + 1
}

/// The bytes an update's `SET` clauses write: each assigned attribute's name and value (names and
/// values resolved through the expression's placeholders). The store's updates only `SET`.
pub fn assigned_size(update: &Update) -> u64 {
    let clauses = update.update_expression().trim();
    let clauses = clauses.strip_prefix("SET ").unwrap_or(clauses);
    let names = update.expression_attribute_names();
    let values = update.expression_attribute_values();
    clauses
        .split(',')
        .filter_map(|clause| clause.split_once('='))
        .map(|(name, value)| {
            let (name, value) = (name.trim(), value.trim());
            let name = names.and_then(|n| n.get(name)).map_or(name, String::as_str);
            let value = values.and_then(|v| v.get(value)).map_or(0, value_size);
            name.len() as u64 + value
        })
        .sum()
}

/// Read units for reading `bytes` in one request (a `GetItem`'s item, or a `Query`'s items added
/// up); a read that finds nothing is still billed one block.
pub fn read_units(bytes: u64, read: Read) -> f64 {
    let blocks = bytes.div_ceil(READ_BLOCK).max(1) as f64;
    match read {
        Read::Eventual => blocks / 2.0,
        Read::Strong => blocks,
        Read::Transactional => blocks * 2.0,
    }
}

/// Write units for writing an item of `bytes` (the larger of before and after).
pub fn write_units(bytes: u64, transactional: bool) -> f64 {
    let blocks = bytes.div_ceil(WRITE_BLOCK).max(1) as f64;
    if transactional { blocks * 2.0 } else { blocks }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, AttributeValue)]) -> Attributes {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
    }

    #[test]
    fn item_sizes_follow_the_documented_rules() {
        use AttributeValue::{Bool, L, M, N, Null, S};
        // Strings: name bytes plus UTF-8 bytes ("é" is two bytes).
        assert_eq!(item_size(&item(&[("pk", S("U#abc".into()))])), 2 + 5);
        assert_eq!(item_size(&item(&[("name", S("héllo".into()))])), 4 + 6);
        // Numbers: (significant digits / 2, rounded up) + 1, zeros at either end trimmed.
        assert_eq!(item_size(&item(&[("seq", N("7".into()))])), 3 + 2);
        assert_eq!(item_size(&item(&[("seq", N("123".into()))])), 3 + 3);
        assert_eq!(item_size(&item(&[("at", N("1795412400000".into()))])), 2 + 5); // 8 significant digits: 4 + 1
        assert_eq!(item_size(&item(&[("x", N("-0.0012300".into()))])), 1 + 2 + 1); // 123
        // Booleans and nulls: one byte.
        assert_eq!(item_size(&item(&[("ok", Bool(true)), ("no", Null(true))])), 2 + 1 + 2 + 1);
        // Lists and maps: 3 bytes, plus 1 per element, plus the elements (with their names in a map).
        let list = L(vec![S("ab".into()), S("c".into())]);
        assert_eq!(item_size(&item(&[("m", list)])), 1 + 3 + (1 + 2) + (1 + 1));
        let map = M(HashMap::from([("k".to_owned(), S("vv".into()))]));
        assert_eq!(item_size(&item(&[("m", map)])), 1 + 3 + (1 + 1 + 2));
        assert_eq!(item_size(&item(&[("m", L(vec![]))])), 1 + 3);
    }

    #[test]
    fn an_update_writes_what_it_sets() {
        let update = Update::builder()
            .table_name("t")
            .key("user", AttributeValue::S("u".into()))
            .update_expression("SET head = :n, #a = :m")
            .expression_attribute_names("#a", "at")
            .expression_attribute_values(":n", AttributeValue::N("12".into()))
            .expression_attribute_values(":m", AttributeValue::S("xyz".into()))
            .build()
            .unwrap();
        assert_eq!(assigned_size(&update), (4 + 2) + (2 + 3));
    }

    #[test]
    fn units_round_up_per_block_with_a_minimum_of_one() {
        assert_eq!(read_units(0, Read::Strong), 1.0, "a read that finds nothing is billed");
        assert_eq!(read_units(4096, Read::Strong), 1.0);
        assert_eq!(read_units(4097, Read::Strong), 2.0);
        assert_eq!(read_units(4097, Read::Eventual), 1.0);
        assert_eq!(read_units(100, Read::Eventual), 0.5);
        assert_eq!(read_units(8192, Read::Transactional), 4.0);
        assert_eq!(write_units(1, false), 1.0);
        assert_eq!(write_units(1024, false), 1.0);
        assert_eq!(write_units(1025, false), 2.0);
        assert_eq!(write_units(500, true), 2.0);
        assert_eq!(write_units(3000, true), 6.0);
    }
}
